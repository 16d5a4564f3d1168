//! Audit entries (spec/04 "Audit"): every component records what happened by writing an
//! `audit.recorded` event to the outbox, in the transaction of the change it describes; the audit
//! component consumes these events and appends them, hash-chained, to `audit_logs`.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::DbError;
use crate::events::{NewEvent, enqueue};

/// The event type audit entries travel as.
pub const EVENT_TYPE: &str = "audit.recorded";

/// Who did it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    Patient,
    Device,
    System,
    ApiClient,
}

crate::code_enum! {
    /// Every action the audit log knows (spec/04 "Audit"), with its stable upper-case code.
    pub enum Action {
    /// The gateway refused a request without a valid internal API key.
    ApiKeyRejected => "API_KEY_REJECTED",
    /// An address sent too many requests with a wrong API key and is blocked.
    ApiKeyAbuse => "API_KEY_ABUSE",
    LoginSuccess => "LOGIN_SUCCESS",
    LoginFailed => "LOGIN_FAILED",
    AccountLocked => "ACCOUNT_LOCKED",
    Logout => "LOGOUT",
    /// A rotated refresh token came back: its session family was revoked.
    RefreshTokenReuse => "REFRESH_TOKEN_REUSE",
    PasswordChange => "PASSWORD_CHANGE",
    PasswordChangeFailed => "PASSWORD_CHANGE_FAILED",
    PasswordResetRequested => "PASSWORD_RESET_REQUESTED",
    PasswordReset => "PASSWORD_RESET",
    EmailVerified => "EMAIL_VERIFIED",
    AccountEmailSent => "ACCOUNT_EMAIL_SENT",
    UserRegistered => "USER_REGISTERED",
    PatientSelfRegistered => "PATIENT_SELF_REGISTERED",
    /// A registration with an address that has an account: nothing was created.
    RegistrationRefused => "REGISTRATION_REFUSED",
    InvitationCreate => "INVITATION_CREATE",
    InvitationRevoke => "INVITATION_REVOKE",
    InvitationAccepted => "INVITATION_ACCEPTED",
    TotpEnabled => "TOTP_ENABLED",
    TotpDisabled => "TOTP_DISABLED",
    OrgCreate => "ORG_CREATE",
    OrgUpdate => "ORG_UPDATE",
    OrgArchive => "ORG_ARCHIVE",
    MemberRoleChange => "MEMBER_ROLE_CHANGE",
    MemberRemove => "MEMBER_REMOVE",
    UserUpdate => "USER_UPDATE",
    UserStatusChange => "USER_STATUS_CHANGE",
    RoleChange => "ROLE_CHANGE",
    CareTeamCreate => "CARE_TEAM_CREATE",
    CareTeamUpdate => "CARE_TEAM_UPDATE",
    CareTeamDelete => "CARE_TEAM_DELETE",
    CareTeamMemberAdd => "CARE_TEAM_MEMBER_ADD",
    CareTeamMemberRole => "CARE_TEAM_MEMBER_ROLE",
    CareTeamMemberRemove => "CARE_TEAM_MEMBER_REMOVE",
    CareTeamPatientAdd => "CARE_TEAM_PATIENT_ADD",
    CareTeamPatientRemove => "CARE_TEAM_PATIENT_REMOVE",
    /// Patient data read: one record.
    PatientRead => "PATIENT_READ",
    /// Patient data read: a list (the ids in the details).
    PatientList => "PATIENT_LIST",
    PatientCreate => "PATIENT_CREATE",
    PatientUpdate => "PATIENT_UPDATE",
    PatientArchive => "PATIENT_ARCHIVE",
    CaregiverLink => "CAREGIVER_LINK",
    CaregiverUpdate => "CAREGIVER_UPDATE",
    CaregiverUnlink => "CAREGIVER_UNLINK",
    LocationCreate => "LOCATION_CREATE",
    GroundTruthCreate => "GROUND_TRUTH_CREATE",
    GroundTruthUpdate => "GROUND_TRUTH_UPDATE",
    GroundTruthDelete => "GROUND_TRUTH_DELETE",
    DeviceCreate => "DEVICE_CREATE",
    DeviceUpdate => "DEVICE_UPDATE",
    DeviceArchive => "DEVICE_ARCHIVE",
    DeviceCredentialRotate => "DEVICE_CREDENTIAL_ROTATE",
    StreamOpen => "STREAM_OPEN",
    StreamClose => "STREAM_CLOSE",
    BindingCreate => "BINDING_CREATE",
    BindingDelete => "BINDING_DELETE",
    BindingTagSet => "BINDING_TAG_SET",
    BindingTagRemove => "BINDING_TAG_REMOVE",
    AlertCreate => "ALERT_CREATE",
    AlertAssign => "ALERT_ASSIGN",
    AlertAck => "ALERT_ACK",
    AlertResolve => "ALERT_RESOLVE",
    AlertClose => "ALERT_CLOSE",
    AlertEscalate => "ALERT_ESCALATE",
    AlertRuleChange => "ALERT_RULE_CHANGE",
    ModelChange => "MODEL_CHANGE",
    NotificationPreferencesChange => "NOTIFICATION_PREFERENCES_CHANGE",
    PushDeviceRegister => "PUSH_DEVICE_REGISTER",
    PushDeviceRemove => "PUSH_DEVICE_REMOVE",
    MediaUpload => "MEDIA_UPLOAD",
    MediaDelete => "MEDIA_DELETE",
    }
}

