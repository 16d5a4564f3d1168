//! Development certificates (`heartguard certs`, and the TLS tests): a throw-away CA and server
//! certificates it signs, for PostgreSQL, Redis, RabbitMQ and the gateway. Production uses real ones.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its private key, both PEM.
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The private key (PKCS#8). Write it with mode 600.
    pub key: String,
}

/// A development certificate authority.
pub struct DevCa {
    pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

/// Days a server certificate is valid (what browsers accept at most); the CA lasts ten years.
pub const SERVER_CERT_DAYS: i64 = 397;
const CA_DAYS: i64 = 3650;

/// Validity from yesterday (clock skew) for `days` days.
fn validity(params: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let day = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let today = chrono::Utc::now().date_naive();
    params.not_before = day(today - chrono::Days::new(1));
    params.not_after = day(today + chrono::Days::new(days as u64));
}

fn err(e: rcgen::Error) -> String {
    format!("certificate generation failed: {e}")
}

impl DevCa {
    /// A new CA named `name`.
    pub fn generate(name: &str) -> Result<Self, String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        validity(&mut params, CA_DAYS);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "HeartGuard development");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Self {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (what clients trust: `sslrootcert`, `REDIS_CA_CERT`, `AMQP_CA_CERT`).
    pub fn cert_pem(&self) -> &str {
        &self.pem.cert
    }

    /// The CA's private key.
    pub fn key_pem(&self) -> &str {
        &self.pem.key
    }

    /// A server certificate for `hosts` (DNS names or IP addresses), signed by this CA.
    pub fn issue_server(&self, hosts: &[&str]) -> Result<Pem, String> {
        let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(err)?;
        params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().copied().unwrap_or("localhost"),
        );
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, SERVER_CERT_DAYS);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}
