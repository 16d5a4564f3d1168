-- Models, inferences, ground truth (spec/02 "Models, inferences, ground truth") and alerts with their
-- history and rules (spec/02 "Alerts", spec/05 "Alert lifecycle").

create table models (
    id uuid primary key default gen_random_uuid(),
    name text not null constraint models_name_check check (length(btrim(name)) between 1 and 120),
    version text not null constraint models_version_check check (length(btrim(version)) between 1 and 40),
    task text not null,
    training_data_ref text,
    hyperparams jsonb not null default '{}'::jsonb,
    threshold real constraint models_threshold_check check (threshold is null or threshold between 0 and 1),
    status text not null default 'active' constraint models_status_check check (status in ('active', 'retired')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint models_name_version_key unique (name, version)
);

create table inferences (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    model_id uuid not null constraint inferences_model_fkey references models (id),
    stream_id uuid not null,
    patient_id uuid not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    predicted_event_type text not null constraint inferences_event_type_fkey references event_types (code),
    score real not null constraint inferences_score_check check (score between 0 and 1),
    threshold real constraint inferences_threshold_check check (threshold is null or threshold between 0 and 1),
    metadata jsonb not null default '{}'::jsonb,
    feature_snapshot jsonb,
    series_ref text,
    created_at timestamptz not null default now(),
    constraint inferences_stream_fkey foreign key (stream_id, org_id) references signal_streams (id, org_id),
    constraint inferences_patient_fkey foreign key (patient_id, org_id) references patients (id, org_id),
    constraint inferences_window_check check (window_start < window_end),
    constraint inferences_stream_window_type_key unique (stream_id, window_start, window_end, predicted_event_type),
    constraint inferences_id_org_key unique (id, org_id)
);
create index inferences_patient_idx on inferences (patient_id, window_start desc);
create index inferences_model_idx on inferences (model_id, window_start);

create table ground_truth_labels (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    patient_id uuid not null,
    event_type text not null constraint ground_truth_labels_event_type_fkey references event_types (code),
    onset timestamptz not null,
    offset_at timestamptz not null,
    annotated_by uuid constraint ground_truth_labels_annotated_by_fkey references users (id) on delete set null,
    source text,
    note text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint ground_truth_labels_patient_fkey foreign key (patient_id, org_id) references patients (id, org_id),
    constraint ground_truth_labels_period_check check (offset_at > onset)
);
create index ground_truth_labels_patient_idx on ground_truth_labels (patient_id, onset);

-- Threshold rules. org_id null = platform default; patient_id null = every patient of the org.
create table alert_rules (
    id uuid primary key default gen_random_uuid(),
    org_id uuid constraint alert_rules_org_fkey references organizations (id),
    patient_id uuid,
    alert_type text not null constraint alert_rules_alert_type_fkey references alert_types (code),
    signal_type text not null constraint alert_rules_signal_type_fkey references signal_types (code),
    condition text not null constraint alert_rules_condition_check check (condition in ('above', 'below')),
    threshold double precision not null,
    duration_s integer not null default 0
        constraint alert_rules_duration_check check (duration_s between 0 and 86400),
    hysteresis double precision not null default 0
        constraint alert_rules_hysteresis_check check (hysteresis >= 0),
    level text not null constraint alert_rules_level_fkey references alert_levels (code),
    enabled boolean not null default true,
    reason text,
    created_by uuid constraint alert_rules_created_by_fkey references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint alert_rules_patient_fkey foreign key (patient_id, org_id) references patients (id, org_id),
    constraint alert_rules_scope_check check (patient_id is null or org_id is not null)
);
create index alert_rules_lookup_idx on alert_rules (signal_type, org_id, patient_id) where enabled;

create table alerts (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    patient_id uuid not null,
    alert_type text not null constraint alerts_alert_type_fkey references alert_types (code),
    alert_level text not null constraint alerts_alert_level_fkey references alert_levels (code),
    status text not null default 'created' constraint alerts_status_fkey references alert_statuses (code),
    created_by_model uuid constraint alerts_model_fkey references models (id),
    source_inference uuid constraint alerts_inference_fkey references inferences (id),
    source_rule uuid constraint alerts_rule_fkey references alert_rules (id) on delete set null,
    description text,
    latitude double precision constraint alerts_latitude_check check (latitude is null or latitude between -90 and 90),
    longitude double precision constraint alerts_longitude_check check (longitude is null or longitude between -180 and 180),
    dedup_key text not null,
    duplicate_of_alert_id uuid constraint alerts_duplicate_of_fkey references alerts (id),
    occurrence_count integer not null default 1 constraint alerts_occurrence_count_check check (occurrence_count >= 1),
    last_seen_at timestamptz not null default now(),
    escalation_level integer not null default 0 constraint alerts_escalation_level_check check (escalation_level >= 0),
    evidence jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    constraint alerts_patient_fkey foreign key (patient_id, org_id) references patients (id, org_id),
    constraint alerts_id_org_key unique (id, org_id)
);
-- At most one open alert per (patient, type): new triggers update it instead.
create unique index alerts_open_dedup_key on alerts (dedup_key) where status in ('created', 'notified', 'ack');
create index alerts_org_status_idx on alerts (org_id, status, created_at desc);
create index alerts_patient_idx on alerts (patient_id, created_at desc);

create table alert_assignment (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    alert_id uuid not null,
    assignee_user_id uuid not null constraint alert_assignment_assignee_fkey references users (id),
    assigned_by uuid constraint alert_assignment_assigned_by_fkey references users (id),
    assigned_at timestamptz not null default now(),
    constraint alert_assignment_alert_fkey foreign key (alert_id, org_id) references alerts (id, org_id)
);
create index alert_assignment_alert_idx on alert_assignment (alert_id, assigned_at desc);
create index alert_assignment_assignee_idx on alert_assignment (assignee_user_id);

create table alert_ack (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    alert_id uuid not null,
    ack_by uuid not null constraint alert_ack_ack_by_fkey references users (id),
    ack_at timestamptz not null default now(),
    note text,
    constraint alert_ack_alert_fkey foreign key (alert_id, org_id) references alerts (id, org_id)
);
create index alert_ack_alert_idx on alert_ack (alert_id);

create table alert_resolution (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    alert_id uuid not null,
    resolved_by uuid not null constraint alert_resolution_resolved_by_fkey references users (id),
    resolved_at timestamptz not null default now(),
    outcome text not null constraint alert_resolution_outcome_check
        check (outcome in ('resolved', 'false_positive', 'escalated', 'stabilized', 'transferred')),
    note text,
    constraint alert_resolution_alert_fkey foreign key (alert_id, org_id) references alerts (id, org_id)
);
create index alert_resolution_alert_idx on alert_resolution (alert_id);

create table alert_delivery (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    alert_id uuid not null,
    channel text not null constraint alert_delivery_channel_fkey references alert_channels (code),
    target text not null,
    recipient_user_id uuid constraint alert_delivery_recipient_fkey references users (id),
    status text not null default 'QUEUED' constraint alert_delivery_status_fkey references delivery_statuses (code),
    attempts integer not null default 0 constraint alert_delivery_attempts_check check (attempts >= 0),
    last_error text,
    next_attempt_at timestamptz,
    sent_at timestamptz,
    response_payload jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint alert_delivery_alert_fkey foreign key (alert_id, org_id) references alerts (id, org_id)
);
create index alert_delivery_alert_idx on alert_delivery (alert_id, created_at);
create index alert_delivery_pending_idx on alert_delivery (next_attempt_at) where status in ('QUEUED', 'SENT');
