-- The alert engine (spec/05 "Detection", "Alert lifecycle"): where rule evaluation stands for each
-- stream and each rule, the full history of every alert (also the live feed's event ids), and the
-- stored escalation deadline.

-- How far the rules have read each stream: samples after `evaluated_until` are still to evaluate.
-- The row is locked while a stream is evaluated, so two consumers never evaluate one stream at once.
create table detection_cursors (
    stream_id uuid primary key constraint detection_cursors_stream_fkey references signal_streams (id) on delete cascade,
    evaluated_until timestamptz not null,
    updated_at timestamptz not null default now()
);

-- One rule's condition on one stream. `holding_since`: the sample time from which the condition has
-- held without clearing (null when it is clear); `firing`: the alert was raised for this episode and
-- the value has not yet cleared (crossed back past the threshold by the rule's hysteresis).
create table rule_states (
    stream_id uuid not null constraint rule_states_stream_fkey references signal_streams (id) on delete cascade,
    rule_id uuid not null constraint rule_states_rule_fkey references alert_rules (id) on delete cascade,
    holding_since timestamptz,
    last_ts timestamptz not null,
    firing boolean not null default false,
    updated_at timestamptz not null default now(),
    constraint rule_states_pkey primary key (stream_id, rule_id)
);

-- Every change of every alert, in order: created, repeated, level raised, assigned, notified,
-- acknowledged, resolved, closed, escalated. The id orders the live feed (`Last-Event-ID`).
create table alert_history (
    id bigint generated always as identity primary key,
    org_id uuid not null,
    alert_id uuid not null,
    patient_id uuid not null,
    action text not null constraint alert_history_action_check check (action in
        ('created', 'repeated', 'level_raised', 'assigned', 'notified', 'acknowledged', 'resolved',
         'closed', 'escalated')),
    from_status text,
    to_status text not null,
    alert_level text not null,
    actor_id uuid,
    details jsonb not null default '{}'::jsonb,
    at timestamptz not null default now(),
    constraint alert_history_alert_fkey foreign key (alert_id, org_id) references alerts (id, org_id)
);
create index alert_history_alert_idx on alert_history (alert_id, id);
create index alert_history_org_idx on alert_history (org_id, id);

-- The next escalation of an open, unacknowledged alert (null once acknowledged or closed).
alter table alerts add column escalate_at timestamptz;
create index alerts_escalate_at_idx on alerts (escalate_at) where escalate_at is not null;
