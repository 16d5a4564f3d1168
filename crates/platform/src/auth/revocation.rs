//! Revocation through the cache's deny-lists (logout, refresh-token reuse, password resets, blocking), and the check of a presented token against them.

use super::*;

pub(super) fn deny_key(jti: Uuid) -> String {
    format!("auth:deny:{jti}")
}

pub(super) fn revoked_key(sub: Uuid) -> String {
    format!("auth:revoked-before:{sub}")
}

pub(super) fn family_key(fid: Uuid) -> String {
    format!("auth:deny-family:{fid}")
}

/// Refuses every access token of a refresh family from now on (logout, refresh-token reuse). The
/// marker outlives the longest access token.
pub async fn deny_family(cache: &dyn Cache, fid: Uuid) -> Result<(), TokenError> {
    cache
        .set(
            &family_key(fid),
            b"1",
            Some(Duration::from_secs(3600 + 120)),
        )
        .await
        .map_err(|_| TokenError::Unavailable)
}

/// Puts an access token on the deny-list until it expires (logout).
pub async fn deny(cache: &dyn Cache, claims: &Claims) -> Result<(), TokenError> {
    let ttl = (claims.exp - now()).max(1) as u64 + 60;
    cache
        .set(&deny_key(claims.jti), b"1", Some(Duration::from_secs(ttl)))
        .await
        .map_err(|_| TokenError::Unavailable)
}

/// Revokes every access token of `sub` issued until now (blocking, role changes, password reset).
/// The marker (milliseconds) outlives the longest access token.
pub async fn revoke_all_before_now(cache: &dyn Cache, sub: Uuid) -> Result<(), TokenError> {
    cache
        .set(
            &revoked_key(sub),
            now_ms().to_string().as_bytes(),
            Some(Duration::from_secs(3600 + 120)),
        )
        .await
        .map_err(|_| TokenError::Unavailable)
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The verified claims.
    pub claims: Arc<Claims>,
}

impl Principal {
    /// The principal's id.
    pub fn id(&self) -> Uuid {
        self.claims.sub
    }

    /// User, patient or device.
    pub fn kind(&self) -> PrincipalKind {
        self.claims.typ
    }

    /// Whether it holds global role `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.claims.roles.iter().any(|r| r == role.code())
    }

    /// Its role in `org`, if it is a member.
    pub fn org_role(&self, org: Uuid) -> Option<OrgRole> {
        self.claims.orgs.get(&org).and_then(|r| OrgRole::parse(r))
    }

    /// Whether it is a superadmin.
    pub fn is_superadmin(&self) -> bool {
        self.claims.typ == PrincipalKind::User && self.has_role(Role::Superadmin)
    }
}

/// Verifies a bearer token against `keys` and the deny-lists in `cache`.
pub async fn authenticate(
    keys: &TokenKeys,
    cache: &dyn Cache,
    token: &str,
) -> Result<Claims, TokenError> {
    let claims = keys.verify(token)?;
    let (deny, revoked) = (deny_key(claims.jti), revoked_key(claims.sub));
    let family = claims.fid.map(family_key);
    let mut keys = vec![deny.as_str(), revoked.as_str()];
    if let Some(f) = &family {
        keys.push(f.as_str());
    }
    let found = cache
        .get_many(&keys)
        .await
        .map_err(|_| TokenError::Unavailable)?;
    if found.first().is_some_and(Option::is_some) || found.get(2).is_some_and(Option::is_some) {
        return Err(TokenError::Revoked);
    }
    if let Some(Some(before)) = found.get(1) {
        let before: i64 = std::str::from_utf8(before)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(i64::MAX);
        let issued_ms = if claims.iat_ms > 0 {
            claims.iat_ms
        } else {
            claims.iat * 1000 + 999
        };
        if issued_ms <= before {
            return Err(TokenError::Revoked);
        }
    }
    Ok(claims)
}
