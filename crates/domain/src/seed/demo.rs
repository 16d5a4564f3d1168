//! `heartguard seed --demo`: the demo installation of spec/02 "Seed and demo data" — three
//! organizations, the fixed demo accounts, care teams, patients with devices and open streams, 24 hours
//! of scalar vitals and 10 minutes of ECG per patient, alerts in every status with their history, and
//! ground-truth labels.
//!
//! Rows get deterministic ids ([`super::seed_id`]) and are inserted with `on conflict do nothing`;
//! samples are generated only for streams that have none. A second run changes no row count, and
//! existing accounts keep their passwords.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{SeedError, ensure_superadmin, seed_id, user_exists};
use crate::password;
use crate::synthetic::{VitalsGenerator, pack_f32_le};

/// The superadmin's e-mail.
pub const ADMIN_EMAIL: &str = "admin@heartguard.com";

/// Passwords for the demo accounts.
pub struct DemoPasswords {
    /// The superadmin's.
    pub admin: String,
    /// Every other demo account's.
    pub demo: String,
}

/// What the demo seed did with each account.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Accounts created now (their password is the one given).
    pub created: Vec<String>,
    /// Accounts that already existed (their password was not touched).
    pub existing: Vec<String>,
}

/// A demo staff account: e-mail, name, global role, organization memberships.
struct DemoUser {
    email: &'static str,
    name: &'static str,
    role: Option<&'static str>,
    orgs: &'static [(&'static str, &'static str)],
}

const ORGS: &[(&str, &str)] = &[
    ("FAM-001", "Medicina Familiar Demo"),
    ("CLIN-001", "Clínica Cardiológica Demo"),
    ("OPS-001", "Operaciones HeartGuard"),
];

