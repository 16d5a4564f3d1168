-- Notifications, services health, settings, media (spec/02 "Notifications, services, settings,
-- media") and the event outbox and audit log (spec/02 "Events and audit").

create table push_devices (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null constraint push_devices_user_fkey references users (id) on delete cascade,
    platform text not null constraint push_devices_platform_fkey references platforms (code),
    push_token text not null constraint push_devices_push_token_check check (length(push_token) between 1 and 4096),
    subscription jsonb,
    last_seen_at timestamptz,
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint push_devices_user_platform_token_key unique (user_id, platform, push_token)
);

create table notification_preferences (
    user_id uuid primary key constraint notification_preferences_user_fkey references users (id) on delete cascade,
    -- {"critical": ["PUSH","SMS","EMAIL"], "high": [...], ...}
    channels jsonb not null default '{}'::jsonb,
    quiet_hours_start time,
    quiet_hours_end time,
    timezone text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table services (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint services_code_key unique,
    name text not null,
    url text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table service_health (
    id uuid primary key default gen_random_uuid(),
    service_id uuid not null constraint service_health_service_fkey references services (id) on delete cascade,
    checked_at timestamptz not null default now(),
    status text not null constraint service_health_status_fkey references service_statuses (code),
    latency_ms double precision constraint service_health_latency_check check (latency_ms is null or latency_ms >= 0),
    version text,
    detail text
);
create index service_health_service_idx on service_health (service_id, checked_at desc);

create table system_settings (
    id integer primary key default 1 constraint system_settings_singleton_check check (id = 1),
    brand_name text not null default 'HeartGuard',
    support_email text,
    primary_color text not null default '#b91c1c'
        constraint system_settings_primary_color_check check (primary_color ~ '^#[0-9a-fA-F]{6}$'),
    secondary_color text not null default '#1f2937'
        constraint system_settings_secondary_color_check check (secondary_color ~ '^#[0-9a-fA-F]{6}$'),
    logo_url text,
    contact_phone text,
    default_locale text not null default 'es-MX',
    default_timezone text not null default 'America/Mexico_City',
    maintenance_mode boolean not null default false,
    maintenance_message text,
    updated_by uuid constraint system_settings_updated_by_fkey references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table media_objects (
    id uuid primary key default gen_random_uuid(),
    owner_kind text not null constraint media_objects_owner_kind_check check (owner_kind in ('user', 'patient', 'org')),
    owner_id uuid not null,
    -- Set for patient and organization media; user photos belong to no organization.
    org_id uuid constraint media_objects_org_fkey references organizations (id),
    content_type text not null
        constraint media_objects_content_type_check check (content_type in ('image/png', 'image/jpeg', 'image/webp')),
    size_bytes bigint not null constraint media_objects_size_check check (size_bytes > 0),
    sha256 bytea not null constraint media_objects_sha256_check check (octet_length(sha256) = 32),
    storage_key text not null constraint media_objects_storage_key_key unique,
    created_by uuid,
    created_at timestamptz not null default now()
);
create index media_objects_owner_idx on media_objects (owner_kind, owner_id);

-- Transactional outbox: written with the change it describes, published by the relay.
create table outbox_events (
    id uuid primary key,
    aggregate text not null,
    aggregate_id uuid,
    event_type text not null constraint outbox_events_event_type_check check (event_type ~ '^[a-z_]+\.[a-z_.]+$'),
    org_id uuid,
    actor jsonb,
    request_id text,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    published_at timestamptz,
    attempts integer not null default 0,
    last_error text
);
create index outbox_events_unpublished_idx on outbox_events (created_at, id) where published_at is null;

create function notify_outbox() returns trigger
language plpgsql as $$
begin
    perform pg_notify('outbox_events', '');
    return null;
end;
$$;

create trigger outbox_events_notify after insert on outbox_events
    for each statement execute function notify_outbox();

-- Makes consumers idempotent: a consumer records each event id it has handled.
create table processed_events (
    consumer text not null,
    event_id uuid not null,
    processed_at timestamptz not null default now(),
    constraint processed_events_pkey primary key (consumer, event_id)
);

-- Append-only, hash-chained audit log. `hash` = sha256(prev_hash || canonical content), computed by
-- the single writer (the audit consumer) in `seq` order; `heartguard audit verify` recomputes it.
create table audit_logs (
    id uuid primary key default gen_random_uuid(),
    seq bigint generated always as identity constraint audit_logs_seq_key unique,
    ts timestamptz not null default now(),
    actor_type text not null
        constraint audit_logs_actor_type_check check (actor_type in ('user', 'patient', 'device', 'system', 'api_client')),
    actor_id uuid,
    actor_label text,
    action text not null constraint audit_logs_action_check check (action ~ '^[A-Z][A-Z0-9_]*$'),
    entity text,
    entity_id text,
    org_id uuid,
    ip inet,
    request_id text,
    details jsonb not null default '{}'::jsonb,
    event_id uuid constraint audit_logs_event_id_key unique,
    prev_hash bytea,
    hash bytea not null constraint audit_logs_hash_check check (octet_length(hash) = 32)
);
create index audit_logs_ts_idx on audit_logs (ts desc);
create index audit_logs_org_ts_idx on audit_logs (org_id, ts desc);
create index audit_logs_actor_idx on audit_logs (actor_id, ts desc);
create index audit_logs_entity_idx on audit_logs (entity, entity_id);

create function audit_logs_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_logs is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_logs_no_update before update or delete on audit_logs
    for each row execute function audit_logs_append_only();
create trigger audit_logs_no_truncate before truncate on audit_logs
    for each statement execute function audit_logs_append_only();

-- updated_at on every mutable table of the model.
do $$
declare
    t text;
begin
    foreach t in array array[
        'user_statuses', 'sexes', 'signal_types', 'device_types', 'alert_channels', 'alert_levels',
        'alert_statuses', 'platforms', 'service_statuses', 'delivery_statuses', 'risk_levels',
        'team_member_roles', 'org_roles', 'caregiver_relationship_types', 'alert_types', 'event_types',
        'roles', 'permissions', 'users', 'organizations', 'user_org_membership', 'org_invitations',
        'patients', 'care_teams', 'care_team_member', 'caregiver_patient', 'devices', 'signal_streams',
        'timeseries_binding', 'timeseries_binding_tag', 'models', 'ground_truth_labels', 'alert_rules',
        'alerts', 'alert_delivery', 'push_devices', 'notification_preferences', 'services',
        'system_settings'
    ] loop
        execute format(
            'create trigger %I before update on %I for each row execute function touch_updated_at()',
            t || '_touch_updated_at', t);
    end loop;
end;
$$;
