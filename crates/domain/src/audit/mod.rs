//! The audit log (spec/02 "audit_logs", spec/04 "Audit"): every component writes `audit.recorded`
//! events to the outbox in the transaction of what they describe ([`hg_platform::audit`]); the
//! audit component's consumer appends each, once, to a hash chain ([`chain`]) that the services'
//! database role may extend but not alter (migration 0017); [`read`] serves the log to those who
//! may read it and each patient their own access log.

pub mod chain;
pub mod read;
