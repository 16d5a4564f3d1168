-- Machine 1, once, as the postgres superuser (psql -v owner_password=… -v svc_password=…):
-- the schema's owner (runs `heartguard migrate` and `seed`) and the services' login role, a member
-- of heartguard_app (migration 0017), which cannot alter the audit log.
create role heartguard_owner login createrole password :'owner_password';
create database heartguard owner heartguard_owner;
\connect heartguard
create schema heartguard authorization heartguard_owner;
alter role heartguard_owner set search_path = heartguard, public;
-- heartguard_app is made by the first migration that needs it; the login role joins it then
-- (machine1/postgresql/grant.sql after `heartguard migrate`).
create role heartguard_svc login password :'svc_password';
alter role heartguard_svc set search_path = heartguard, public;
