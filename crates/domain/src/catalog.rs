//! The catalogs of spec/02 with their stable codes and Spanish labels, roles and permissions. The seed
//! loads them; validation code reads the same lists.

use hg_platform::auth::{OrgRole, Role};

/// One catalog row: code, label, optional weight.
pub type Entry = (&'static str, &'static str, Option<i32>);

/// A catalog table and its rows.
pub struct Catalog {
    /// Table name.
    pub table: &'static str,
    /// Rows.
    pub entries: &'static [Entry],
}

/// Every simple catalog (code, label, weight).
pub const CATALOGS: &[Catalog] = &[
    Catalog {
        table: "user_statuses",
        entries: &[
            ("active", "Activo", None),
            ("pending", "Pendiente", None),
            ("blocked", "Bloqueado", None),
        ],
    },
    Catalog {
        table: "sexes",
        entries: &[
            ("M", "Masculino", None),
            ("F", "Femenino", None),
            ("O", "Otro", None),
        ],
    },
    Catalog {
        table: "signal_types",
        entries: &[
            ("ECG", "Electrocardiograma", None),
            ("HR", "Frecuencia cardiaca", None),
            ("SpO2", "Saturación de oxígeno", None),
            ("HRV", "Variabilidad de la frecuencia cardiaca", None),
            ("BP", "Presión arterial (sistólica/diastólica)", None),
            ("TEMP", "Temperatura", None),
            ("RESP", "Frecuencia respiratoria", None),
        ],
    },
    Catalog {
        table: "device_types",
        entries: &[
            ("ECG_1LEAD", "ECG de una derivación", None),
            ("PULSE_OX", "Oxímetro de pulso", None),
            ("BP_CUFF", "Baumanómetro", None),
            ("WEARABLE_MULTI", "Wearable multiparámetro", None),
        ],
    },
    Catalog {
        table: "alert_channels",
        entries: &[
            ("PUSH", "Notificación push", None),
            ("EMAIL", "Correo electrónico", None),
            ("SMS", "SMS", None),
        ],
    },
    Catalog {
        table: "alert_levels",
        entries: &[
            ("low", "Baja", Some(1)),
            ("medium", "Media", Some(2)),
            ("high", "Alta", Some(3)),
            ("critical", "Crítica", Some(4)),
        ],
    },
    Catalog {
        table: "alert_statuses",
        entries: &[
            ("created", "Creada", Some(1)),
            ("notified", "Notificada", Some(2)),
            ("ack", "Reconocida", Some(3)),
            ("resolved", "Resuelta", Some(4)),
            ("closed", "Cerrada", Some(5)),
        ],
    },
    Catalog {
        table: "platforms",
        entries: &[
            ("android", "Android", None),
            ("ios", "iOS", None),
            ("web", "Web", None),
        ],
    },
    Catalog {
        table: "service_statuses",
        entries: &[
            ("up", "Operativo", None),
            ("degraded", "Degradado", None),
            ("down", "Caído", None),
            ("error", "Error", None),
        ],
    },
    Catalog {
        table: "delivery_statuses",
        entries: &[
            ("QUEUED", "En cola", None),
            ("SENT", "Enviada", None),
            ("DELIVERED", "Entregada", None),
            ("FAILED", "Fallida", None),
            ("CANCELLED", "Cancelada", None),
        ],
    },
    Catalog {
        table: "risk_levels",
        entries: &[
            ("low", "Bajo", Some(1)),
            ("medium", "Medio", Some(2)),
            ("high", "Alto", Some(3)),
        ],
    },
    Catalog {
        table: "team_member_roles",
        entries: &[
            ("doctor", "Médico", None),
            ("nurse", "Enfermería", None),
            ("admin", "Administrativo", None),
            ("specialist", "Especialista", None),
        ],
    },
    Catalog {
        table: "org_roles",
        entries: &[
            ("org_admin", "Administrador de la organización", None),
            ("org_user", "Usuario clínico", None),
            ("viewer", "Solo lectura", None),
        ],
    },
    Catalog {
        table: "caregiver_relationship_types",
        entries: &[
            ("parent", "Padre/Madre", None),
            ("spouse", "Cónyuge", None),
            ("sibling", "Hermano(a)", None),
            ("child", "Hijo(a)", None),
            ("friend", "Amigo(a)", None),
            ("other", "Otro", None),
        ],
    },
];

/// Alert types: code, label, minimum level, maximum level.
pub const ALERT_TYPES: &[(&str, &str, &str, &str)] = &[
    ("ARRHYTHMIA", "Arritmia", "medium", "critical"),
    ("TACHY", "Taquicardia", "medium", "high"),
    ("BRADY", "Bradicardia", "medium", "high"),
    ("DESAT", "Desaturación", "low", "critical"),
    ("HYPERTENSION", "Hipertensión", "medium", "critical"),
    ("HYPOTENSION", "Hipotensión", "medium", "critical"),
    ("FEVER", "Fiebre", "low", "high"),
    (
        "DEVICE_OFFLINE",
        "Dispositivo sin conexión",
        "low",
        "medium",
    ),
];

