-- Machine 1, once, as the postgres superuser (psql -v owner_password=… -v svc_password=…):
-- the schema's owner (runs `heartguard migrate` and `seed`) and the services' login role, a member
-- of heartguard_app (migration 0017), which cannot alter the audit log.
create role heartguard_owner login password :'owner_password';
create database heartguard owner heartguard_owner;
\connect heartguard
create schema heartguard authorization heartguard_owner;
alter role heartguard_owner set search_path = heartguard, public;
-- The services' rights go to heartguard_app (migration 0017 grants them, as the owner); made here so
-- the login role can join it before the first migration.
create role heartguard_app nologin;
create role heartguard_svc login password :'svc_password' in role heartguard_app;
alter role heartguard_svc set search_path = heartguard, public;
