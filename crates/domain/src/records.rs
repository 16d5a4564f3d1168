//! What the clinical-record aggregates (organization, user, patient, device) share: the caller
//! (principal, scope, permissions, request metadata), one error type with its envelope mapping —
//! named constraints become 409/422 naming the field — and audit entries.

use hg_platform::audit::{Action, ActorType, AuditEntry};
use hg_platform::auth::{OrgRole, Principal, PrincipalKind};
use hg_platform::db::DbError;
use hg_platform::problem::{IntoProblem, Problem};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::access::{self, Granted, Scope};
use crate::catalog::Permission;
use crate::identity::RequestMeta;

/// The authenticated caller of a records endpoint.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub scope: Scope,
    pub granted: Granted,
    pub meta: RequestMeta,
}

impl Caller {
    /// The caller's id.
    pub fn id(&self) -> Uuid {
        self.principal.id()
    }

    /// Whether the caller is a superadmin.
    pub fn is_superadmin(&self) -> bool {
        self.principal.is_superadmin()
    }

    /// Whether the caller holds `permission` in `org` (or globally).
    pub fn can(&self, permission: Permission, org: Option<Uuid>) -> bool {
        self.granted.allows(permission, org)
    }

    /// Whether the caller is an org_admin of `org` (or a superadmin).
    pub fn administers(&self, org: Uuid) -> bool {
        self.is_superadmin()
            || (self.principal.kind() == PrincipalKind::User
                && self
                    .principal
                    .claims
                    .orgs
                    .get(&org)
                    .is_some_and(|r| r == OrgRole::OrgAdmin.code()))
    }

    /// `Forbidden` unless `permission` is held in `org`.
    pub fn require(&self, permission: Permission, org: Option<Uuid>) -> Result<(), RecordError> {
        if self.can(permission, org) {
            Ok(())
        } else {
            Err(RecordError::Forbidden(format!(
                "this needs the {permission} permission"
            )))
        }
    }

    fn actor_type(&self) -> ActorType {
        match self.principal.kind() {
            PrincipalKind::User => ActorType::User,
            PrincipalKind::Patient => ActorType::Patient,
            PrincipalKind::Device => ActorType::Device,
        }
    }

    /// An audit entry for what the caller did, with the caller as actor and the request's origin;
    /// finish it with the builder (`.entity(…).org(…).details(…)`) and `.record(&mut tx)` in the
    /// change's transaction.
    pub fn audit(&self, action: Action) -> AuditEntry {
        AuditEntry::new(self.actor_type(), action)
            .actor(self.id(), None)
            .request(&self.meta)
    }
}

impl Caller {
    /// The caller acting as `principal` from where `meta` says, with its permissions loaded.
    pub async fn load(
        pool: &sqlx::PgPool,
        principal: Principal,
        meta: RequestMeta,
    ) -> Result<Self, DbError> {
        let granted = access::permissions()
            .of(pool, &principal)
            .await
            .map_err(DbError::from)?;
        Ok(Self::new(principal, granted, meta))
    }

    /// The caller acting as `principal` with `granted` permissions: for an HTTP request, an admin
    /// panel session, or an event consumer acting for someone.
    pub fn new(principal: Principal, granted: Granted, meta: RequestMeta) -> Self {
        Self {
            scope: Scope::of(&principal),
            granted,
            meta,
            principal,
        }
    }
}

