-- Catalogs (spec/02): lookup tables whose `code` is a stable API value. Other tables reference the
-- code, so a row reads without joins and a catalog row in use cannot be deleted (the foreign key
-- refuses it; the API answers 409).
--
-- Every table lives in schema `heartguard`; the migrator runs with it first on the search path.

create table user_statuses (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint user_statuses_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table sexes (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint sexes_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table signal_types (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint signal_types_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table device_types (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint device_types_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table alert_channels (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint alert_channels_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table alert_levels (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint alert_levels_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table alert_statuses (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint alert_statuses_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table platforms (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint platforms_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table service_statuses (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint service_statuses_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table delivery_statuses (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint delivery_statuses_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table risk_levels (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint risk_levels_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table team_member_roles (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint team_member_roles_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table org_roles (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint org_roles_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table caregiver_relationship_types (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint caregiver_relationship_types_code_key unique,
    label text not null,
    weight integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Alert types bound their level between a minimum and a maximum (weights of alert_levels).
create table alert_types (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint alert_types_code_key unique,
    label text not null,
    min_level text not null constraint alert_types_min_level_fkey references alert_levels (code),
    max_level text not null constraint alert_types_max_level_fkey references alert_levels (code),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Clinical event types that models predict and clinicians label.
create table event_types (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint event_types_code_key unique,
    label text not null,
    default_level text not null
        constraint event_types_default_level_fkey references alert_levels (code),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Keeps updated_at honest on every mutable table (the triggers are created in 0006, once every
-- table exists).
create function touch_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;
