//! What can go wrong in identity flows, and the envelope answer for each.

use hg_platform::db::DbError;
use hg_platform::problem::{IntoProblem, Problem};

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

impl IntoProblem for AuthError {
    fn into_problem(self) -> Problem {
        let msg = self.to_string();
        match self {
            AuthError::InvalidCredentials => Problem::new(401u16, "HG-INVALID-CREDENTIALS", msg),
            AuthError::Locked { retry_after_secs } => {
                Problem::new(429u16, "HG-ACCOUNT-LOCKED", msg).retry_after(retry_after_secs)
            }
            AuthError::RateLimited { retry_after_secs } => Problem::rate_limited(retry_after_secs),
            AuthError::Blocked => Problem::new(403u16, "HG-ACCOUNT-BLOCKED", msg),
            AuthError::Pending => Problem::new(403u16, "HG-ACCOUNT-PENDING", msg),
            AuthError::TotpRequired => {
                Problem::new(401u16, "HG-TOTP-REQUIRED", msg).detail("totp_required", true)
            }
            AuthError::TotpInvalid => Problem::new(401u16, "HG-TOTP-INVALID", msg),
            AuthError::RefreshInvalid => Problem::new(401u16, "HG-REFRESH-INVALID", msg),
            AuthError::RefreshReused => Problem::new(401u16, "HG-REFRESH-REUSED", msg),
            AuthError::LinkNotFound => Problem::not_found("HG-LINK-NOT-FOUND", msg),
            AuthError::LinkUsed => Problem::conflict("HG-LINK-USED", msg),
            AuthError::LinkExpired => Problem::unprocessable("HG-LINK-EXPIRED", msg),
            AuthError::InvitationNotFound => Problem::not_found("HG-INVITATION-NOT-FOUND", msg),
            AuthError::InvitationUsed => Problem::conflict("HG-INVITATION-USED", msg),
            AuthError::InvitationExpired => Problem::unprocessable("HG-INVITATION-EXPIRED", msg),
            AuthError::InvitationRevoked => Problem::unprocessable("HG-INVITATION-REVOKED", msg),
            AuthError::SignupDisabled => Problem::new(403u16, "HG-SIGNUP-DISABLED", msg),
            AuthError::RegistrationClosed => Problem::new(403u16, "HG-REGISTRATION-CLOSED", msg),
            AuthError::EmailTaken => Problem::conflict("HG-EMAIL-TAKEN", msg),
            AuthError::Invalid { field, problem } => Problem::invalid_field(field, problem),
            AuthError::TotpNotSetUp => Problem::unprocessable("HG-TOTP-NOT-SET-UP", msg),
            AuthError::EmailAlreadyVerified => Problem::conflict("HG-EMAIL-ALREADY-VERIFIED", msg),
            AuthError::MailUnavailable(why) => {
                tracing::warn!(error = %why, "e-mail not sent");
                Problem::unavailable()
            }
            AuthError::NotConfigured(what) => {
                tracing::error!(missing = what, "identity flow needs configuration");
                Problem::unavailable()
            }
            AuthError::Token(t) => t.into_problem(),
            AuthError::Db(d) => d.into_problem(),
        }
    }
}