/// A records operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Unknown id, or a row outside the caller's scope (indistinguishable on purpose).
    #[error("{1}")]
    NotFound(&'static str, &'static str),
    /// Visible, but the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A field is invalid.
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    /// A uniqueness or state conflict.
    #[error("{message}")]
    Conflict {
        id: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    /// Well-formed but impossible.
    #[error("{message}")]
    Unprocessable { id: &'static str, message: String },
    /// A dependency (the cache) is down.
    #[error("temporarily unavailable")]
    Unavailable,
    #[error(transparent)]
    Db(DbError),
}

impl RecordError {
    /// A field-level validation failure.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        RecordError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Named unique constraints and the field each protects, with the conflict's id and message.
const UNIQUE: &[(&str, &str, &str, &str)] = &[
    (
        "organizations_code_key",
        "code",
        "HG-ORG-CODE-TAKEN",
        "an organization with this code exists",
    ),
    (
        "users_email_key",
        "email",
        "HG-EMAIL-TAKEN",
        "an account with this e-mail address exists",
    ),
    (
        "patients_org_email_key",
        "email",
        "HG-EMAIL-TAKEN",
        "a patient of this organization has this e-mail address",
    ),
    (
        "devices_serial_key",
        "serial",
        "HG-SERIAL-TAKEN",
        "a device with this serial number exists",
    ),
    (
        "care_teams_org_name_key",
        "name",
        "HG-TEAM-NAME-TAKEN",
        "the organization has a care team with this name",
    ),
    (
        "caregiver_patient_one_primary_key",
        "is_primary",
        "HG-PRIMARY-CAREGIVER-EXISTS",
        "the patient already has an active primary caregiver",
    ),
    (
        "caregiver_patient_active_link_key",
        "user_id",
        "HG-CAREGIVER-LINKED",
        "this caregiver is already linked to the patient",
    ),
    (
        "models_name_version_key",
        "version",
        "HG-MODEL-VERSION-EXISTS",
        "this model already has this version",
    ),
    (
        "signal_streams_open_key",
        "signal_type",
        "HG-STREAM-OPEN",
        "the device already has an open stream of this signal type",
    ),
    (
        "timeseries_binding_stream_measurement_key",
        "measurement",
        "HG-BINDING-EXISTS",
        "the stream already has a binding for this bucket and measurement",
    ),
    (
        "timeseries_binding_tag_binding_key_key",
        "key",
        "HG-TAG-EXISTS",
        "the binding already has this tag",
    ),
    (
        "user_org_membership_pkey",
        "user_id",
        "HG-ALREADY-MEMBER",
        "the user is already a member",
    ),
    (
        "care_team_member_pkey",
        "user_id",
        "HG-ALREADY-MEMBER",
        "the user is already in the team",
    ),
    (
        "patient_care_team_pkey",
        "team_id",
        "HG-ALREADY-LINKED",
        "the patient is already in the team",
    ),
];

impl From<DbError> for RecordError {
    fn from(e: DbError) -> Self {
        match &e {
            DbError::UniqueViolation { constraint } => {
                if let Some((_, field, id, message)) = UNIQUE.iter().find(|u| u.0 == constraint) {
                    return RecordError::Conflict {
                        id,
                        field: Some(field),
                        message: (*message).to_owned(),
                    };
                }
                RecordError::Db(e)
            }
            DbError::ForeignKeyViolation { constraint } => {
                tracing::info!(%constraint, "reference refused");
                RecordError::Unprocessable {
                    id: "HG-REFERENCE",
                    message: "a referenced record does not exist in this organization".into(),
                }
            }
            DbError::CheckViolation { constraint } => {
                // Constraint names are <table>_<column>_check: name the column.
                let field = constraint
                    .trim_end_matches("_check")
                    .split('_')
                    .next_back()
                    .unwrap_or("body")
                    .to_owned();
                RecordError::invalid(field, "is out of range")
            }
            _ => RecordError::Db(e),
        }
    }
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::from(DbError::from(e))
    }
}

impl IntoProblem for RecordError {
    fn into_problem(self) -> Problem {
        match self {
            RecordError::NotFound(id, msg) => Problem::not_found(id, msg),
            RecordError::Forbidden(msg) => Problem::forbidden(msg),
            RecordError::Invalid { field, problem } => Problem::invalid_field(field, problem),
            RecordError::Conflict { id, field, message } => {
                let err = Problem::conflict(id, message);
                match field {
                    Some(f) => err.detail(
                        "fields",
                        serde_json::json!({ f: "conflicts with an existing record" }),
                    ),
                    None => err,
                }
            }
            RecordError::Unprocessable { id, message } => Problem::unprocessable(id, message),
            RecordError::Unavailable => Problem::unavailable(),
            RecordError::Db(d) => d.into_problem(),
        }
    }
}

/// A required text field: trimmed, 1..=`max` characters, no control characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, RecordError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(RecordError::invalid(field, "must not be empty"));
    }
    optional_text(field, Some(v), max).map(|o| o.unwrap_or_default())
}

/// An optional text field: trimmed (blank becomes none), at most `max` characters, no control
/// characters.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, RecordError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(RecordError::invalid(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(RecordError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(v.to_owned()))
}

/// A catalog code, checked against the catalog table case-insensitively and returned as stored.
pub async fn catalog_code(
    conn: &mut PgConnection,
    table: &'static str,
    field: &str,
    value: &str,
) -> Result<String, RecordError> {
    let code: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select code from {table} where lower(code) = lower($1)"
    )))
    .bind(value.trim())
    .fetch_optional(conn)
    .await?;
    code.ok_or_else(|| {
        RecordError::invalid(field, format!("`{}` is not a known code", value.trim()))
    })
}
