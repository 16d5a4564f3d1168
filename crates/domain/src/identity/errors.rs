//! What can go wrong in identity flows, and the envelope answer for each.

use hg_platform::db::DbError;
use hg_platform::http::ApiError;
use http::StatusCode;

/// An identity flow's failure.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown e-mail or wrong password — deliberately indistinguishable.
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// Too many failures: locked for this many more seconds.
    #[error("the account is locked after repeated failed logins")]
    Locked { retry_after_secs: u64 },
    /// Too many attempts from this address.
    #[error("too many attempts from this address")]
    RateLimited { retry_after_secs: u64 },
    /// The account is blocked by an administrator.
    #[error("the account is blocked")]
    Blocked,
    /// The account's e-mail is not verified yet.
    #[error("the account is not active yet: verify the e-mail address first")]
    Pending,
    /// A TOTP code is needed to finish the login.
    #[error("a two-factor code is required")]
    TotpRequired,
    /// The TOTP code is wrong or was used already.
    #[error("the two-factor code is not valid")]
    TotpInvalid,
    /// The refresh token is unknown or expired.
    #[error("the refresh token is not valid")]
    RefreshInvalid,
    /// A rotated refresh token was presented again: the whole session family is revoked.
    #[error("the refresh token was already used; the session has been revoked")]
    RefreshReused,
    /// A one-time link (reset, verification) is unknown.
    #[error("the link is not valid")]
    LinkNotFound,
    /// A one-time link was used already.
    #[error("the link was already used")]
    LinkUsed,
    /// A one-time link has expired.
    #[error("the link has expired")]
    LinkExpired,
    /// No such invitation.
    #[error("no such invitation")]
    InvitationNotFound,
    /// The invitation was accepted already.
    #[error("the invitation was already accepted")]
    InvitationUsed,
    /// The invitation expired.
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The invitation was revoked.
    #[error("the invitation was revoked")]
    InvitationRevoked,
    /// An e-mail could not be handed to the mail transport (retried later).
    #[error("the e-mail could not be sent: {0}")]
    MailUnavailable(String),
    /// Staff self-registration is off.
    #[error("registration needs an invitation")]
    SignupDisabled,
    /// The organization does not take patient registrations (or does not exist).
    #[error("this organization does not accept patient registrations")]
    RegistrationClosed,
    /// The e-mail address is taken.
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    /// A field is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// The address is verified already.
    #[error("the e-mail address is already verified")]
    EmailAlreadyVerified,
    /// Two-factor authentication is not set up (or not started) for this account.
    #[error("two-factor authentication is not set up")]
    TotpNotSetUp,
    /// A feature needs configuration this installation lacks.
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// Tokens could not be issued or checked.
    #[error(transparent)]
    Token(#[from] hg_platform::auth::TokenError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Db(e.into())
    }
}

impl AuthError {
    /// A field-level validation failure.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        AuthError::Invalid {
            field,
            problem: problem.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let msg = e.to_string();
        match e {
            AuthError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "HG-INVALID-CREDENTIALS", msg)
            }
            AuthError::Locked { retry_after_secs } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "HG-ACCOUNT-LOCKED", msg)
                    .retry_after(retry_after_secs)
            }
            AuthError::RateLimited { retry_after_secs } => ApiError::rate_limited(retry_after_secs),
            AuthError::Blocked => ApiError::new(StatusCode::FORBIDDEN, "HG-ACCOUNT-BLOCKED", msg),
            AuthError::Pending => ApiError::new(StatusCode::FORBIDDEN, "HG-ACCOUNT-PENDING", msg),
            AuthError::TotpRequired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "HG-TOTP-REQUIRED", msg)
                    .detail("totp_required", true)
            }
            AuthError::TotpInvalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "HG-TOTP-INVALID", msg)
            }
            AuthError::RefreshInvalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "HG-REFRESH-INVALID", msg)
            }
            AuthError::RefreshReused => {
                ApiError::new(StatusCode::UNAUTHORIZED, "HG-REFRESH-REUSED", msg)
            }
            AuthError::LinkNotFound => ApiError::not_found("HG-LINK-NOT-FOUND", msg),
            AuthError::LinkUsed => ApiError::conflict("HG-LINK-USED", msg),
            AuthError::LinkExpired => ApiError::unprocessable("HG-LINK-EXPIRED", msg),
            AuthError::InvitationNotFound => ApiError::not_found("HG-INVITATION-NOT-FOUND", msg),
            AuthError::InvitationUsed => ApiError::conflict("HG-INVITATION-USED", msg),
            AuthError::InvitationExpired => ApiError::unprocessable("HG-INVITATION-EXPIRED", msg),
            AuthError::InvitationRevoked => ApiError::unprocessable("HG-INVITATION-REVOKED", msg),
            AuthError::SignupDisabled => {
                ApiError::new(StatusCode::FORBIDDEN, "HG-SIGNUP-DISABLED", msg)
            }
            AuthError::RegistrationClosed => {
                ApiError::new(StatusCode::FORBIDDEN, "HG-REGISTRATION-CLOSED", msg)
            }
            AuthError::EmailTaken => ApiError::conflict("HG-EMAIL-TAKEN", msg),
            AuthError::Invalid { field, problem } => ApiError::invalid_field(field, problem),
            AuthError::TotpNotSetUp => ApiError::unprocessable("HG-TOTP-NOT-SET-UP", msg),
            AuthError::EmailAlreadyVerified => ApiError::conflict("HG-EMAIL-ALREADY-VERIFIED", msg),
            AuthError::MailUnavailable(why) => {
                tracing::warn!(error = %why, "e-mail not sent");
                ApiError::unavailable()
            }
            AuthError::NotConfigured(what) => {
                tracing::error!(missing = what, "identity flow needs configuration");
                ApiError::unavailable()
            }
            AuthError::Token(t) => t.into(),
            AuthError::Db(d) => d.into(),
        }
    }
}
