-- The AF model's progress on each RR stream (spec/05 "Detection"): beats after `evaluated_until` are
-- still to score. Locked while a stream is scored, like detection_cursors.
create table inference_cursors (
    stream_id uuid not null constraint inference_cursors_stream_fkey references signal_streams (id) on delete cascade,
    model_id uuid not null constraint inference_cursors_model_fkey references models (id) on delete cascade,
    evaluated_until timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint inference_cursors_pkey primary key (stream_id, model_id)
);
