//! The thirteen components of HeartGuard: their names, default ports, the URL prefixes they own at the
//! gateway, and which shared dependencies their readiness depends on.
//!
//! This is the single table every other piece (configuration, the gateway's routing, `heartguard up`,
//! `heartguard check`, the docs) reads, so a component's port or prefix is written down exactly once.

use std::fmt;
use std::str::FromStr;

/// A deployable component; `heartguard serve <component>…` takes these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Gateway,
    Auth,
    Organization,
    User,
    Patient,
    Device,
    Timeseries,
    Inference,
    Alert,
    Notification,
    Media,
    Audit,
    Admin,
}

/// A shared backing service a component needs to be ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dependency {
    Postgres,
    Redis,
    RabbitMq,
}

impl Dependency {
    /// The name used in `/ready` answers and `heartguard check` lines.
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Postgres => "postgres",
            Dependency::Redis => "redis",
            Dependency::RabbitMq => "rabbitmq",
        }
    }
}

const MIB: usize = 1024 * 1024;

impl Component {
    /// Every component, in port order (the admin panel last).
    pub const ALL: [Component; 13] = [
        Component::Gateway,
        Component::Auth,
        Component::Organization,
        Component::User,
        Component::Patient,
        Component::Device,
        Component::Timeseries,
        Component::Inference,
        Component::Alert,
        Component::Notification,
        Component::Media,
        Component::Audit,
        Component::Admin,
    ];

    /// The eleven services behind the gateway on machine 2.
    pub fn services() -> impl Iterator<Item = Component> {
        Self::ALL
            .into_iter()
            .filter(|c| !matches!(c, Component::Gateway | Component::Admin))
    }