const USERS: &[DemoUser] = &[
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
type Member = (&'static str, &'static str);

/// Care teams: organization, name, members.
const TEAMS: &[(&str, &str, &[Member])] = &[
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
struct DemoPatient {
    key: &'static str,
    org: &'static str,
    name: &'static str,
    email: Option<&'static str>,
    birthdate: (i32, u32, u32),
    sex: &'static str,
    risk: &'static str,
    team: &'static str,
}

const PATIENTS: &[DemoPatient] = &[
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
const CAREGIVERS: &[(&str, &str, &str, bool)] = &[
    ("fam1", "maria.cuidadora@fam001.demo", "child", true),
    ("clin2", "jose.cuidador@clin001.demo", "spouse", true),
];

/// Each organization's clinician, who handles its demo alerts and labels.
const ORG_CLINICIAN: &[(&str, &str)] = &[
    ("FAM-001", "dr.ramos@fam001.demo"),
    ("CLIN-001", "dra.lopez@clin001.demo"),
    ("OPS-001", "dr.prueba@ops001.demo"),
];

/// Demo alerts, applied to the first three patients of each organization:
/// patient index, type, level, status, hours ago, description.
const ALERTS: &[(usize, &str, &str, &str, i64, &str)] = &[
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
const SCALAR_SIGNALS: &[&str] = &["HR", "SpO2", "BP"];
/// ECG sample rate.
const ECG_RATE_HZ: u32 = 250;
/// Minutes of scalar history.
const SCALAR_MINUTES: i64 = 24 * 60;
/// Seconds of ECG history.
const ECG_SECONDS: u32 = 10 * 60;

/// Loads the demo; the base seed must have run. One transaction: all or nothing.
pub async fn demo(pool: &PgPool, passwords: &DemoPasswords) -> Result<DemoReport, SeedError> {
    let mut report = DemoReport::default();
    let mut tx = pool.begin().await?;
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("truncating to a minute is in range");

    if ensure_superadmin(
        &mut tx,
        ADMIN_EMAIL,
        "Administrador HeartGuard",
        &passwords.admin,
    )
    .await?
    {
        report.created.push(ADMIN_EMAIL.to_owned());
    } else {
        report.existing.push(ADMIN_EMAIL.to_owned());
    }

    for (code, name) in ORGS {
        sqlx::query(
            "insert into organizations (id, code, name) values ($1, $2, $3) on conflict do nothing",
        )
        .bind(org_id(code))
        .bind(code)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    }

    // One hash for every demo account created in this run: argon2 is slow by design.
    let mut demo_hash: Option<String> = None;
    for u in USERS {
        if user_exists(&mut tx, u.email).await? {
            report.existing.push(u.email.to_owned());
        } else {
            let hash = match &demo_hash {
                Some(h) => h.clone(),
                None => demo_hash.insert(password::hash(&passwords.demo)?).clone(),
            };
            sqlx::query(
                "insert into users (id, name, email, password_hash, status, email_verified_at)
                 values ($1, $2, $3, $4, 'active', now())",
            )
            .bind(user_id(u.email))
            .bind(u.name)
            .bind(u.email)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
            report.created.push(u.email.to_owned());
        }
        let id = existing_user_id(&mut tx, u.email).await?;
        if let Some(role) = u.role {
            sqlx::query(
                "insert into user_role (user_id, role_id) select $1, id from roles where name = $2
                 on conflict do nothing",
            )
            .bind(id)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        }
        for (org, role) in u.orgs {
            sqlx::query(
                "insert into user_org_membership (org_id, user_id, org_role) values ($1, $2, $3)
                 on conflict do nothing",
            )
            .bind(org_id(org))
            .bind(id)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        }
    }

    for (org, name, members) in TEAMS {
        sqlx::query(
            "insert into care_teams (id, org_id, name) values ($1, $2, $3) on conflict do nothing",
        )
        .bind(team_id(org, name))
        .bind(org_id(org))
        .bind(name)
        .execute(&mut *tx)
        .await?;
        for (email, role) in *members {
            let uid = existing_user_id(&mut tx, email).await?;
            sqlx::query(
                "insert into care_team_member (team_id, org_id, user_id, role) values ($1, $2, $3, $4)
                 on conflict do nothing",
            )
            .bind(team_id(org, name))
            .bind(org_id(org))
            .bind(uid)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        }
    }

    for (n, p) in PATIENTS.iter().enumerate() {
        patient(
            &mut tx,
            p,
            n as u64,
            passwords,
            &mut demo_hash,
            &mut report,
            now,
        )
        .await?;
    }

    for (patient_key, email, relationship, primary) in CAREGIVERS {
        let p = PATIENTS
            .iter()
            .find(|p| p.key == *patient_key)
            .expect("caregiver links name demo patients");
        let uid = existing_user_id(&mut tx, email).await?;
        sqlx::query(
            "insert into caregiver_patient (id, org_id, patient_id, user_id, relationship, is_primary,
                                            started_at, note)
             values ($1, $2, $3, $4, $5, $6, $7, 'Cuidador(a) de demostración')
             on conflict do nothing",
        )
        .bind(seed_id(&format!("caregiver:{patient_key}:{email}")))
        .bind(org_id(p.org))
        .bind(patient_id(p.key))
        .bind(uid)
        .bind(relationship)
        .bind(primary)
        .bind(now - Duration::days(90))
        .execute(&mut *tx)
        .await?;
    }

    for (org, clinician) in ORG_CLINICIAN {
        let uid = existing_user_id(&mut tx, clinician).await?;
        let patients: Vec<&DemoPatient> = PATIENTS.iter().filter(|p| p.org == *org).collect();
        alerts(&mut tx, org, &patients, uid, now).await?;
        labels(&mut tx, org, &patients, uid, now).await?;
    }

    tx.commit().await?;
    Ok(report)
}

fn org_id(code: &str) -> Uuid {
    seed_id(&format!("org:{code}"))
}

fn user_id(email: &str) -> Uuid {
    seed_id(&format!("user:{}", email.to_lowercase()))
}

fn team_id(org: &str, name: &str) -> Uuid {
    seed_id(&format!("team:{org}:{name}"))
}

fn patient_id(key: &str) -> Uuid {
    seed_id(&format!("patient:{key}"))
}

fn stream_id(patient_key: &str, signal: &str) -> Uuid {
    seed_id(&format!("stream:{patient_key}:{signal}"))
}

async fn existing_user_id(conn: &mut PgConnection, email: &str) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar("select id from users where lower(email) = lower($1)")
        .bind(email)
        .fetch_one(conn)
        .await
}

async fn patient(
    tx: &mut PgConnection,
    p: &DemoPatient,
    n: u64,
    passwords: &DemoPasswords,
    demo_hash: &mut Option<String>,
    report: &mut DemoReport,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    let pid = patient_id(p.key);
    let oid = org_id(p.org);
    let exists: bool = sqlx::query_scalar("select exists(select 1 from patients where id = $1)")
        .bind(pid)
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        let hash = match p.email {
            Some(_) => Some(match demo_hash {
                Some(h) => h.clone(),
                None => demo_hash.insert(password::hash(&passwords.demo)?).clone(),
            }),
            None => None,
        };
        let (y, m, d) = p.birthdate;
        sqlx::query(
            "insert into patients (id, org_id, person_name, email, password_hash, email_verified,
                                   birthdate, sex, risk_level)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(pid)
        .bind(oid)
        .bind(p.name)
        .bind(p.email)
        .bind(hash)
        .bind(p.email.is_some())
        .bind(NaiveDate::from_ymd_opt(y, m, d).expect("demo birthdates are valid"))
        .bind(p.sex)
        .bind(p.risk)
        .execute(&mut *tx)
        .await?;
        if let Some(email) = p.email {
            report.created.push(email.to_owned());
        }
    } else if let Some(email) = p.email {
        report.existing.push(email.to_owned());
    }
    sqlx::query(
        "insert into patient_care_team (patient_id, team_id, org_id) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(pid)
    .bind(team_id(p.org, p.team))
    .bind(oid)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into patient_locations (id, org_id, patient_id, ts, latitude, longitude, accuracy_m, source)
         values ($1, $2, $3, $4, $5, $6, 25, 'demo') on conflict do nothing",
    )
    .bind(seed_id(&format!("location:{}", p.key)))
    .bind(oid)
    .bind(pid)
    .bind(now - Duration::minutes(30))
    .bind(19.4326 + n as f64 * 0.01)
    .bind(-99.1332 - n as f64 * 0.01)
    .execute(&mut *tx)
    .await?;

    let device = seed_id(&format!("device:{}", p.key));
    sqlx::query(
        "insert into devices (id, org_id, serial, brand, model, device_type, owner_patient_id, registered_at)
         values ($1, $2, $3, 'HeartGuard', 'HG Band 2', 'WEARABLE_MULTI', $4, $5) on conflict do nothing",
    )
    .bind(device)
    .bind(oid)
    .bind(format!(
        "HG-{}-{:02}",
        p.org.replace('-', ""),
        p.key.trim_start_matches(char::is_alphabetic)
    ))
    .bind(pid)
    .bind(now - Duration::days(30))
    .execute(&mut *tx)
    .await?;

    let started = now - Duration::days(2);
    for signal in SCALAR_SIGNALS.iter().copied().chain(["ECG"]) {
        let rate = if signal == "ECG" {
            f64::from(ECG_RATE_HZ)
        } else {
            1.0 / 60.0
        };
        sqlx::query(
            "insert into signal_streams (id, org_id, patient_id, device_id, signal_type, sample_rate_hz, started_at)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
        )
        .bind(stream_id(p.key, signal))
        .bind(oid)
        .bind(pid)
        .bind(device)
        .bind(signal)
        .bind(rate)
        .bind(started)
        .execute(&mut *tx)
        .await?;
    }
    samples(tx, p.key, n, now).await
}

async fn stream_is_empty(
    tx: &mut PgConnection,
    stream: Uuid,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let sql = match table {
        "vital_samples" => "select not exists(select 1 from vital_samples where stream_id = $1)",
        _ => "select not exists(select 1 from waveform_blocks where stream_id = $1)",
    };
    sqlx::query_scalar(sql).bind(stream).fetch_one(tx).await
}

async fn samples(
    tx: &mut PgConnection,
    key: &str,
    n: u64,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    sqlx::query("select ensure_sample_partitions(($1::timestamptz at time zone 'UTC')::date - 1, current_date + 7)")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut vitals = VitalsGenerator::new(n + 1);
    for signal in SCALAR_SIGNALS {
        let stream = stream_id(key, signal);
        if !stream_is_empty(tx, stream, "vital_samples").await? {
            continue;
        }
        let mut ts = Vec::with_capacity(SCALAR_MINUTES as usize);
        let mut values = Vec::with_capacity(SCALAR_MINUTES as usize);
        let mut values2 = Vec::with_capacity(SCALAR_MINUTES as usize);
        for i in (0..SCALAR_MINUTES).rev() {
            let t = now - Duration::minutes(i);
            let minute_of_day = (t.timestamp() / 60).rem_euclid(1440) as u32;
            let (v, v2) = match *signal {
                "HR" => vitals.heart_rate(minute_of_day),
                "SpO2" => vitals.spo2(),
                _ => vitals.blood_pressure(minute_of_day),
            };
            ts.push(t);
            values.push(v);
            values2.push(v2);
        }
        sqlx::query(
            "insert into vital_samples (stream_id, ts, value, value2)
             select $1, * from unnest($2::timestamptz[], $3::real[], $4::real[])",
        )
        .bind(stream)
        .bind(&ts)
        .bind(&values)
        .bind(&values2)
        .execute(&mut *tx)
        .await?;
    }
    let ecg_stream = stream_id(key, "ECG");
    if stream_is_empty(tx, ecg_stream, "waveform_blocks").await? {
        let wave = vitals.ecg(ECG_SECONDS, ECG_RATE_HZ);
        let start = now - Duration::seconds(i64::from(ECG_SECONDS));
        let (starts, blocks): (Vec<DateTime<Utc>>, Vec<Vec<u8>>) = wave
            .chunks(ECG_RATE_HZ as usize)
            .enumerate()
            .map(|(i, chunk)| (start + Duration::seconds(i as i64), pack_f32_le(chunk)))
            .unzip();
        sqlx::query(
            "insert into waveform_blocks (stream_id, start_ts, sample_rate_hz, sample_count, samples)
             select $1, t, $3, $4, s from unnest($2::timestamptz[], $5::bytea[]) as u(t, s)",
        )
        .bind(ecg_stream)
        .bind(&starts)
        .bind(ECG_RATE_HZ as f32)
        .bind(ECG_RATE_HZ as i32)
        .bind(&blocks)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn alerts(
    tx: &mut PgConnection,
    org: &str,
    patients: &[&DemoPatient],
    clinician: Uuid,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    let oid = org_id(org);
    for (idx, alert_type, level, status, hours_ago, description) in ALERTS {
        let p = patients[*idx];
        let id = seed_id(&format!("alert:{org}:{}:{alert_type}:{status}", p.key));
        let created = now - Duration::hours(*hours_ago);
        let reached = |step: &str| {
            let order = ["created", "notified", "ack", "resolved", "closed"];
            order.iter().position(|s| s == status) >= order.iter().position(|s| *s == step)
        };
        let acked = reached("ack").then(|| created + Duration::minutes(4));
        let resolved = reached("resolved").then(|| created + Duration::minutes(35));
        let closed = reached("closed").then(|| created + Duration::hours(2));
        let inserted = sqlx::query(
            "insert into alerts (id, org_id, patient_id, alert_type, alert_level, status, description,
                                 dedup_key, last_seen_at, created_at, updated_at, acknowledged_at,
                                 resolved_at, closed_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, $12)
             on conflict do nothing",
        )
        .bind(id)
        .bind(oid)
        .bind(patient_id(p.key))
        .bind(alert_type)
        .bind(level)
        .bind(status)
        .bind(description)
        .bind(format!("{}:{alert_type}", patient_id(p.key)))
        .bind(created)
        .bind(acked)
        .bind(resolved)
        .bind(closed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        sqlx::query(
            "insert into alert_assignment (org_id, alert_id, assignee_user_id, assigned_at)
             values ($1, $2, $3, $4)",
        )
        .bind(oid)
        .bind(id)
        .bind(clinician)
        .bind(created)
        .execute(&mut *tx)
        .await?;
        if reached("notified") {
            sqlx::query(
                "insert into alert_delivery (org_id, alert_id, channel, target, recipient_user_id, status,
                                             attempts, sent_at, created_at)
                 values ($1, $2, 'PUSH', 'demo-device', $3, 'DELIVERED', 1, $4, $4)",
            )
            .bind(oid)
            .bind(id)
            .bind(clinician)
            .bind(created + Duration::seconds(3))
            .execute(&mut *tx)
            .await?;
        }
        if let Some(at) = acked {
            sqlx::query(
                "insert into alert_ack (org_id, alert_id, ack_by, ack_at, note) values ($1, $2, $3, $4, 'Revisando')",
            )
            .bind(oid)
            .bind(id)
            .bind(clinician)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(at) = resolved {
            let outcome = if *status == "closed" {
                "false_positive"
            } else {
                "stabilized"
            };
            sqlx::query(
                "insert into alert_resolution (org_id, alert_id, resolved_by, resolved_at, outcome, note)
                 values ($1, $2, $3, $4, $5, 'Paciente contactado')",
            )
            .bind(oid)
            .bind(id)
            .bind(clinician)
            .bind(at)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

async fn labels(
    tx: &mut PgConnection,
    org: &str,
    patients: &[&DemoPatient],
    clinician: Uuid,
    now: DateTime<Utc>,
) -> Result<(), SeedError> {
    for (idx, event, hours_ago, minutes) in [(0usize, "TACHY", 3i64, 10i64), (1, "AFIB", 6, 30)] {
        let p = patients[idx];
        let onset = now - Duration::hours(hours_ago);
        sqlx::query(
            "insert into ground_truth_labels (id, org_id, patient_id, event_type, onset, offset_at,
                                              annotated_by, source, note)
             values ($1, $2, $3, $4, $5, $6, $7, 'demo', 'Etiqueta de demostración')
             on conflict do nothing",
        )
        .bind(seed_id(&format!("label:{}:{event}", p.key)))
        .bind(org_id(org))
        .bind(patient_id(p.key))
        .bind(event)
        .bind(onset)
        .bind(onset + Duration::minutes(minutes))
        .bind(clinician)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
