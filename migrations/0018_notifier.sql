-- The notifier (spec/05 "Notifications"; issue 14).

-- Where a user's SMS go (E.164), kept with their other notification choices.
alter table notification_preferences
    add column sms_number text
        constraint notification_preferences_sms_number_check check (sms_number ~ '^\+[1-9][0-9]{6,14}$');

-- Why a delivery exists, at which level, and through which push subscription.
alter table alert_delivery
    add column reason text not null default 'created'
        constraint alert_delivery_reason_check check (reason in ('created', 'escalated', 'level_raised', 'fallback')),
    add column alert_level text,
    add column push_device_id uuid constraint alert_delivery_push_device_fkey references push_devices (id) on delete set null;

-- The sender picks the due deliveries.
create index alert_delivery_due_idx on alert_delivery (next_attempt_at) where status = 'QUEUED';
