-- Details the identity work needs beyond spec/02's columns:
-- * the last TOTP time step accepted per user, so a code cannot be replayed within its window;
-- * why a refresh token was revoked (rotation, reuse, logout, password change, blocking);
-- * how the session was authenticated (`pwd`, `otp`), carried from login through every refresh.

alter table users add column totp_last_step bigint;

alter table refresh_tokens add column revoked_reason text
    constraint refresh_tokens_revoked_reason_check
        check (revoked_reason is null or revoked_reason in ('rotated', 'reuse', 'logout', 'password', 'blocked'));

alter table refresh_tokens add column amr text[] not null default '{}';

create index refresh_tokens_user_idx on refresh_tokens (user_id) where revoked_at is null;
create index refresh_tokens_patient_idx on refresh_tokens (patient_id) where revoked_at is null;
