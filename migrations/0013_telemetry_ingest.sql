-- Telemetry ingest (issue 12): compressed waveform blocks and idempotent batches.

-- Waveform blocks carry their sample encoding:
--   0  little-endian f32 millivolts, 4 bytes a sample (blocks written before this migration);
--   1  integer microvolts, first sample then successive differences, each zigzag-mapped and written
--      as an unsigned LEB128 varint (docs/api.md "Stored waveforms"): 1–2 bytes a sample for ECG.
alter table waveform_blocks drop constraint waveform_blocks_size_check;
alter table waveform_blocks add column encoding smallint not null default 0;
alter table waveform_blocks add constraint waveform_blocks_encoding_check check (
    (encoding = 0 and octet_length(samples) = sample_count * 4)
    or (encoding = 1 and octet_length(samples) between sample_count and sample_count * 5)
);
-- New blocks are written compressed (existing rows keep 0 from the column's first default).
alter table waveform_blocks alter column encoding set default 1;

-- One row per accepted batch sent with an `Idempotency-Key`: a retry with the same key from the same
-- sender answers the first answer and stores nothing. Kept for a day by the maintenance task.
create table ingest_batches (
    sender uuid not null,
    idempotency_key text not null
        constraint ingest_batches_key_check check (length(idempotency_key) between 1 and 200),
    body_digest bytea not null,
    answer jsonb not null,
    created_at timestamptz not null default now(),
    constraint ingest_batches_pkey primary key (sender, idempotency_key)
);
create index ingest_batches_created_idx on ingest_batches (created_at);