/// Event types: code, label, default level.
pub const EVENT_TYPES: &[(&str, &str, &str)] = &[
    ("AFIB", "Fibrilación auricular", "high"),
    ("TACHY", "Taquicardia", "medium"),
    ("BRADY", "Bradicardia", "medium"),
    ("DESAT", "Desaturación", "high"),
    ("HYPERTENSION", "Hipertensión", "medium"),
];

/// Global roles.
pub const ROLES: &[(Role, &str)] = &[
    (Role::Superadmin, "Administra toda la instalación"),
    (
        Role::Ops,
        "Operación: servicios, salud, auditoría y métricas; sin datos de pacientes",
    ),
    (
        Role::Clinician,
        "Personal clínico: pacientes de sus equipos de cuidado",
    ),
    (
        Role::Caregiver,
        "Cuidador: pacientes vinculados activamente",
    ),
];

hg_platform::code_enum! {
    /// A patient's risk level (catalog `risk_levels`, which gives the labels).
    pub enum RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

hg_platform::code_enum! {
    /// How urgent an alert is, least first (catalog `alert_levels`).
    pub enum AlertLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

hg_platform::code_enum! {
    /// Where an alert is in its life (catalog `alert_statuses`; spec/06 "Alert lifecycle").
    pub enum AlertStatus {
        Created => "created",
        Notified => "notified",
        Ack => "ack",
        Resolved => "resolved",
        Closed => "closed",
    }
}

hg_platform::code_enum! {
    /// What a role allows (spec/02 "Identity and access"); the catalog below gives each a label.
    pub enum Permission {
        OrgsRead => "orgs.read",
        OrgsManage => "orgs.manage",
        MembersManage => "members.manage",
        CareTeamsManage => "care_teams.manage",
        UsersRead => "users.read",
        UsersManage => "users.manage",
        RolesManage => "roles.manage",
        PatientsRead => "patients.read",
        PatientsManage => "patients.manage",
        DevicesRead => "devices.read",
        DevicesManage => "devices.manage",
        TelemetryRead => "telemetry.read",
        TelemetryWrite => "telemetry.write",
        AlertsRead => "alerts.read",
        AlertsAck => "alerts.ack",
        AlertsManage => "alerts.manage",
        AlertRulesManage => "alert_rules.manage",
        GroundTruthManage => "ground_truth.manage",
        ModelsManage => "models.manage",
        InferencesRead => "inferences.read",
        InferencesWrite => "inferences.write",
        NotificationsManage => "notifications.manage",
        MediaManage => "media.manage",
        AuditRead => "audit.read",
        ServicesRead => "services.read",
        ServicesManage => "services.manage",
        SettingsManage => "settings.manage",
        CatalogsManage => "catalogs.manage",
        MetricsRead => "metrics.read",
    }
}

/// Permissions and what they allow.
pub const PERMISSIONS: &[(Permission, &str)] = &[
    (Permission::OrgsRead, "Ver organizaciones"),
    (
        Permission::OrgsManage,
        "Crear, renombrar y archivar organizaciones",
    ),
    (
        Permission::MembersManage,
        "Gestionar miembros e invitaciones",
    ),
    (Permission::CareTeamsManage, "Gestionar equipos de cuidado"),
    (Permission::UsersRead, "Ver usuarios"),
    (
        Permission::UsersManage,
        "Gestionar usuarios, estados y roles",
    ),
    (Permission::RolesManage, "Gestionar roles y permisos"),
    (Permission::PatientsRead, "Ver pacientes"),
    (Permission::PatientsManage, "Crear y editar pacientes"),
    (Permission::DevicesRead, "Ver dispositivos y streams"),
    (
        Permission::DevicesManage,
        "Gestionar dispositivos, credenciales y streams",
    ),
    (Permission::TelemetryRead, "Ver signos vitales"),
    (Permission::TelemetryWrite, "Enviar muestras de telemetría"),
    (Permission::AlertsRead, "Ver alertas"),
    (Permission::AlertsAck, "Reconocer alertas"),
    (
        Permission::AlertsManage,
        "Asignar, resolver y cerrar alertas",
    ),
    (Permission::AlertRulesManage, "Gestionar reglas de alerta"),
    (Permission::GroundTruthManage, "Etiquetar eventos reales"),
    (Permission::ModelsManage, "Gestionar modelos"),
    (Permission::InferencesRead, "Ver inferencias"),
    (Permission::InferencesWrite, "Registrar inferencias"),
    (
        Permission::NotificationsManage,
        "Gestionar notificaciones propias",
    ),
    (Permission::MediaManage, "Subir y borrar imágenes"),
    (Permission::AuditRead, "Consultar la bitácora de auditoría"),
    (Permission::ServicesRead, "Ver servicios y su salud"),
    (Permission::ServicesManage, "Gestionar servicios"),
    (
        Permission::SettingsManage,
        "Gestionar la configuración del sistema",
    ),
    (Permission::CatalogsManage, "Gestionar catálogos"),
    (Permission::MetricsRead, "Ver métricas"),
];

/// Permissions of each global role (a superadmin holds every permission).
pub const ROLE_PERMISSIONS: &[(Role, &[Permission])] = &[
    (Role::Superadmin, Permission::ALL),
    (
        Role::Ops,
        &[
            Permission::ServicesRead,
            Permission::AuditRead,
            Permission::MetricsRead,
            Permission::OrgsRead,
        ],
    ),
    (
        Role::Clinician,
        &[
            Permission::PatientsRead,
            Permission::PatientsManage,
            Permission::DevicesRead,
            Permission::TelemetryRead,
            Permission::AlertsRead,
            Permission::AlertsAck,
            Permission::AlertsManage,
            Permission::GroundTruthManage,
            Permission::InferencesRead,
            Permission::NotificationsManage,
            Permission::MediaManage,
        ],
    ),
    (
        Role::Caregiver,
        &[
            Permission::PatientsRead,
            Permission::TelemetryRead,
            Permission::AlertsRead,
            Permission::AlertsAck,
            Permission::NotificationsManage,
        ],
    ),
];

/// Permissions of each organization role, inside that organization.
pub const ORG_ROLE_PERMISSIONS: &[(OrgRole, &[Permission])] = &[
    (
        OrgRole::OrgAdmin,
        &[
            Permission::OrgsRead,
            Permission::MembersManage,
            Permission::CareTeamsManage,
            Permission::UsersRead,
            Permission::PatientsRead,
            Permission::PatientsManage,
            Permission::DevicesRead,
            Permission::DevicesManage,
            Permission::TelemetryRead,
            Permission::AlertsRead,
            Permission::AlertsAck,
            Permission::AlertsManage,
            Permission::AlertRulesManage,
            Permission::GroundTruthManage,
            Permission::InferencesRead,
            Permission::MediaManage,
            Permission::AuditRead,
        ],
    ),
    (
        OrgRole::OrgUser,
        &[
            Permission::OrgsRead,
            Permission::PatientsRead,
            Permission::PatientsManage,
            Permission::DevicesRead,
            Permission::TelemetryRead,
            Permission::AlertsRead,
            Permission::AlertsAck,
            Permission::AlertsManage,
            Permission::GroundTruthManage,
            Permission::InferencesRead,
            Permission::MediaManage,
        ],
    ),
    (
        OrgRole::Viewer,
        &[
            Permission::OrgsRead,
            Permission::PatientsRead,
            Permission::DevicesRead,
            Permission::TelemetryRead,
            Permission::AlertsRead,
            Permission::InferencesRead,
        ],
    ),
];

/// Platform default threshold rules (spec/05 "Detection"):
/// alert type, signal, condition, threshold, seconds, level.
pub const DEFAULT_RULES: &[(&str, &str, &str, f64, i32, &str)] = &[
    ("TACHY", "HR", "above", 120.0, 30, "high"),
    ("TACHY", "HR", "above", 100.0, 60, "medium"),
    ("BRADY", "HR", "below", 50.0, 30, "medium"),
    ("BRADY", "HR", "below", 40.0, 30, "high"),
    ("DESAT", "SpO2", "below", 90.0, 15, "high"),
    ("DESAT", "SpO2", "below", 85.0, 15, "critical"),
    ("HYPERTENSION", "BP", "above", 180.0, 0, "high"),
    ("HYPERTENSION", "BP", "above", 160.0, 0, "medium"),
    ("HYPOTENSION", "BP", "below", 90.0, 0, "medium"),
    ("HYPOTENSION", "BP", "below", 80.0, 0, "high"),
    ("FEVER", "TEMP", "above", 38.0, 60, "low"),
    ("FEVER", "TEMP", "above", 39.5, 60, "high"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_has_a_label_and_every_role_its_permissions() {
        for p in Permission::ALL {
            assert_eq!(PERMISSIONS.iter().filter(|(x, _)| x == p).count(), 1, "{p}");
        }
        for r in Role::ALL {
            assert!(ROLE_PERMISSIONS.iter().any(|(x, _)| x == r), "{r}");
        }
        for r in OrgRole::ALL {
            assert!(ORG_ROLE_PERMISSIONS.iter().any(|(x, _)| x == r), "{r}");
        }
    }

    #[test]
    fn the_catalog_tables_hold_exactly_the_enums_codes() {
        let codes = |table: &str| -> Vec<&str> {
            let c = CATALOGS.iter().find(|c| c.table == table).unwrap();
            c.entries.iter().map(|e| e.0).collect()
        };
        assert_eq!(codes("risk_levels"), RiskLevel::CODES);
        assert_eq!(codes("alert_levels"), AlertLevel::CODES);
        assert_eq!(codes("alert_statuses"), AlertStatus::CODES);
    }

    #[test]
    fn default_rules_stay_within_their_alert_type_levels() {
        let weight = |l: &str| AlertLevel::parse(l);
        for (ty, _, _, _, _, level) in DEFAULT_RULES {
            let (_, _, min, max) = ALERT_TYPES.iter().find(|t| t.0 == *ty).unwrap();
            assert!(
                weight(level) >= weight(min) && weight(level) <= weight(max),
                "{ty} {level}"
            );
        }
    }
}