/// Where a request came from, for audit entries and limits.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Request id.
    pub request_id: Option<String>,
    /// `User-Agent`, shortened.
    pub client: Option<String>,
}

/// One audit entry.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// Kind of actor.
    pub actor_type: ActorType,
    /// The actor's id, when known.
    pub actor_id: Option<Uuid>,
    /// A readable actor name (an e-mail, a component).
    pub actor_label: Option<String>,
    /// What happened.
    pub action: Action,
    /// Entity kind, e.g. `patient`.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Tenant.
    pub org_id: Option<Uuid>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Request id.
    pub request_id: Option<String>,
    /// Anything else worth keeping (never secrets or health data beyond what the entry is about).
    pub details: Value,
}

impl AuditEntry {
    /// An entry with only the actor's kind and the action set; the builder methods fill the rest:
    /// `AuditEntry::new(ActorType::User, Action::LoginSuccess).actor(id, email).request(&meta)…`.
    pub fn new(actor_type: ActorType, action: Action) -> Self {
        Self {
            actor_type,
            actor_id: None,
            actor_label: None,
            action,
            entity: None,
            entity_id: None,
            org_id: None,
            ip: None,
            request_id: None,
            details: Value::Object(Default::default()),
        }
    }
}

impl AuditEntry {
    /// Who did it: their id and a readable label (an e-mail).
    pub fn actor(mut self, id: impl Into<Option<Uuid>>, label: Option<String>) -> Self {
        self.actor_id = id.into();
        self.actor_label = label;
        self
    }

    /// What it was done to: the entity's kind (`patient`) and id.
    pub fn entity(mut self, kind: &str, id: impl std::fmt::Display) -> Self {
        self.entity = Some(kind.to_owned());
        self.entity_id = Some(id.to_string());
        self
    }

    /// What it was done to, when the id may be unknown.
    pub fn entity_maybe(mut self, kind: &str, id: Option<impl std::fmt::Display>) -> Self {
        self.entity = Some(kind.to_owned());
        self.entity_id = id.map(|i| i.to_string());
        self
    }

    /// The entity's kind, when there is no one id (a list).
    pub fn entity_kind(mut self, kind: &str) -> Self {
        self.entity = Some(kind.to_owned());
        self
    }

    /// The tenant.
    pub fn org(mut self, org: impl Into<Option<Uuid>>) -> Self {
        self.org_id = org.into();
        self
    }

    /// The request it came with: client address and request id.
    pub fn request(mut self, meta: &RequestMeta) -> Self {
        self.ip = meta.ip;
        self.request_id = meta.request_id.clone();
        self
    }

    /// Anything else worth keeping (never secrets).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Writes the entry to the outbox on `conn` — inside the change's transaction, so that either
    /// both are stored or neither.
    pub async fn record(self, conn: &mut PgConnection) -> Result<Uuid, DbError> {
        record(conn, self).await
    }
}

/// Writes `entry` to the outbox on `conn`; call it inside the change's transaction so that either both
/// are stored or neither.
pub async fn record(conn: &mut PgConnection, entry: AuditEntry) -> Result<Uuid, DbError> {
    let data = serde_json::to_value(&entry).unwrap_or(Value::Null);
    enqueue(
        conn,
        NewEvent {
            event_type: EVENT_TYPE.to_owned(),
            aggregate: "audit".to_owned(),
            aggregate_id: None,
            org_id: entry.org_id,
            actor: Some(serde_json::json!({
                "type": entry.actor_type,
                "id": entry.actor_id,
                "label": entry.actor_label,
            })),
            request_id: entry.request_id.clone(),
            data,
        },
    )
    .await
}
