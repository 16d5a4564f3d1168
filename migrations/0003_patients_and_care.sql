-- Patients, care teams, caregivers, locations (spec/02 "Patients and care"), and the tokens that
-- authenticate users and patients (refresh tokens, one-time e-mail tokens).
--
-- Tenant rows carry org_id NOT NULL even where a join could derive it. Links between tenant rows use
-- composite foreign keys on (id, org_id), so a row can never point into another organization.

create table patients (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null constraint patients_org_fkey references organizations (id),
    person_name text not null
        constraint patients_person_name_check check (length(btrim(person_name)) between 1 and 160),
    email text constraint patients_email_check check (email is null or position('@' in email) > 1),
    password_hash text,
    email_verified boolean not null default false,
    birthdate date constraint patients_birthdate_check check (birthdate is null or birthdate > date '1900-01-01'),
    sex text constraint patients_sex_fkey references sexes (code),
    risk_level text constraint patients_risk_level_fkey references risk_levels (code),
    profile_photo_url text,
    failed_login_count integer not null default 0,
    locked_until timestamptz,
    last_login_at timestamptz,
    archived_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint patients_id_org_key unique (id, org_id)
);
create unique index patients_email_key on patients (lower(email)) where email is not null;
create index patients_org_idx on patients (org_id, person_name, id) where archived_at is null;

create table care_teams (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null constraint care_teams_org_fkey references organizations (id),
    name text not null constraint care_teams_name_check check (length(btrim(name)) between 1 and 160),
    archived_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint care_teams_id_org_key unique (id, org_id)
);
create unique index care_teams_org_name_key on care_teams (org_id, lower(name));

create table care_team_member (
    team_id uuid not null,
    org_id uuid not null,
    user_id uuid not null constraint care_team_member_user_fkey references users (id) on delete cascade,
    role text not null constraint care_team_member_role_fkey references team_member_roles (code),
    joined_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint care_team_member_pkey primary key (team_id, user_id),
    constraint care_team_member_team_fkey foreign key (team_id, org_id)
        references care_teams (id, org_id) on delete cascade
);
create index care_team_member_user_idx on care_team_member (user_id);

create table patient_care_team (
    patient_id uuid not null,
    team_id uuid not null,
    org_id uuid not null,
    created_at timestamptz not null default now(),
    constraint patient_care_team_pkey primary key (patient_id, team_id),
    constraint patient_care_team_patient_fkey foreign key (patient_id, org_id)
        references patients (id, org_id),
    constraint patient_care_team_team_fkey foreign key (team_id, org_id)
        references care_teams (id, org_id) on delete cascade
);
create index patient_care_team_team_idx on patient_care_team (team_id, patient_id);

-- A caregiver link is active while ended_at is null; at most one active primary per patient.
create table caregiver_patient (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    patient_id uuid not null,
    user_id uuid not null constraint caregiver_patient_user_fkey references users (id),
    relationship text not null
        constraint caregiver_patient_relationship_fkey references caregiver_relationship_types (code),
    is_primary boolean not null default false,
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    note text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint caregiver_patient_patient_fkey foreign key (patient_id, org_id)
        references patients (id, org_id),
    constraint caregiver_patient_period_check check (ended_at is null or ended_at > started_at)
);
create unique index caregiver_patient_one_primary_key
    on caregiver_patient (patient_id) where is_primary and ended_at is null;
create unique index caregiver_patient_active_link_key
    on caregiver_patient (patient_id, user_id) where ended_at is null;
create index caregiver_patient_user_idx on caregiver_patient (user_id) where ended_at is null;

create table patient_locations (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    patient_id uuid not null,
    ts timestamptz not null,
    latitude double precision not null
        constraint patient_locations_latitude_check check (latitude between -90 and 90),
    longitude double precision not null
        constraint patient_locations_longitude_check check (longitude between -180 and 180),
    accuracy_m double precision constraint patient_locations_accuracy_check check (accuracy_m is null or accuracy_m >= 0),
    source text,
    created_at timestamptz not null default now(),
    constraint patient_locations_patient_fkey foreign key (patient_id, org_id)
        references patients (id, org_id)
);
create index patient_locations_patient_ts_idx on patient_locations (patient_id, ts desc);

-- Refresh tokens are stored as hashes, grouped in families for rotation and reuse detection.
create table refresh_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid constraint refresh_tokens_user_fkey references users (id) on delete cascade,
    patient_id uuid constraint refresh_tokens_patient_fkey references patients (id) on delete cascade,
    token_hash bytea not null constraint refresh_tokens_token_hash_key unique,
    family_id uuid not null,
    issued_at timestamptz not null default now(),
    expires_at timestamptz not null,
    family_expires_at timestamptz not null,
    revoked_at timestamptz,
    replaced_by uuid constraint refresh_tokens_replaced_by_fkey references refresh_tokens (id),
    client text,
    ip inet,
    constraint refresh_tokens_principal_check check (num_nonnulls(user_id, patient_id) = 1),
    constraint refresh_tokens_expiry_check check (expires_at > issued_at and expires_at <= family_expires_at)
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);

-- One-time tokens sent by e-mail: verification and password reset.
create table auth_tokens (
    id uuid primary key default gen_random_uuid(),
    kind text not null constraint auth_tokens_kind_check check (kind in ('email_verification', 'password_reset')),
    user_id uuid constraint auth_tokens_user_fkey references users (id) on delete cascade,
    patient_id uuid constraint auth_tokens_patient_fkey references patients (id) on delete cascade,
    token_hash bytea not null constraint auth_tokens_token_hash_key unique,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now(),
    constraint auth_tokens_principal_check check (num_nonnulls(user_id, patient_id) = 1)
);
