-- Findings of the security assessment (issue 10).
--
-- Lockout that does not tell accounts from unknown e-mails: failures against an e-mail without an
-- account are counted here (keyed by a digest of the lower-cased address, never the address), under
-- the same rule as an account's own counter; both forget failures 24 h after the last one.
create table login_throttle (
    account_kind text not null constraint login_throttle_kind_check check (account_kind in ('user', 'patient')),
    email_digest bytea not null,
    failed_count integer not null default 0,
    locked_until timestamptz,
    last_failed_at timestamptz not null default now(),
    constraint login_throttle_pkey primary key (account_kind, email_digest)
);
create index login_throttle_last_failed_idx on login_throttle (last_failed_at);

alter table users add column last_failed_login_at timestamptz;
alter table patients add column last_failed_login_at timestamptz;

-- One-time tokens are produced where their e-mail is rendered and sent (the account-mail consumer),
-- never in the request that asks for them: an invitation has no token until its e-mail goes out.
alter table org_invitations alter column token_hash drop not null;

-- Patient e-mails: unique within an organization (an org admin learns nothing about other
-- organizations' patients), and among verified patient logins platform-wide, so that signing in
-- with an e-mail and a password names one account.
drop index patients_email_key;
create unique index patients_org_email_key on patients (org_id, lower(email)) where email is not null;
create unique index patients_login_email_key on patients (lower(email))
    where email is not null and password_hash is not null and email_verified;

-- The account-mail consumer looks for its events among the recent ones.
create index outbox_events_account_mail_idx on outbox_events (created_at)
    where event_type in ('auth.password_reset_requested', 'auth.email_verification_requested',
                         'auth.registration_attempted', 'user.invited');
