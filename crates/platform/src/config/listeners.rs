//! Listening and the edges: addresses and ports, the gateway, connection limits, metrics, rate limits, the admin component's way to the gateway.

use super::*;

/// Listening addresses. Reads `BIND_HOST` (default `127.0.0.1`), `GATEWAY_BIND_HOST` and
/// `ADMIN_BIND_HOST` (default: `BIND_HOST`), and each component's port variable (`GATEWAY_PORT`,
/// `AUTH_PORT` … `AUDIT_PORT`, `ADMIN_PORT`).
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Address the services bind to.
    pub bind_host: IpAddr,
    /// Address the gateway binds to.
    pub gateway_bind_host: IpAddr,
    /// Address the admin panel binds to.
    pub admin_bind_host: IpAddr,
    ports: BTreeMap<Component, u16>,
}

impl HttpConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let ip = |name: &str, default: IpAddr, errors: &mut ConfigError| match src.get(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                errors.push(name, format!("`{raw}` is not an IP address"));
                default
            }),
        };
        let bind_host = ip("BIND_HOST", IpAddr::from([127, 0, 0, 1]), errors);
        let gateway_bind_host = ip("GATEWAY_BIND_HOST", bind_host, errors);
        let admin_bind_host = ip("ADMIN_BIND_HOST", bind_host, errors);
        let ports = Component::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    parse_num(src, c.port_var(), c.default_port(), (0, 65535), errors),
                )
            })
            .collect();
        Self {
            bind_host,
            gateway_bind_host,
            admin_bind_host,
            ports,
        }
    }

    /// The port a component listens on (0 = any free port).
    pub fn port(&self, c: Component) -> u16 {
        self.ports[&c]
    }

    /// Overrides a component's port (tests use 0).
    pub fn set_port(&mut self, c: Component, port: u16) {
        self.ports.insert(c, port);
    }

    /// The address a component binds to.
    pub fn bind_addr(&self, c: Component) -> std::net::SocketAddr {
        let host = match c {
            Component::Gateway => self.gateway_bind_host,
            Component::Admin => self.admin_bind_host,
            _ => self.bind_host,
        };
        std::net::SocketAddr::new(host, self.port(c))
    }
}

/// The gateway (machine 2's entry). Reads:
///
/// * `INTERNAL_API_KEY` — accepted keys, comma-separated for rotation, each at least 32 characters;
/// * `REQUIRE_API_KEY` (default true; false only when the gateway binds to loopback);
/// * `<SERVICE>_UPSTREAM` — `host:port` per service (default `127.0.0.1:<port>`);
/// * `GATEWAY_TIMEOUT_SECS` (default 10) and `GATEWAY_TELEMETRY_TIMEOUT_SECS` (default 30) — how long
///   an upstream may take to answer;
/// * `API_KEY_ABUSE_THRESHOLD` (default 20) — rejections a minute from one IP before it is blocked,
///   and `API_KEY_ABUSE_BLOCK_SECS` (default 600) — for how long;
/// * `GATEWAY_TLS_CERT` and `GATEWAY_TLS_KEY` — PEM files; when both are set the gateway serves HTTPS;
/// * `CORS_ALLOWED_ORIGINS` — comma-separated origins allowed to call from browsers (none by default);
/// * `GATEWAY_WORKERS` — threads serving the plain-HTTP gateway, each with its own socket and upstream
///   connections (default: the number of CPUs).
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Accepted keys (several during rotation).
    pub api_keys: Vec<Secret>,
    /// Enforcement switch; `false` only on a loopback gateway.
    pub require_api_key: bool,
    upstreams: BTreeMap<Component, String>,
    /// Upstream answer deadline for most routes.
    pub timeout: std::time::Duration,
    /// Upstream answer deadline for telemetry (large batches).
    pub telemetry_timeout: std::time::Duration,
    /// Rejections per minute from one IP that trigger a block.
    pub abuse_threshold: u32,
    /// How long an abusive IP stays blocked.
    pub abuse_block: std::time::Duration,
    /// Certificate and key for HTTPS.
    pub tls: Option<TlsFiles>,
    /// Browser origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Worker threads of the plain-HTTP gateway.
    pub workers: usize,
}

/// A PEM certificate chain and its private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file.
    pub key: PathBuf,
}

