//! Request bodies of the auth component. Unknown fields are ignored; missing or mistyped ones are
//! 400 `HG-VALIDATION` naming the field (see `Payload`).

use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Login {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub totp_code: Option<String>,
}

#[derive(Deserialize)]
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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
pub struct Refresh {
    pub refresh_token: String,
}

#[derive(Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Which kind of account a public flow is about.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    #[default]
    Staff,
    Patient,
}

#[derive(Deserialize)]
pub struct PasswordForgot {
    pub email: String,
    #[serde(default)]
    pub account: AccountType,
}

#[derive(Deserialize)]
pub struct PasswordReset {
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize)]
pub struct Token {
    pub token: String,
}

#[derive(Deserialize)]
pub struct InvitationAccept {
    pub token: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Deserialize)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Deserialize)]
pub struct TotpDisable {
    pub password: String,
}
