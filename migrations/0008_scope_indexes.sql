-- Indexes the tenancy scope predicates (hg-domain::access) need on large tables: every patient and
-- device of an organization, every device of a patient, every stream of a patient or device.

create index patients_org_id_idx on patients (org_id);
create index devices_org_id_idx on devices (org_id);
create index signal_streams_device_idx on signal_streams (device_id);
create index caregiver_patient_patient_idx on caregiver_patient (patient_id) where ended_at is null;
create index outbox_events_created_idx on outbox_events (created_at);