impl GatewayConfig {
    pub(super) fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        http: &HttpConfig,
        errors: &mut ConfigError,
    ) -> Self {
        let api_keys = api_keys(src, "INTERNAL_API_KEY", env, errors);
        let require_api_key = parse_bool(src, "REQUIRE_API_KEY", true, errors);
        if !require_api_key && !http.gateway_bind_host.is_loopback() {
            errors.push(
                "REQUIRE_API_KEY",
                format!(
                    "false is only allowed when the gateway listens on loopback, not {}",
                    http.gateway_bind_host
                ),
            );
        }
        let upstreams = Component::services()
            .map(|c| {
                let var = c
                    .upstream_var()
                    .expect("services have an upstream variable");
                let value = match src.get(var) {
                    Some(v) => {
                        let v = v.trim_start_matches("http://").trim_end_matches('/');
                        let ok = url::Url::parse(&format!("http://{v}"))
                            .is_ok_and(|u| u.host_str().is_some() && u.path() == "/");
                        if !ok {
                            errors.push(var, format!("`{v}` is not host:port"));
                        }
                        v.to_owned()
                    }
                    None => format!("127.0.0.1:{}", http.port(c)),
                };
                (c, value)
            })
            .collect();
        let secs = |name: &str, default: u64, errors: &mut ConfigError| {
            std::time::Duration::from_secs(parse_num(src, name, default, (1, 3600), errors))
        };
        let tls = match (
            existing_file(src, "GATEWAY_TLS_CERT", errors),
            existing_file(src, "GATEWAY_TLS_KEY", errors),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                errors.push(
                    "GATEWAY_TLS_KEY",
                    "is required when GATEWAY_TLS_CERT is set",
                );
                None
            }
            (None, Some(_)) => {
                errors.push(
                    "GATEWAY_TLS_CERT",
                    "is required when GATEWAY_TLS_KEY is set",
                );
                None
            }
        };
        let cors_origins = src
            .get("CORS_ALLOWED_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for o in &cors_origins {
            let ok = url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/"
            });
            if !ok {
                errors.push(
                    "CORS_ALLOWED_ORIGINS",
                    format!("`{o}` is not an origin like https://app.example.org"),
                );
            }
        }
        Self {
            api_keys,
            require_api_key,
            upstreams,
            timeout: secs("GATEWAY_TIMEOUT_SECS", 10, errors),
            telemetry_timeout: secs("GATEWAY_TELEMETRY_TIMEOUT_SECS", 30, errors),
            abuse_threshold: parse_num(src, "API_KEY_ABUSE_THRESHOLD", 20, (1, 100_000), errors),
            abuse_block: secs("API_KEY_ABUSE_BLOCK_SECS", 600, errors),
            tls,
            cors_origins,
            workers: parse_num(
                src,
                "GATEWAY_WORKERS",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                (1, 256),
                errors,
            ),
        }
    }

    /// `host:port` the gateway forwards a service's requests to.
    pub fn upstream(&self, c: Component) -> Option<&str> {
        self.upstreams.get(&c).map(String::as_str)
    }
}

/// How every listener treats slow, idle and numerous clients (spec/04 "Rate limiting"). Reads:
///
/// * `HTTP_HEADER_TIMEOUT_SECS` (default 10) — from the first byte of a request, how long the client
///   has to send the whole request head; also how long a new connection may stay silent;
/// * `HTTP_BODY_TIMEOUT_SECS` (default 60) — from the end of the head, how long the whole request
///   body may take to arrive; a late body is answered 400 `HG-BODY-TIMEOUT`;
/// * `HTTP_IDLE_TIMEOUT_SECS` (default 60) — how long a kept-alive connection may wait between
///   requests;
/// * `HTTP_MAX_CONNECTIONS` (default 1024) — open connections per listener; beyond it a new
///   connection is answered 503 and closed at once.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Time to send a request head.
    pub header_timeout: std::time::Duration,
    /// Time to send a request body.
    pub body_timeout: std::time::Duration,
    /// Time a connection may sit between requests.
    pub idle_timeout: std::time::Duration,
    /// Open connections per listener.
    pub max_connections: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self::from_env(&EnvSource::default(), &mut ConfigError::default())
    }
}

impl ConnectionConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let secs = |name: &str, default: u64, errors: &mut ConfigError| {
            std::time::Duration::from_secs(parse_num(src, name, default, (1, 3600), errors))
        };
        Self {
            header_timeout: secs("HTTP_HEADER_TIMEOUT_SECS", 10, errors),
            body_timeout: secs("HTTP_BODY_TIMEOUT_SECS", 60, errors),
            idle_timeout: secs("HTTP_IDLE_TIMEOUT_SECS", 60, errors),
            max_connections: parse_num(src, "HTTP_MAX_CONNECTIONS", 1024, (1, 1_000_000), errors),
        }
    }
}

/// Who may read `/metrics`. Reads:
///
/// * `METRICS_TOKEN` — when set, every `/metrics` answers only `Authorization: Bearer <token>`;
/// * `ADMIN_METRICS_ADDR` (default `127.0.0.1:9180`; `off` for none) — where the admin component
///   serves its `/metrics`: never on its public port, which nginx exposes to the Internet.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Bearer token `/metrics` requires, when set.
    pub token: Option<Secret>,
    /// The admin component's metrics listener.
    pub admin_addr: Option<std::net::SocketAddr>,
}

