//! Token keys: Ed25519 signing (the auth component) and verification (every component), issuing and verifying access tokens, JWKS.

use super::*;

pub(super) fn now() -> i64 {
    now_ms() / 1000
}

/// Clock skew tolerated on `exp`, in seconds.
pub(super) const TOKEN_LEEWAY_SECS: u64 = 30;

/// Most verified tokens a process remembers (about 1 KiB each).
pub(super) const VERIFIED_CACHE_SIZE: usize = 4096;

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new Ed25519 key pair as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_keypair() -> Result<(String, String), String> {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("encoding the private key: {e}"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("encoding the public key: {e}"))?;
    Ok((private.to_string(), public))
}

pub(super) fn kid_of(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

pub(super) fn jwk_of(key: &VerifyingKey) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "kid": kid_of(key),
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
    })
}

/// Signing (auth component) and verification (everyone) keys.
pub struct TokenKeys {
    signer: Option<(EncodingKey, String)>,
    verifiers: RwLock<Vec<(String, DecodingKey, Value)>>,
    /// Tokens whose signature and claims were verified, with their claims: a client sends the same
    /// token with every request for its lifetime, and an Ed25519 verification is the larger part of
    /// authenticating a request. Only the expiry is checked again; emptied when the keys change and
    /// when full (at most [`VERIFIED_CACHE_SIZE`] entries).
    verified: Mutex<std::collections::HashMap<String, Claims>>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// What an issued token says about its principal.
pub struct NewToken {
    /// The principal.
    pub sub: Uuid,
    /// Its kind.
    pub typ: PrincipalKind,
    /// Global roles.
    pub roles: Vec<String>,
    /// Memberships (truncated to [`MAX_ORGS_IN_TOKEN`]).
    pub orgs: BTreeMap<Uuid, String>,
    /// Refresh family.
    pub fid: Option<Uuid>,
    /// Authentication methods.
    pub amr: Vec<String>,
}

/// The PEM blocks of a file (`-----BEGIN …-----` to `-----END …-----`), each with its armour.
fn pem_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let Some(end_marker) = rest[start..].find("-----END ") else {
            break;
        };
        let after_end = start + end_marker + "-----END ".len();
        let Some(close) = rest[after_end..].find("-----") else {
            break;
        };
        let stop = after_end + close + "-----".len();
        blocks.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    blocks
}

