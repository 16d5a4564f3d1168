-- Every scope's patient page is read from an index in its order (issue 11): the org-wide scopes
-- from patients_org_idx (org_id, person_name, id); a superadmin's, across organizations, from this.
create index patients_name_idx on patients (person_name, id) where archived_at is null;
