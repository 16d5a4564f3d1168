//! The demo installation's content: organizations, accounts, care teams, patients, caregivers and alerts.

use super::*;

pub(super) const ORGS: &[(&str, &str)] = &[
    ("FAM-001", "Medicina Familiar Demo"),
    ("CLIN-001", "Clínica Cardiológica Demo"),
    ("OPS-001", "Operaciones HeartGuard"),
];

pub(super) const USERS: &[DemoUser] = &[
    // Ops reads organizations, services and the audit log through its global role; it is a member of
    // no organization, so it sees no patient data (spec/01).
    DemoUser {
        email: "ops@heartguard.com",
        name: "Operaciones HeartGuard",
        role: Some("ops"),
        orgs: &[],
    },
    DemoUser {
        email: "ana.admin@fam001.demo",
        name: "Ana Administradora",
        role: None,
        orgs: &[("FAM-001", "org_admin")],
    },
    DemoUser {
        email: "carlos.admin@clin001.demo",
        name: "Carlos Administrador",
        role: None,
        orgs: &[("CLIN-001", "org_admin")],
    },
    DemoUser {
        email: "dra.lopez@clin001.demo",
        name: "Dra. Laura López",
        role: Some("clinician"),
        orgs: &[("CLIN-001", "org_user")],
    },
    DemoUser {
        email: "enf.garcia@clin001.demo",
        name: "Enf. Sofía García",
        role: Some("clinician"),
        orgs: &[("CLIN-001", "org_user")],
    },
    DemoUser {
        email: "dr.ramos@fam001.demo",
        name: "Dr. Andrés Ramos",
        role: Some("clinician"),
        orgs: &[("FAM-001", "org_user")],
    },
    DemoUser {
        email: "dr.prueba@ops001.demo",
        name: "Dr. Pablo Prueba",
        role: Some("clinician"),
        orgs: &[("OPS-001", "org_user")],
    },
    DemoUser {
        email: "maria.cuidadora@fam001.demo",
        name: "María Cuidadora",
        role: Some("caregiver"),
        orgs: &[],
    },
    DemoUser {
        email: "jose.cuidador@clin001.demo",
        name: "José Cuidador",
        role: Some("caregiver"),
        orgs: &[],
    },
];

/// A care team member: e-mail, team role.
pub(super) type Member = (&'static str, &'static str);

/// Care teams: organization, name, members.
pub(super) const TEAMS: &[(&str, &str, &[Member])] = &[
    (
        "FAM-001",
        "Medicina Familiar",
        &[("dr.ramos@fam001.demo", "doctor")],
    ),
    (
        "CLIN-001",
        "Cardiología",
        &[
            ("dra.lopez@clin001.demo", "doctor"),
            ("enf.garcia@clin001.demo", "nurse"),
        ],
    ),
    (
        "CLIN-001",
        "Urgencias",
        &[("enf.garcia@clin001.demo", "nurse")],
    ),
    (
        "OPS-001",
        "Monitoreo",
        &[("dr.prueba@ops001.demo", "doctor")],
    ),
];

/// A demo patient.
pub(super) struct DemoPatient {
    pub(super) key: &'static str,
    pub(super) org: &'static str,
    pub(super) name: &'static str,
    pub(super) email: Option<&'static str>,
    pub(super) birthdate: (i32, u32, u32),
    pub(super) sex: &'static str,
    pub(super) risk: &'static str,
    pub(super) team: &'static str,
}

