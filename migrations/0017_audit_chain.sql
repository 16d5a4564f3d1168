-- The audit log made real (spec/02 "audit_logs", spec/04 "Audit"; issue 14).
--
-- Append-only by privilege, not only by trigger: the services connect as a member of
-- `heartguard_app`, which may read and write every table of the schema but may only select and
-- insert audit rows. The migrating role (the schema's owner) keeps its rights; the triggers of 0006
-- stay as a second line for it. Creating the role needs CREATEROLE: a migrator without it gets a
-- notice, and the operator creates the role (docs/runbook.md) and migrates again.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'heartguard_app') then
        if exists (select 1 from pg_roles where rolname = current_user and (rolsuper or rolcreaterole)) then
            begin
                create role heartguard_app nologin;
            exception when duplicate_object or unique_violation then
                null; -- another migration made it meanwhile
            end;
        else
            raise notice 'role heartguard_app is missing and % cannot create it', current_user;
        end if;
    end if;
    if exists (select 1 from pg_roles where rolname = 'heartguard_app') then
        execute format('grant usage on schema %I to heartguard_app', current_schema());
        execute format('grant select, insert, update, delete on all tables in schema %I to heartguard_app', current_schema());
        execute format('grant usage, select, update on all sequences in schema %I to heartguard_app', current_schema());
        execute format('grant execute on all functions in schema %I to heartguard_app', current_schema());
        execute format('alter default privileges in schema %I grant select, insert, update, delete on tables to heartguard_app', current_schema());
        execute format('alter default privileges in schema %I grant usage, select, update on sequences to heartguard_app', current_schema());
        revoke update, delete, truncate on audit_logs from heartguard_app;
    end if;
end;
$$;
revoke update, delete, truncate on audit_logs from public;

-- Lists page by (ts, id) newest first, within an organization or for one actor; a patient's access
-- log looks up the entries about them, one by one or inside the list reads' `patient_ids`.
drop index audit_logs_ts_idx;
drop index audit_logs_org_ts_idx;
drop index audit_logs_actor_idx;
create index audit_logs_ts_idx on audit_logs (ts desc, id desc);
create index audit_logs_org_ts_idx on audit_logs (org_id, ts desc, id desc);
create index audit_logs_actor_idx on audit_logs (actor_id, ts desc, id desc);
create index audit_logs_patient_ids_idx on audit_logs using gin ((details -> 'patient_ids'));