impl MetricsConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let admin_addr = match src.get("ADMIN_METRICS_ADDR") {
            None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9180))),
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(raw) => match raw.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(
                        "ADMIN_METRICS_ADDR",
                        format!("`{raw}` is not an address (ip:port) or `off`"),
                    );
                    None
                }
            },
        };
        let token = src.get("METRICS_TOKEN").map(Secret::new);
        if let Some(t) = &token
            && t.expose().chars().count() < 16
        {
            errors.push("METRICS_TOKEN", "needs at least 16 characters");
        }
        Self { token, admin_addr }
    }
}

/// Request rate limits of the gateway and the admin component, and which peers may speak for a client.
/// Reads `RATE_LIMIT_PER_MINUTE` (default 1200; 0 turns limiting off), `RATE_LIMIT_BURST` (default
/// 200) and `TRUSTED_PROXIES` (comma-separated IP addresses or CIDR ranges whose `X-Forwarded-For` is
/// believed; default `127.0.0.1,::1`).
#[derive(Clone, Debug)]
pub struct ClientLimitsConfig {
    /// Sustained requests per minute per client; 0 = unlimited.
    pub per_minute: u32,
    /// Bucket size: requests a client may send at once.
    pub burst: u32,
    /// Proxies whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl ClientLimitsConfig {
    pub(super) fn from_env(src: &EnvSource, errors: &mut ConfigError) -> Self {
        let trusted_proxies = src
            .get("TRUSTED_PROXIES")
            .unwrap_or("127.0.0.1,::1")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let parsed = p
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from));
                if parsed.is_err() {
                    errors.push(
                        "TRUSTED_PROXIES",
                        format!("`{p}` is not an IP address or CIDR range"),
                    );
                }
                parsed.ok()
            })
            .collect();
        Self {
            per_minute: parse_num(src, "RATE_LIMIT_PER_MINUTE", 1200, (0, 10_000_000), errors),
            burst: parse_num(src, "RATE_LIMIT_BURST", 200, (1, 1_000_000), errors),
            trusted_proxies,
        }
    }
}

pub(super) fn api_keys(
    src: &EnvSource,
    name: &str,
    env: RuntimeEnv,
    errors: &mut ConfigError,
) -> Vec<Secret> {
    let Some(raw) = src.get(name) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for (i, key) in raw
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
    {
        if key.chars().count() < MIN_API_KEY_LEN {
            errors.push(
                name,
                format!(
                    "key #{} is {} characters long; keys need at least {MIN_API_KEY_LEN} (generate one with `openssl rand -hex 32`)",
                    i + 1,
                    key.chars().count()
                ),
            );
        } else if env.is_production() && looks_like_placeholder(key) {
            errors.push(
                name,
                format!("key #{} is a placeholder from an example file", i + 1),
            );
        }
        keys.push(Secret::new(key));
    }
    keys
}

/// How the admin component (machine 1) reaches the gateway. Reads `MICROSERVICES_GATEWAY_URL` (default
/// `http://<GATEWAY_BIND_HOST>:<GATEWAY_PORT>`, loopback for an unspecified address), `MICROSERVICES_API_KEY` and, for an HTTPS gateway with its own
/// CA, `MICROSERVICES_GATEWAY_CA_CERT`.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Base URL of the gateway.
    pub gateway_url: url::Url,
    /// The key sent as `X-Internal-API-Key`.
    pub api_key: Option<Secret>,
    /// CA that signed the gateway's certificate (system roots otherwise).
    pub gateway_ca_cert: Option<PathBuf>,
}

impl EdgeConfig {
    pub(super) fn from_env(
        src: &EnvSource,
        env: RuntimeEnv,
        http: &HttpConfig,
        errors: &mut ConfigError,
    ) -> Self {
        // Unset, the gateway of this machine: where it listens (loopback when on every interface).
        let gateway_url = http_url(src, "MICROSERVICES_GATEWAY_URL", errors).unwrap_or_else(|| {
            let mut addr = http.bind_addr(Component::Gateway);
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::IpAddr::from([127, 0, 0, 1]));
            }
            url::Url::parse(&format!("http://{addr}")).expect("a socket address makes a URL")
        });
        let api_key = api_keys(src, "MICROSERVICES_API_KEY", env, errors)
            .into_iter()
            .next();
        Self {
            gateway_url,
            api_key,
            gateway_ca_cert: existing_file(src, "MICROSERVICES_GATEWAY_CA_CERT", errors),
        }
    }
}
