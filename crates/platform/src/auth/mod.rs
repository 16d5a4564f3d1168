//! Access tokens (spec/04 "Principals and tokens"): Ed25519-signed JWTs issued by the auth component
//! and verified everywhere else with the public key only, and the [`Principal`] extractor every
//! protected handler starts from.
//!
//! Verification pins the algorithm (EdDSA) and checks `exp`, `iss`, `aud` and `typ`; a token signed
//! with another key, `alg: none`, HS256 or expired is 401. Logout deny-lists a token's `jti` in the
//! cache until it expires; blocking a user (or changing their roles) revokes every token issued before,
//! so both take effect on the next request. When the cache cannot be asked, requests are refused (503)
//! rather than trusting a token that may have been revoked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::cache::Cache;
use crate::config::JwtConfig;
use crate::problem::{IntoProblem, Problem};

crate::code_enum! {
    /// Global roles (spec/02 "Identity and access").
    pub enum Role {
        /// Runs the whole installation; passes every check.
        Superadmin => "superadmin",
        /// Operations: services, health, audit and metrics; no patient data.
        Ops => "ops",
        /// Clinical staff: the patients of their care teams.
        Clinician => "clinician",
        /// Caregiver: actively linked patients.
        Caregiver => "caregiver",
    }
}

crate::code_enum! {
    /// Roles inside one organization (catalog `org_roles`).
    pub enum OrgRole {
        /// Manages the organization, its members and its records.
        OrgAdmin => "org_admin",
        /// Works with the organization's records within their care teams.
        OrgUser => "org_user",
        /// Reads the organization's records.
        Viewer => "viewer",
    }
}

/// Most organizations a token lists; principals in more are looked up in the database.
pub const MAX_ORGS_IN_TOKEN: usize = 50;

/// What kind of principal a token stands for (`typ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Patient,
    Device,
}

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The principal's id.
    pub sub: Uuid,
    /// User, patient or device.
    pub typ: PrincipalKind,
    /// Global roles (`superadmin`, `ops`, `clinician`, `caregiver`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Organization id → org role (at most [`MAX_ORGS_IN_TOKEN`]).
    #[serde(default)]
    pub orgs: BTreeMap<Uuid, String>,
    /// Token id, for the deny-list.
    pub jti: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Issued at in milliseconds, so a revocation in the same second as an issue is ordered right.
    #[serde(default)]
    pub iat_ms: i64,
    /// Expires at.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Refresh family this token belongs to (logout revokes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<Uuid>,
    /// Authentication methods: `pwd`, and `otp` after a TOTP code.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no access token")]
    Missing,
    #[error("the access token is not valid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("tokens cannot be checked right now")]
    Unavailable,
    #[error("this process cannot sign tokens (JWT_PRIVATE_KEY_FILE)")]
    CannotSign,
}

impl IntoProblem for TokenError {
    fn into_problem(self) -> Problem {
        let id = match self {
            TokenError::Missing => "HG-UNAUTHENTICATED",
            TokenError::Invalid => "HG-TOKEN-INVALID",
            TokenError::Expired => "HG-TOKEN-EXPIRED",
            TokenError::Revoked => "HG-TOKEN-REVOKED",
            TokenError::Unavailable => return Problem::unavailable(),
            TokenError::CannotSign => return Problem::internal(),
        };
        let challenge = match self {
            TokenError::Missing => "Bearer realm=\"heartguard\"",
            _ => "Bearer realm=\"heartguard\", error=\"invalid_token\"",
        };
        Problem::new(401u16, id, self.to_string()).challenge(challenge)
    }
}

mod keys;
mod revocation;

pub use keys::*;
pub use revocation::*;
