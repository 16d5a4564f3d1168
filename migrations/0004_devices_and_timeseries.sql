-- Devices, signal streams and the sample tables (spec/02 "Devices, streams, time series").
--
-- Samples are range-partitioned by day. Partitions are created ahead by `ensure_sample_partitions`
-- (called at startup and hourly by the timeseries maintenance task, and by the seed) and dropped by
-- `drop_sample_partitions_before` (retention). There is deliberately no default partition: a sample
-- outside every partition is refused instead of landing in a catch-all that would block creating
-- the right partition later.
--
-- Sample tables have no foreign key to signal_streams: the ingest path checks stream ownership in
-- the batch transaction, streams are never hard-deleted (only closed), and a per-row FK check would
-- halve COPY throughput.

create table devices (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null constraint devices_org_fkey references organizations (id),
    serial text not null constraint devices_serial_key unique
        constraint devices_serial_check check (length(btrim(serial)) between 1 and 80),
    brand text,
    model text,
    device_type text not null constraint devices_device_type_fkey references device_types (code),
    owner_patient_id uuid,
    active boolean not null default true,
    registered_at timestamptz not null default now(),
    credential_hash bytea,
    credential_rotated_at timestamptz,
    last_seen_at timestamptz,
    archived_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint devices_id_org_key unique (id, org_id),
    constraint devices_owner_fkey foreign key (owner_patient_id, org_id) references patients (id, org_id)
);
create index devices_org_idx on devices (org_id, serial) where archived_at is null;
create index devices_owner_idx on devices (owner_patient_id) where owner_patient_id is not null;

create table signal_streams (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    patient_id uuid not null,
    device_id uuid not null,
    signal_type text not null constraint signal_streams_signal_type_fkey references signal_types (code),
    sample_rate_hz double precision not null
        constraint signal_streams_sample_rate_check check (sample_rate_hz > 0 and sample_rate_hz <= 10000),
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint signal_streams_id_org_key unique (id, org_id),
    constraint signal_streams_patient_fkey foreign key (patient_id, org_id) references patients (id, org_id),
    constraint signal_streams_device_fkey foreign key (device_id, org_id) references devices (id, org_id),
    constraint signal_streams_period_check check (ended_at is null or ended_at > started_at)
);
-- One open stream per device and signal type.
create unique index signal_streams_open_key on signal_streams (device_id, signal_type) where ended_at is null;
create index signal_streams_patient_idx on signal_streams (patient_id, signal_type);

-- Scalar vitals: one row per sample; `value2` carries the diastolic pressure of BP.
create table vital_samples (
    stream_id uuid not null,
    ts timestamptz not null,
    value real not null,
    value2 real,
    constraint vital_samples_pkey primary key (stream_id, ts)
) partition by range (ts);

-- Waveforms: blocks of consecutive samples, little-endian f32, sample i at
-- start_ts + i / sample_rate_hz seconds. About 4 bytes per sample plus a small per-block overhead.
create table waveform_blocks (
    stream_id uuid not null,
    start_ts timestamptz not null,
    sample_rate_hz real not null constraint waveform_blocks_rate_check check (sample_rate_hz > 0),
    sample_count integer not null constraint waveform_blocks_count_check check (sample_count > 0),
    samples bytea not null,
    constraint waveform_blocks_pkey primary key (stream_id, start_ts),
    constraint waveform_blocks_size_check check (octet_length(samples) = sample_count * 4)
) partition by range (start_ts);

-- Waveform blocks compress poorly and are read whole: keep them inline, uncompressed.
alter table waveform_blocks alter column samples set storage external;

-- Creates the daily partitions of both sample tables for every day in [p_from, p_to]; idempotent.
create function ensure_sample_partitions(p_from date, p_to date) returns integer
language plpgsql as $$
declare
    d date;
    created integer := 0;
    part text;
begin
    if p_to < p_from then
        raise exception 'ensure_sample_partitions: % is before %', p_to, p_from;
    end if;
    d := p_from;
    while d <= p_to loop
        foreach part in array array['vital_samples', 'waveform_blocks'] loop
            if to_regclass(format('heartguard.%I', part || '_p' || to_char(d, 'YYYYMMDD'))) is null then
                execute format(
                    'create table heartguard.%I partition of heartguard.%I for values from (%L) to (%L)',
                    part || '_p' || to_char(d, 'YYYYMMDD'), part,
                    (d::timestamp at time zone 'UTC'), ((d + 1)::timestamp at time zone 'UTC'));
                created := created + 1;
            end if;
        end loop;
        d := d + 1;
    end loop;
    return created;
end;
$$;

-- Drops the daily partitions whose whole day is before p_before (retention); returns how many.
create function drop_sample_partitions_before(p_before date) returns integer
language plpgsql as $$
declare
    r record;
    dropped integer := 0;
begin
    for r in
        select c.relname
          from pg_inherits i
          join pg_class c on c.oid = i.inhrelid
          join pg_class p on p.oid = i.inhparent
          join pg_namespace n on n.oid = p.relnamespace
         where n.nspname = 'heartguard'
           and p.relname in ('vital_samples', 'waveform_blocks')
           and c.relname ~ '_p[0-9]{8}$'
           and to_date(right(c.relname, 8), 'YYYYMMDD') < p_before
    loop
        execute format('drop table heartguard.%I', r.relname);
        dropped := dropped + 1;
    end loop;
    return dropped;
end;
$$;

select ensure_sample_partitions(current_date - 2, current_date + 7);

-- Optional mirrors of streams in an external time-series store (compatibility).
create table timeseries_binding (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    stream_id uuid not null,
    influx_org text,
    bucket text not null,
    measurement text not null,
    retention_hint text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint timeseries_binding_stream_fkey foreign key (stream_id, org_id)
        references signal_streams (id, org_id),
    constraint timeseries_binding_stream_measurement_key unique (stream_id, bucket, measurement)
);

create table timeseries_binding_tag (
    id uuid primary key default gen_random_uuid(),
    binding_id uuid not null constraint timeseries_binding_tag_binding_fkey
        references timeseries_binding (id) on delete cascade,
    key text not null constraint timeseries_binding_tag_key_check check (length(key) between 1 and 120),
    value text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint timeseries_binding_tag_binding_key_key unique (binding_id, key)
);
