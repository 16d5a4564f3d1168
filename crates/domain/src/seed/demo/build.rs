//! Loading the demo installation: organizations, accounts, teams, patients with devices and streams, idempotently.

use super::*;

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
        sqlx::query!(
            "insert into organizations (id, code, name) values ($1, $2, $3) on conflict do nothing",
            org_id(code),
            code,
            name,
        )
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
            sqlx::query!(
                "insert into users (id, name, email, password_hash, status, email_verified_at)
                 values ($1, $2, $3, $4, 'active', now())",
                user_id(u.email),
                u.name,
                u.email,
                hash,
            )
            .execute(&mut *tx)
            .await?;
            report.created.push(u.email.to_owned());
        }
        let id = existing_user_id(&mut tx, u.email).await?;
        if let Some(role) = u.role {
            sqlx::query!(
                "insert into user_role (user_id, role_id) select $1, id from roles where name = $2
                 on conflict do nothing",
                id,
                role,
            )
            .execute(&mut *tx)
            .await?;
        }
        for (org, role) in u.orgs {
            sqlx::query!(
                "insert into user_org_membership (org_id, user_id, org_role) values ($1, $2, $3)
                 on conflict do nothing",
                org_id(org),
                id,
                role,
            )
            .execute(&mut *tx)
            .await?;
        }
    }

    for (org, name, members) in TEAMS {
        sqlx::query!(
            "insert into care_teams (id, org_id, name) values ($1, $2, $3) on conflict do nothing",
            team_id(org, name),
            org_id(org),
            name,
        )
        .execute(&mut *tx)
        .await?;
        for (email, role) in *members {
            let uid = existing_user_id(&mut tx, email).await?;
            sqlx::query!(
                "insert into care_team_member (team_id, org_id, user_id, role) values ($1, $2, $3, $4)
                 on conflict do nothing",
                team_id(org, name),
                org_id(org),
                uid,
                role,
            )
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
        sqlx::query!(
            "insert into caregiver_patient (id, org_id, patient_id, user_id, relationship, is_primary,
                                            started_at, note)
             values ($1, $2, $3, $4, $5, $6, $7, 'Cuidador(a) de demostración')
             on conflict do nothing",
            seed_id(&format!("caregiver:{patient_key}:{email}")),
            org_id(p.org),
            patient_id(p.key),
            uid,
            relationship,
            primary,
            now - Duration::days(90),
        )
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

pub(super) fn org_id(code: &str) -> Uuid {
    seed_id(&format!("org:{code}"))
}

pub(super) fn user_id(email: &str) -> Uuid {
    seed_id(&format!("user:{}", email.to_lowercase()))
}

pub(super) fn team_id(org: &str, name: &str) -> Uuid {
    seed_id(&format!("team:{org}:{name}"))
}

pub(super) fn patient_id(key: &str) -> Uuid {
    seed_id(&format!("patient:{key}"))
}

pub(super) fn stream_id(patient_key: &str, signal: &str) -> Uuid {
    seed_id(&format!("stream:{patient_key}:{signal}"))
}

pub(super) async fn existing_user_id(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!("select id from users where lower(email) = lower($1)", email)
        .fetch_one(conn)
        .await
}

pub(super) async fn patient(
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
    let exists: bool = sqlx::query_scalar!(
        "select exists(select 1 from patients where id = $1) as \"exists!\"",
        pid,
    )
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
        sqlx::query!(
            "insert into patients (id, org_id, person_name, email, password_hash, email_verified,
                                   birthdate, sex, risk_level)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            pid,
            oid,
            p.name,
            p.email,
            hash,
            p.email.is_some(),
            NaiveDate::from_ymd_opt(y, m, d).expect("demo birthdates are valid"),
            p.sex,
            p.risk,
        )
        .execute(&mut *tx)
        .await?;
        if let Some(email) = p.email {
            report.created.push(email.to_owned());
        }
    } else if let Some(email) = p.email {
        report.existing.push(email.to_owned());
    }
    sqlx::query!(
        "insert into patient_care_team (patient_id, team_id, org_id) values ($1, $2, $3)
         on conflict do nothing",
        pid,
        team_id(p.org, p.team),
        oid,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into patient_locations (id, org_id, patient_id, ts, latitude, longitude, accuracy_m, source)
         values ($1, $2, $3, $4, $5, $6, 25, 'demo') on conflict do nothing",
        seed_id(&format!("location:{}", p.key)),
        oid,
        pid,
        now - Duration::minutes(30),
        19.4326 + n as f64 * 0.01,
        -99.1332 - n as f64 * 0.01,
    )
    .execute(&mut *tx)
    .await?;

    let device = seed_id(&format!("device:{}", p.key));
    sqlx::query!(
        "insert into devices (id, org_id, serial, brand, model, device_type, owner_patient_id, registered_at)
         values ($1, $2, $3, 'HeartGuard', 'HG Band 2', 'WEARABLE_MULTI', $4, $5) on conflict do nothing",
        device,
        oid,
        demo_serial(p.org, p.key),
        pid,
        now - Duration::days(30),
    )
    .execute(&mut *tx)
    .await?;

    let started = now - Duration::days(2);
    for signal in SCALAR_SIGNALS.iter().copied().chain(["ECG"]) {
        let rate = if signal == "ECG" {
            f64::from(ECG_RATE_HZ)
        } else {
            1.0 / 60.0
        };
        sqlx::query!(
            "insert into signal_streams (id, org_id, patient_id, device_id, signal_type, sample_rate_hz, started_at)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
            stream_id(p.key, signal),
            oid,
            pid,
            device,
            signal,
            rate,
            started,
        )
        .execute(&mut *tx)
        .await?;
    }
    samples(tx, p.key, n, now).await
}

/// A demo device's serial — `HG`, the organization's code without dashes and the patient's number,
/// `clin1` of `CLIN-001` giving `…-CLIN001-01` — what the device
/// API itself accepts (a `{:02}` of the key's text once padded it with a trailing space).
pub(super) fn demo_serial(org: &str, key: &str) -> String {
    let n: u32 = key
        .trim_start_matches(char::is_alphabetic)
        .parse()
        .unwrap_or(0);
    format!("HG-{}-{n:02}", org.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_serials_are_what_the_device_api_accepts() {
        for p in super::super::data::PATIENTS {
            let serial = demo_serial(p.org, p.key);
            let checked = crate::records::required_text("serial", &serial, 80).unwrap();
            assert_eq!(checked, serial, "{serial:?} has no padding");
            assert!(
                serial
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{serial}"
            );
        }
        let serial = demo_serial("CLIN-001", "clin1");
        assert_eq!(
            serial.split('-').collect::<Vec<_>>(),
            ["HG", "CLIN001", "01"]
        );
    }
}
