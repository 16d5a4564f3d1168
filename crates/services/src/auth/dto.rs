//! Request bodies and answers of the auth component. Unknown fields are ignored; missing or mistyped ones are
//! 400 `HG-VALIDATION` naming the field (see `Payload`).

use chrono::NaiveDate;
use hg_domain::identity::accounts::{PatientView, StaffView};
use hg_domain::identity::sessions::Tokens;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Register {
    #[serde(default)]
    pub invitation_token: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatientRegister {
    pub org_code: String,
    pub name: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub birthdate: Option<NaiveDate>,
    #[serde(default)]
    pub sex: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Refresh {
    pub refresh_token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Which kind of account a public flow is about.
#[derive(Deserialize, Default, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    #[default]
    Staff,
    Patient,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordForgot {
    pub email: String,
    #[serde(default)]
    pub account: AccountType,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordReset {
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Token {
    pub token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InvitationAccept {
    pub token: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpDisable {
    pub password: String,
}

/// The answer to a staff login.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginAnswer {
    pub tokens: Tokens,
    pub user: Option<StaffView>,
    /// A superadmin without two-factor authentication must set it up (REQUIRE_2FA_SUPERADMIN).
    pub mfa_setup_required: bool,
}

/// The answer to a patient login.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PatientLoginAnswer {
    pub tokens: Tokens,
    pub patient: Option<PatientView>,
}

/// New tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokensAnswer {
    pub tokens: Tokens,
}

/// Whether two-factor authentication is on.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpState {
    pub totp_enabled: bool,
}