impl TokenKeys {
    /// Loads the configured key files. `JWKS_URL` keys are applied by [`TokenKeys::apply_jwks`].
    pub fn load(cfg: &JwtConfig) -> Result<Self, String> {
        let mut signer = None;
        let mut verifiers = Vec::new();
        if let Some(path) = &cfg.private_key_file {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("JWT_PRIVATE_KEY_FILE {}: {e}", path.display()))?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                format!(
                    "JWT_PRIVATE_KEY_FILE {}: not an Ed25519 PKCS#8 key ({e})",
                    path.display()
                )
            })?;
            let public = key.verifying_key();
            let encoding = EncodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|e| format!("JWT_PRIVATE_KEY_FILE {}: {e}", path.display()))?;
            signer = Some((encoding, kid_of(&public)));
            verifiers.push(Self::verifier(&public)?);
        }
        if let Some(path) = &cfg.public_key_file {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("JWT_PUBLIC_KEY_FILE {}: {e}", path.display()))?;
            // Several keys, one after the other, while a key rotation overlaps (docs/runbook.md).
            let blocks = pem_blocks(&pem);
            if blocks.is_empty() {
                return Err(format!(
                    "JWT_PUBLIC_KEY_FILE {}: no PEM public key in the file",
                    path.display()
                ));
            }
            for (i, block) in blocks.iter().enumerate() {
                let public = VerifyingKey::from_public_key_pem(block).map_err(|e| {
                    format!(
                        "JWT_PUBLIC_KEY_FILE {}: key #{} is not an Ed25519 public key ({e})",
                        path.display(),
                        i + 1
                    )
                })?;
                let v = Self::verifier(&public)?;
                if !verifiers.iter().any(|(kid, _, _)| *kid == v.0) {
                    verifiers.push(v);
                }
            }
        }
        Ok(Self {
            signer,
            verifiers: RwLock::new(verifiers),
            verified: Mutex::default(),
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl: cfg.access_ttl,
        })
    }

    pub(super) fn verifier(public: &VerifyingKey) -> Result<(String, DecodingKey, Value), String> {
        let decoding = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(public.as_bytes()))
            .map_err(|e| format!("public key: {e}"))?;
        Ok((kid_of(public), decoding, jwk_of(public)))
    }

    /// Replaces the verification keys with the Ed25519 keys of the JWKS document `doc` (fetched
    /// from `JWKS_URL` by the HTTP layer); returns how many it found.
    pub fn apply_jwks(&self, doc: &Value) -> Result<usize, String> {
        let mut keys = Vec::new();
        for jwk in doc["keys"].as_array().into_iter().flatten() {
            if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
                continue;
            }
            let Some(x) = jwk["x"].as_str() else { continue };
            let Ok(bytes) = URL_SAFE_NO_PAD.decode(x) else {
                continue;
            };
            let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                continue;
            };
            if let Ok(public) = VerifyingKey::from_bytes(&bytes) {
                keys.push(Self::verifier(&public)?);
            }
        }
        let n = keys.len();
        if n > 0 {
            let mut guard = self.verifiers.write().unwrap_or_else(|p| p.into_inner());
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            // Keep our own key (if we sign) alongside the published ones.
            let own = self.signer.as_ref().map(|(_, kid)| kid.clone());
            guard.retain(|(kid, _, _)| Some(kid) == own.as_ref());
            for k in keys {
                if !guard.iter().any(|(kid, _, _)| *kid == k.0) {
                    guard.push(k);
                }
            }
        }
        Ok(n)
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> Value {
        let guard = self.verifiers.read().unwrap_or_else(|p| p.into_inner());
        json!({ "keys": guard.iter().map(|(_, _, jwk)| jwk.clone()).collect::<Vec<_>>() })
    }

    /// Access token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for `t`.
    pub fn issue(&self, t: NewToken) -> Result<(String, Claims), TokenError> {
        let (key, kid) = self.signer.as_ref().ok_or(TokenError::CannotSign)?;
        let iat_ms = now_ms();
        let iat = iat_ms / 1000;
        let mut orgs = t.orgs;
        while orgs.len() > MAX_ORGS_IN_TOKEN {
            orgs.pop_last();
        }
        let claims = Claims {
            sub: t.sub,
            typ: t.typ,
            roles: t.roles,
            orgs,
            jti: Uuid::new_v4(),
            iat,
            iat_ms,
            exp: iat + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            fid: t.fid,
            amr: t.amr,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some("JWT".to_owned());
        let token =
            jsonwebtoken::encode(&header, &claims, key).map_err(|_| TokenError::CannotSign)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, `exp`, `iss`, `aud` and `typ`.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = known {
            return if claims.exp < now() - TOKEN_LEEWAY_SECS as i64 {
                Err(TokenError::Expired)
            } else {
                Ok(claims)
            };
        }
        // Remembered under the read lock of the keys, so a key change (which empties the cache
        // under the write lock) cannot be overtaken by a verification made with the old keys.
        let keys = self.verifiers.read().unwrap_or_else(|p| p.into_inner());
        let claims = self.verify_signed(&keys, token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CACHE_SIZE {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    pub(super) fn verify_signed(
        &self,
        keys: &[(String, DecodingKey, Value)],
        token: &str,
    ) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = TOKEN_LEEWAY_SECS;
        let candidates = keys
            .iter()
            .filter(|(kid, _, _)| header.kid.as_deref().is_none_or(|k| k == kid));
        let mut result = Err(TokenError::Invalid);
        for (_, key, _) in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                        result = Err(TokenError::Expired);
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (TokenKeys, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("hg-keys-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (private, public) = generate_keypair().unwrap();
        std::fs::write(dir.join("k.pem"), private).unwrap();
        std::fs::write(dir.join("p.pem"), public).unwrap();
        let cfg = JwtConfig {
            private_key_file: Some(dir.join("k.pem")),
            public_key_file: Some(dir.join("p.pem")),
            jwks_url: None,
            issuer: "heartguard".into(),
            audience: "heartguard-api".into(),
            access_ttl: Duration::from_secs(900),
        };
        (TokenKeys::load(&cfg).unwrap(), dir)
    }

    fn token_for(keys: &TokenKeys) -> (String, Claims) {
        keys.issue(NewToken {
            sub: Uuid::new_v4(),
            typ: PrincipalKind::User,
            roles: vec!["clinician".into()],
            orgs: BTreeMap::new(),
            fid: None,
            amr: vec!["pwd".into()],
        })
        .unwrap()
    }

    #[test]
    fn a_remembered_token_still_expires_and_only_the_exact_token_is_remembered() {
        let (keys, dir) = keys();
        let (token, claims) = token_for(&keys);
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert!(keys.verified.lock().unwrap().contains_key(&token));
        assert_eq!(keys.verify(&token).unwrap(), claims, "served from memory");
        // A token that differs in one signature character is verified again, and refused.
        let mut forged = token.clone().into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(matches!(keys.verify(&forged), Err(TokenError::Invalid)));
        // Expiry is checked on every use, remembered or not.
        keys.verified.lock().unwrap().get_mut(&token).unwrap().exp =
            now() - TOKEN_LEEWAY_SECS as i64 - 1;
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_claims() {
        let (keys, dir) = keys();
        let (token, claims) = token_for(&keys);
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 900);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tokens_of_another_key_or_tampered_are_invalid() {
        let (a, d1) = keys();
        let (b, d2) = keys();
        let (token, _) = token_for(&a);
        assert_eq!(b.verify(&token), Err(TokenError::Invalid));
        let mut tampered = token.clone();
        tampered.insert(tampered.find('.').unwrap() + 5, 'x');
        assert_eq!(a.verify(&tampered), Err(TokenError::Invalid));
        std::fs::remove_dir_all(d1).unwrap();
        std::fs::remove_dir_all(d2).unwrap();
    }

    #[test]
    fn a_public_key_file_with_two_keys_accepts_both_during_a_rotation() {
        let (old, d1) = keys();
        let (new, d2) = keys();
        let both = d1.join("both.pem");
        let pems =
            [d1.join("p.pem"), d2.join("p.pem")].map(|p| std::fs::read_to_string(p).unwrap());
        std::fs::write(&both, pems.join("")).unwrap();
        let verifier = |file: &std::path::Path| {
            TokenKeys::load(&JwtConfig {
                private_key_file: None,
                public_key_file: Some(file.to_owned()),
                jwks_url: None,
                issuer: "heartguard".into(),
                audience: "heartguard-api".into(),
                access_ttl: Duration::from_secs(900),
            })
        };
        let during = verifier(&both).unwrap();
        let after = verifier(&d2.join("p.pem")).unwrap();
        let (old_token, old_claims) = token_for(&old);
        let (new_token, new_claims) = token_for(&new);
        assert_eq!(during.verify(&old_token).unwrap(), old_claims);
        assert_eq!(during.verify(&new_token).unwrap(), new_claims);
        assert_eq!(after.verify(&old_token), Err(TokenError::Invalid));
        assert_eq!(after.verify(&new_token).unwrap(), new_claims);
        std::fs::write(&both, format!("{}junk\n", pems[0])).unwrap();
        assert_eq!(
            verifier(&both).unwrap().verify(&old_token).unwrap(),
            old_claims
        );
        std::fs::write(&both, "not a key").unwrap();
        assert!(verifier(&both).err().unwrap().contains("no PEM public key"));
        std::fs::remove_dir_all(d1).unwrap();
        std::fs::remove_dir_all(d2).unwrap();
    }

    #[test]
    fn the_jwks_publishes_the_public_key() {
        let (keys, dir) = keys();
        let jwks = keys.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "private material published"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
