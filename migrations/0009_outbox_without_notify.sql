-- The outbox no longer wakes relays with NOTIFY: PostgreSQL serializes the commits of transactions
-- that notify (a global lock held through the WAL flush), so every audited request queued behind
-- every other one. Each process wakes its own relay when it enqueues an event, and relays still
-- poll (hg-platform::events::run_relay).

drop trigger if exists outbox_events_notify on outbox_events;
drop function if exists notify_outbox();
