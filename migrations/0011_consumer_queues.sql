-- The consumer framework's queues when RabbitMQ is not used (`heartguard up` without AMQP_URL):
-- durable like RabbitMQ's, in PostgreSQL (hg-platform::events::pg).
--
-- Each consumer's routing patterns, and their regular expressions (AMQP topic syntax converted).
create table consumer_bindings (
    consumer text not null,
    pattern text not null,
    regex text not null,
    constraint consumer_bindings_pkey primary key (consumer, pattern)
);

-- The events waiting for each consumer. A row goes when its event is handled; a failure puts it
-- back with `available_at` later, and `dead_at` marks a dead letter.
create table consumer_queue (
    consumer text not null,
    event_id uuid not null constraint consumer_queue_event_fkey references outbox_events (id),
    queued_at timestamptz not null default now(),
    available_at timestamptz not null default now(),
    attempts integer not null default 0,
    last_error text,
    dead_at timestamptz,
    constraint consumer_queue_pkey primary key (consumer, event_id)
);
create index consumer_queue_ready_idx on consumer_queue (consumer, available_at, event_id) where dead_at is null;

-- The account-mail consumer gets its events from its queue now, not by scanning the outbox.
drop index if exists outbox_events_account_mail_idx;