    /// Lower-case name, as used on the command line, in logs and in `/health`.
    pub fn name(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::Auth => "auth",
            Component::Organization => "organization",
            Component::User => "user",
            Component::Patient => "patient",
            Component::Device => "device",
            Component::Timeseries => "timeseries",
            Component::Inference => "inference",
            Component::Alert => "alert",
            Component::Notification => "notification",
            Component::Media => "media",
            Component::Audit => "audit",
            Component::Admin => "admin",
        }
    }

    /// Port from the deployment guide (spec/06).
    pub fn default_port(self) -> u16 {
        match self {
            Component::Gateway => 5000,
            Component::Auth => 5001,
            Component::Organization => 5002,
            Component::User => 5003,
            Component::Patient => 5004,
            Component::Device => 5005,
            Component::Timeseries => 5006,
            Component::Inference => 5007,
            Component::Alert => 5008,
            Component::Notification => 5009,
            Component::Media => 5010,
            Component::Audit => 5011,
            Component::Admin => 8080,
        }
    }

    /// The environment variable that overrides the port, e.g. `AUTH_PORT`.
    pub fn port_var(self) -> &'static str {
        match self {
            Component::Gateway => "GATEWAY_PORT",
            Component::Auth => "AUTH_PORT",
            Component::Organization => "ORGANIZATION_PORT",
            Component::User => "USER_PORT",
            Component::Patient => "PATIENT_PORT",
            Component::Device => "DEVICE_PORT",
            Component::Timeseries => "TIMESERIES_PORT",
            Component::Inference => "INFERENCE_PORT",
            Component::Alert => "ALERT_PORT",
            Component::Notification => "NOTIFICATION_PORT",
            Component::Media => "MEDIA_PORT",
            Component::Audit => "AUDIT_PORT",
            Component::Admin => "ADMIN_PORT",
        }
    }

    /// The environment variable naming the upstream address the gateway forwards to,
    /// e.g. `AUTH_UPSTREAM`. Only services have one.
    pub fn upstream_var(self) -> Option<&'static str> {
        Some(match self {
            Component::Gateway | Component::Admin => return None,
            Component::Auth => "AUTH_UPSTREAM",
            Component::Organization => "ORGANIZATION_UPSTREAM",
            Component::User => "USER_UPSTREAM",
            Component::Patient => "PATIENT_UPSTREAM",
            Component::Device => "DEVICE_UPSTREAM",
            Component::Timeseries => "TIMESERIES_UPSTREAM",
            Component::Inference => "INFERENCE_UPSTREAM",
            Component::Alert => "ALERT_UPSTREAM",
            Component::Notification => "NOTIFICATION_UPSTREAM",
            Component::Media => "MEDIA_UPSTREAM",
            Component::Audit => "AUDIT_UPSTREAM",
        })
    }

    /// First path segments this service owns at the gateway (spec/03, gateway table).
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Component::Gateway | Component::Admin => &[],
            Component::Auth => &["auth"],
            Component::Organization => &["organizations"],
            Component::User => &["users"],
            Component::Patient => &["patients"],
            Component::Device => &["devices", "streams"],
            Component::Timeseries => &["timeseries"],
            Component::Inference => &["inference"],
            Component::Alert => &["alerts"],
            Component::Notification => &["notifications"],
            Component::Media => &["media"],
            Component::Audit => &["audit"],
        }
    }

    /// Alternative first segments the gateway rewrites to `(alias, canonical prefix)`.
    pub fn aliases(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Component::Organization => {
                &[("organization", "organizations"), ("orgs", "organizations")]
            }
            Component::User => &[("user", "users")],
            Component::Patient => &[("patient", "patients")],
            Component::Device => &[("device", "devices")],
            Component::Timeseries => &[("influx", "timeseries"), ("telemetry", "timeseries")],
            Component::Inference => &[("inferences", "inference")],
            Component::Alert => &[("alert", "alerts")],
            Component::Notification => &[("notification", "notifications")],
            _ => &[],
        }
    }

    /// The shared services whose loss makes this component unready. The admin panel lives on machine 1
    /// and never talks to RabbitMQ; everything else publishes or consumes events.
    pub fn dependencies(self) -> &'static [Dependency] {
        match self {
            Component::Admin => &[Dependency::Postgres, Dependency::Redis],
            _ => &[
                Dependency::Postgres,
                Dependency::Redis,
                Dependency::RabbitMq,
            ],
        }
    }

    /// Largest request body the component accepts (spec/03: 1 MiB, telemetry 8 MiB; media and the
    /// gateway stream larger bodies and enforce their own limits).
    pub fn body_limit(self) -> usize {
        match self {
            Component::Timeseries => 8 * MIB,
            Component::Media => 64 * MIB,
            Component::Gateway | Component::Admin => 64 * MIB,
            _ => MIB,
        }
    }

    /// The component owning a first path segment, canonical or alias, with the canonical prefix.
    pub fn for_prefix(segment: &str) -> Option<(Component, &'static str)> {
        Self::ALL.into_iter().find_map(|c| {
            c.prefixes()
                .iter()
                .find(|p| **p == segment)
                .map(|p| (c, *p))
                .or_else(|| {
                    c.aliases()
                        .iter()
                        .find(|(alias, _)| *alias == segment)
                        .map(|(_, canonical)| (c, *canonical))
                })
        })
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text after `serve` was not a component name.
#[derive(Debug, thiserror::Error)]
#[error("unknown component `{0}` (expected one of: {names})", names = Component::ALL.map(Component::name).join(", "))]
pub struct UnknownComponent(pub String);

impl FromStr for Component {
    type Err = UnknownComponent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.name() == wanted)
            .ok_or_else(|| UnknownComponent(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_round_trips_through_its_name() {
        for c in Component::ALL {
            assert_eq!(c.name().parse::<Component>().unwrap(), c);
        }
        assert!("nope".parse::<Component>().is_err());
    }

    #[test]
    fn aliases_resolve_to_their_canonical_prefix() {
        assert_eq!(
            Component::for_prefix("orgs"),
            Some((Component::Organization, "organizations"))
        );
        assert_eq!(
            Component::for_prefix("streams"),
            Some((Component::Device, "streams"))
        );
        assert_eq!(
            Component::for_prefix("telemetry"),
            Some((Component::Timeseries, "timeseries"))
        );
        assert_eq!(Component::for_prefix("health"), None);
    }

    #[test]
    fn ports_are_distinct() {
        let mut ports: Vec<u16> = Component::ALL.iter().map(|c| c.default_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), Component::ALL.len());
    }
}
