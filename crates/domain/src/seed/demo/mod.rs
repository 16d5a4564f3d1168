//! `heartguard seed --demo`: the demo installation of spec/02 "Seed and demo data" — three
//! organizations, the fixed demo accounts, care teams, patients with devices and open streams, 24 hours
//! of scalar vitals and 10 minutes of ECG per patient, alerts in every status with their history, and
//! ground-truth labels.
//!
//! Rows get deterministic ids ([`super::seed_id`]) and are inserted with `on conflict do nothing`;
//! samples are generated only for streams that have none. A second run changes no row count, and
//! existing accounts keep their passwords.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{SeedError, ensure_superadmin, seed_id, user_exists};
use crate::password;
use crate::synthetic::VitalsGenerator;

/// The superadmin's e-mail.
pub const ADMIN_EMAIL: &str = "admin@heartguard.com";

/// Passwords for the demo accounts.
pub struct DemoPasswords {
    /// The superadmin's.
    pub admin: String,
    /// Every other demo account's.
    pub demo: String,
}

/// What the demo seed did with each account.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Accounts created now (their password is the one given).
    pub created: Vec<String>,
    /// Accounts that already existed (their password was not touched).
    pub existing: Vec<String>,
}

/// A demo staff account: e-mail, name, global role, organization memberships.
struct DemoUser {
    email: &'static str,
    name: &'static str,
    role: Option<&'static str>,
    orgs: &'static [(&'static str, &'static str)],
}

mod build;
mod data;
mod events;
mod vitals;

pub use build::*;
use data::*;
use events::*;
use vitals::*;
