-- Identity, roles and permissions, organizations and membership (spec/02 "Identity and access",
-- "Organizations and membership").

create table roles (
    id uuid primary key default gen_random_uuid(),
    name text not null constraint roles_name_key unique,
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table permissions (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint permissions_code_key unique,
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table role_permission (
    role_id uuid not null constraint role_permission_role_fkey references roles (id) on delete cascade,
    permission_id uuid not null
        constraint role_permission_permission_fkey references permissions (id) on delete cascade,
    created_at timestamptz not null default now(),
    constraint role_permission_pkey primary key (role_id, permission_id)
);

-- What each organization role may do; the same permission codes as global roles.
create table org_role_permission (
    org_role text not null constraint org_role_permission_role_fkey references org_roles (code),
    permission_id uuid not null
        constraint org_role_permission_permission_fkey references permissions (id) on delete cascade,
    created_at timestamptz not null default now(),
    constraint org_role_permission_pkey primary key (org_role, permission_id)
);

create table users (
    id uuid primary key default gen_random_uuid(),
    name text not null constraint users_name_check check (length(btrim(name)) between 1 and 160),
    email text not null constraint users_email_check check (position('@' in email) > 1),
    password_hash text,
    status text not null default 'pending' constraint users_status_fkey references user_statuses (code),
    email_verified_at timestamptz,
    totp_secret_enc bytea,
    totp_enabled boolean not null default false,
    profile_photo_url text,
    locale text,
    failed_login_count integer not null default 0
        constraint users_failed_login_count_check check (failed_login_count >= 0),
    locked_until timestamptz,
    last_login_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

create table user_role (
    user_id uuid not null constraint user_role_user_fkey references users (id) on delete cascade,
    role_id uuid not null constraint user_role_role_fkey references roles (id),
    granted_by uuid constraint user_role_granted_by_fkey references users (id) on delete set null,
    granted_at timestamptz not null default now(),
    constraint user_role_pkey primary key (user_id, role_id)
);

create table organizations (
    id uuid primary key default gen_random_uuid(),
    code text not null constraint organizations_code_key unique
        constraint organizations_code_check
            check (code = upper(code) and length(code) between 2 and 60 and code ~ '^[A-Z0-9][A-Z0-9_-]*$'),
    name text not null constraint organizations_name_check check (length(btrim(name)) between 3 and 160),
    allow_patient_registration boolean not null default false,
    logo_url text,
    archived_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table user_org_membership (
    org_id uuid not null constraint user_org_membership_org_fkey references organizations (id),
    user_id uuid not null constraint user_org_membership_user_fkey references users (id) on delete cascade,
    org_role text not null constraint user_org_membership_role_fkey references org_roles (code),
    joined_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint user_org_membership_pkey primary key (org_id, user_id)
);
create index user_org_membership_user_idx on user_org_membership (user_id);

-- Status is derived, never stored: revoked › used › expired › pending.
create table org_invitations (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null constraint org_invitations_org_fkey references organizations (id),
    email text not null constraint org_invitations_email_check check (position('@' in email) > 1),
    org_role text not null constraint org_invitations_role_fkey references org_roles (code),
    token_hash bytea not null constraint org_invitations_token_hash_key unique,
    expires_at timestamptz not null,
    used_at timestamptz,
    used_by uuid constraint org_invitations_used_by_fkey references users (id) on delete set null,
    revoked_at timestamptz,
    created_by uuid constraint org_invitations_created_by_fkey references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint org_invitations_ttl_check
        check (expires_at >= created_at + interval '1 hour' and expires_at <= created_at + interval '720 hours')
);
create index org_invitations_org_idx on org_invitations (org_id, created_at desc);
