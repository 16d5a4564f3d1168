//! The catalogs of spec/02 with their stable codes and Spanish labels, roles and permissions. The seed
//! loads them; validation code reads the same lists.

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
pub const ROLES: &[(&str, &str)] = &[
    ("superadmin", "Administra toda la instalación"),
    (
        "ops",
        "Operación: servicios, salud, auditoría y métricas; sin datos de pacientes",
    ),
    (
        "clinician",
        "Personal clínico: pacientes de sus equipos de cuidado",
    ),
    ("caregiver", "Cuidador: pacientes vinculados activamente"),
];

/// Permission codes and what they allow.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("orgs.read", "Ver organizaciones"),
    ("orgs.manage", "Crear, renombrar y archivar organizaciones"),
    ("members.manage", "Gestionar miembros e invitaciones"),
    ("care_teams.manage", "Gestionar equipos de cuidado"),
    ("users.read", "Ver usuarios"),
    ("users.manage", "Gestionar usuarios, estados y roles"),
    ("roles.manage", "Gestionar roles y permisos"),
    ("patients.read", "Ver pacientes"),
    ("patients.manage", "Crear y editar pacientes"),
    ("devices.read", "Ver dispositivos y streams"),
    (
        "devices.manage",
        "Gestionar dispositivos, credenciales y streams",
    ),
    ("telemetry.read", "Ver signos vitales"),
    ("telemetry.write", "Enviar muestras de telemetría"),
    ("alerts.read", "Ver alertas"),
    ("alerts.ack", "Reconocer alertas"),
    ("alerts.manage", "Asignar, resolver y cerrar alertas"),
    ("alert_rules.manage", "Gestionar reglas de alerta"),
    ("ground_truth.manage", "Etiquetar eventos reales"),
    ("models.manage", "Gestionar modelos"),
    ("inferences.read", "Ver inferencias"),
    ("inferences.write", "Registrar inferencias"),
    ("notifications.manage", "Gestionar notificaciones propias"),
    ("media.manage", "Subir y borrar imágenes"),
    ("audit.read", "Consultar la bitácora de auditoría"),
    ("services.read", "Ver servicios y su salud"),
    ("services.manage", "Gestionar servicios"),
    ("settings.manage", "Gestionar la configuración del sistema"),
    ("catalogs.manage", "Gestionar catálogos"),
    ("metrics.read", "Ver métricas"),
];

/// Permissions of each global role; `*` grants every permission.
pub const ROLE_PERMISSIONS: &[(&str, &[&str])] = &[
    ("superadmin", &["*"]),
    (
        "ops",
        &["services.read", "audit.read", "metrics.read", "orgs.read"],
    ),
    (
        "clinician",
        &[
            "patients.read",
            "patients.manage",
            "devices.read",
            "telemetry.read",
            "alerts.read",
            "alerts.ack",
            "alerts.manage",
            "ground_truth.manage",
            "inferences.read",
            "notifications.manage",
            "media.manage",
        ],
    ),
    (
        "caregiver",
        &[
            "patients.read",
            "telemetry.read",
            "alerts.read",
            "alerts.ack",
            "notifications.manage",
        ],
    ),
];

/// Permissions of each organization role, inside that organization.
pub const ORG_ROLE_PERMISSIONS: &[(&str, &[&str])] = &[
    (
        "org_admin",
        &[
            "orgs.read",
            "members.manage",
            "care_teams.manage",
            "users.read",
            "patients.read",
            "patients.manage",
            "devices.read",
            "devices.manage",
            "telemetry.read",
            "alerts.read",
            "alerts.ack",
            "alerts.manage",
            "alert_rules.manage",
            "ground_truth.manage",
            "inferences.read",
            "media.manage",
            "audit.read",
        ],
    ),
    (
        "org_user",
        &[
            "orgs.read",
            "patients.read",
            "patients.manage",
            "devices.read",
            "telemetry.read",
            "alerts.read",
            "alerts.ack",
            "alerts.manage",
            "ground_truth.manage",
            "inferences.read",
            "media.manage",
        ],
    ),
    (
        "viewer",
        &[
            "orgs.read",
            "patients.read",
            "devices.read",
            "telemetry.read",
            "alerts.read",
            "inferences.read",
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
    fn role_permissions_name_existing_permissions() {
        let known: Vec<&str> = PERMISSIONS.iter().map(|p| p.0).collect();
        for (_, perms) in ROLE_PERMISSIONS.iter().chain(ORG_ROLE_PERMISSIONS) {
            for p in *perms {
                assert!(*p == "*" || known.contains(p), "unknown permission {p}");
            }
        }
    }

    #[test]
    fn default_rules_stay_within_their_alert_type_levels() {
        let weight = |l: &str| {
            ["low", "medium", "high", "critical"]
                .iter()
                .position(|x| *x == l)
        };
        for (ty, _, _, _, _, level) in DEFAULT_RULES {
            let (_, _, min, max) = ALERT_TYPES.iter().find(|t| t.0 == *ty).unwrap();
            assert!(
                weight(level) >= weight(min) && weight(level) <= weight(max),
                "{ty} {level}"
            );
        }
    }
}