pub(super) const PATIENTS: &[DemoPatient] = &[
    DemoPatient {
        key: "fam1",
        org: "FAM-001",
        name: "Juan Pérez Gómez",
        email: Some("paciente1@fam001.demo"),
        birthdate: (1956, 3, 14),
        sex: "M",
        risk: "high",
        team: "Medicina Familiar",
    },
    DemoPatient {
        key: "fam2",
        org: "FAM-001",
        name: "Rosa Martínez Luna",
        email: None,
        birthdate: (1962, 7, 2),
        sex: "F",
        risk: "medium",
        team: "Medicina Familiar",
    },
    DemoPatient {
        key: "fam3",
        org: "FAM-001",
        name: "Luis Hernández Soto",
        email: None,
        birthdate: (1948, 11, 20),
        sex: "M",
        risk: "low",
        team: "Medicina Familiar",
    },
    DemoPatient {
        key: "clin1",
        org: "CLIN-001",
        name: "Elena Gómez Ruiz",
        email: Some("paciente2@clin001.demo"),
        birthdate: (1970, 1, 25),
        sex: "F",
        risk: "medium",
        team: "Cardiología",
    },
    DemoPatient {
        key: "clin2",
        org: "CLIN-001",
        name: "Miguel Sánchez Vera",
        email: None,
        birthdate: (1959, 5, 9),
        sex: "M",
        risk: "high",
        team: "Cardiología",
    },
    DemoPatient {
        key: "clin3",
        org: "CLIN-001",
        name: "Carmen Díaz Ortega",
        email: None,
        birthdate: (1983, 9, 30),
        sex: "F",
        risk: "low",
        team: "Cardiología",
    },
    DemoPatient {
        key: "clin4",
        org: "CLIN-001",
        name: "Pedro Ruiz Campos",
        email: None,
        birthdate: (1951, 12, 12),
        sex: "M",
        risk: "high",
        team: "Urgencias",
    },
    DemoPatient {
        key: "ops1",
        org: "OPS-001",
        name: "Paciente de Prueba 1",
        email: None,
        birthdate: (1980, 1, 1),
        sex: "O",
        risk: "low",
        team: "Monitoreo",
    },
    DemoPatient {
        key: "ops2",
        org: "OPS-001",
        name: "Paciente de Prueba 2",
        email: None,
        birthdate: (1975, 6, 15),
        sex: "F",
        risk: "medium",
        team: "Monitoreo",
    },
    DemoPatient {
        key: "ops3",
        org: "OPS-001",
        name: "Paciente de Prueba 3",
        email: None,
        birthdate: (1968, 10, 3),
        sex: "M",
        risk: "low",
        team: "Monitoreo",
    },
];

/// Caregiver links: patient key, caregiver e-mail, relationship, primary.
pub(super) const CAREGIVERS: &[(&str, &str, &str, bool)] = &[
    ("fam1", "maria.cuidadora@fam001.demo", "child", true),
    ("clin2", "jose.cuidador@clin001.demo", "spouse", true),
];

/// Each organization's clinician, who handles its demo alerts and labels.
pub(super) const ORG_CLINICIAN: &[(&str, &str)] = &[
    ("FAM-001", "dr.ramos@fam001.demo"),
    ("CLIN-001", "dra.lopez@clin001.demo"),
    ("OPS-001", "dr.prueba@ops001.demo"),
];

/// Demo alerts, applied to the first three patients of each organization:
/// patient index, type, level, status, hours ago, description.
pub(super) const ALERTS: &[(usize, &str, &str, &str, i64, &str)] = &[
    (
        0,
        "TACHY",
        "high",
        "created",
        1,
        "FC > 120 lpm durante 45 s",
    ),
    (
        1,
        "DESAT",
        "high",
        "notified",
        2,
        "SpO2 < 90 % durante 20 s",
    ),
    (2, "BRADY", "medium", "ack", 4, "FC < 50 lpm durante 40 s"),
    (
        0,
        "HYPERTENSION",
        "medium",
        "resolved",
        9,
        "PA sistólica 168 mmHg",
    ),
    (
        1,
        "ARRHYTHMIA",
        "high",
        "closed",
        20,
        "Irregularidad RR compatible con FA",
    ),
];

/// Scalar streams of every demo device: signal and its nominal rate (one value a minute).
pub(super) const SCALAR_SIGNALS: &[&str] = &["HR", "SpO2", "BP"];
/// ECG sample rate.
pub(super) const ECG_RATE_HZ: u32 = 250;
/// Minutes of scalar history.
pub(super) const SCALAR_MINUTES: i64 = 24 * 60;
/// Seconds of ECG history.
pub(super) const ECG_SECONDS: u32 = 10 * 60;
