//! The notification routes: preferences, push devices, deliveries, the test notification — their
//! validation, 401, other users' and organizations' data, and the XML error.

use super::channels::Browser;
use super::*;
use crate::support::{error_id, names_field};

#[tokio::test]
async fn preferences_default_validate_and_are_each_users_own() {
    let w = world(&[]).await;
    let (status, p) = w
        .request(Method::GET, "/notifications/preferences")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["data"]["default"], true);
    assert_eq!(
        p["data"]["channels"]["critical"],
        json!(["PUSH", "SMS", "EMAIL"])
    );
    assert_eq!(p["data"]["channels"]["low"], json!([]));

    for (body, field) in [
        (
            json!({"channels": {"urgent": ["EMAIL"]}}),
            "channels.urgent",
        ),
        (json!({"channels": {"high": ["FAX"]}}), "channels.high"),
        (
            json!({"channels": {"high": ["SMS", "SMS"]}}),
            "channels.high",
        ),
        (json!({"channels": {"critical": []}}), "channels.critical"),
        (
            json!({"quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "UTC"}}),
            "quiet_hours.start",
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "22:00", "timezone": "UTC"}}),
            "quiet_hours.end",
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}}),
            "quiet_hours.timezone",
        ),
        (json!({"sms_number": "600 111 222"}), "sms_number"),
    ] {
        let (status, e) = w
            .request(Method::PUT, "/notifications/preferences")
            .on(NOTIFY)
            .token(&w.doctor_a)
            .json(body.clone())
            .send()
            .await;
        assert_eq!((status, names_field(&e, field)), (400, true), "{body}: {e}");
    }
    let (status, e) = w
        .request(Method::PUT, "/notifications/preferences")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(json!({"colour": "red"}))
        .send()
        .await;
    assert_eq!(status, 400, "{e}");

    prefer(
        &w,
        &w.doctor_a,
        json!({"channels": {"high": ["SMS"]}, "sms_number": "+34600111222",
               "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Madrid"}}),
    )
    .await;
    let (_, p) = w
        .request(Method::GET, "/notifications/preferences")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(p["data"]["default"], false);
    assert_eq!(p["data"]["channels"]["high"], json!(["SMS"]));
    assert_eq!(
        p["data"]["channels"]["medium"],
        json!(["EMAIL"]),
        "defaults for the rest"
    );
    assert_eq!(p["data"]["quiet_hours"]["start"], "22:00");
    assert_eq!(p["data"]["sms_number"], "+34600111222");
    // Another user still has the defaults; the change is audited without the number.
    let (_, other) = w
        .request(Method::GET, "/notifications/preferences")
        .on(NOTIFY)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(other["data"]["default"], true);
    let audit: Value = sqlx::query_scalar(
        "select payload from outbox_events where payload->>'action' = 'NOTIFICATION_PREFERENCES_CHANGE'",
    )
    .fetch_one(&w.app.db.pool)
    .await
    .unwrap();
    assert!(!audit.to_string().contains("600111222"), "{audit}");
}

#[tokio::test]
async fn push_devices_are_validated_listed_and_removed_by_their_owner_only() {
    let w = world(&[]).await;
    let browser = Browser::new();
    let mut bad_key = browser.registration("https://push.example/sub");
    bad_key["subscription"]["keys"]["p256dh"] = json!("AAAA");
    let mut bad_auth = browser.registration("https://push.example/sub");
    bad_auth["subscription"]["keys"]["auth"] = json!("not base64!");
    let mut bad_endpoint = browser.registration("https://push.example/sub");
    bad_endpoint["subscription"]["endpoint"] = json!("ftp://push.example");
    let mut bad_platform = browser.registration("https://push.example/sub");
    bad_platform["platform"] = json!("ios");
    for (body, field) in [
        (bad_key, "subscription.keys.p256dh"),
        (bad_auth, "subscription.keys.auth"),
        (bad_endpoint, "subscription.endpoint"),
        (bad_platform, "platform"),
    ] {
        let (status, e) = w
            .request(Method::POST, "/notifications/push-devices")
            .on(NOTIFY)
            .token(&w.doctor_a)
            .json(body)
            .send()
            .await;
        assert_eq!(
            (status, names_field(&e, field)),
            (400, true),
            "{field}: {e}"
        );
    }
    let (status, d) = w
        .request(Method::POST, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(browser.registration("https://push.example/sub"))
        .send()
        .await;
    assert_eq!(status, 201, "{d}");
    let id = d["data"]["id"].as_str().unwrap().to_owned();
    // Registering again refreshes the same device.
    let (status, again) = w
        .request(Method::POST, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .json(browser.registration("https://push.example/sub"))
        .send()
        .await;
    assert_eq!(
        (status, again["data"]["id"].as_str()),
        (201, Some(id.as_str()))
    );
    let (_, theirs) = w
        .request(Method::GET, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_b)
        .send()
        .await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    let (status, e) = w
        .request(Method::DELETE, &format!("/notifications/push-devices/{id}"))
        .on(NOTIFY)
        .token(&w.doctor_b)
        .send()
        .await;
    assert_eq!((status, error_id(&e)), (404, "HG-PUSH-DEVICE-NOT-FOUND"));
    let (status, _) = w
        .request(Method::DELETE, &format!("/notifications/push-devices/{id}"))
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(status, 204);
    let (_, mine) = w
        .request(Method::GET, "/notifications/push-devices")
        .on(NOTIFY)
        .token(&w.doctor_a)
        .send()
        .await;
    assert_eq!(mine["data"][0]["active"], false);
}

#[tokio::test]
async fn deliveries_follow_the_alerts_scope_and_every_route_needs_a_token() {
    let w = world(&[]).await;
    w.assert_anonymous_refused(&[
        (Method::GET, "/notifications/preferences".into()),
        (Method::PUT, "/notifications/preferences".into()),
        (Method::GET, "/notifications/push-devices".into()),
        (Method::POST, "/notifications/push-devices".into()),
        (
            Method::DELETE,
            format!("/notifications/push-devices/{}", Uuid::new_v4()),
        ),
        (Method::GET, "/notifications/vapid-key".into()),
        (
            Method::GET,
            format!("/notifications/deliveries?alert_id={}", Uuid::new_v4()),
        ),
        (Method::POST, "/notifications/test".into()),
    ])
    .await;
    let alert = raise(&w, "TACHY", "high").await;
    notifier_caught_up(&w).await;
    let (status, list) = w
        .request(
            Method::GET,
            &format!("/notifications/deliveries?alert_id={alert}"),
        )
        .on(NOTIFY)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 200, "{list}");
    for who in [&w.admin_b, &w.doctor_b] {
        let (status, e) = w
            .request(
                Method::GET,
                &format!("/notifications/deliveries?alert_id={alert}"),
            )
            .on(NOTIFY)
            .token(who)
            .send()
            .await;
        assert_eq!((status, error_id(&e)), (404, "HG-ALERT-NOT-FOUND"));
    }
    for (query, field) in [
        ("", "alert_id"),
        ("?alert_id=nope", "alert_id"),
        ("?alert_id=00000000-0000-0000-0000-000000000000&x=1", "x"),
    ] {
        let (status, e) = w
            .request(Method::GET, &format!("/notifications/deliveries{query}"))
            .on(NOTIFY)
            .token(&w.doctor_a)
            .send()
            .await;
        assert_eq!(
            (status, names_field(&e, field)),
            (400, true),
            "{query}: {e}"
        );
    }
    let resp = w
        .app
        .client
        .get(w.app.url(NOTIFY, "/notifications/deliveries?alert_id=nope"))
        .bearer_auth(&w.doctor_a.token)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<id>HG-VALIDATION</id>") && xml.contains("alert_id"),
        "{xml}"
    );
}

#[tokio::test]
async fn a_test_notification_reaches_the_caller_at_once_without_queueing() {
    let smtp = SmtpServer::start(SmtpTls::StartTls);
    let env = smtp_env(&smtp);
    let w = world(&pairs(&env)).await;
    let (status, r) = w
        .request(Method::POST, "/notifications/test")
        .on(NOTIFY)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 200, "{r}");
    // Defaults for critical: push (no device), SMS (none configured), e-mail.
    assert_eq!(r["data"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["data"][0]["channel"], "EMAIL");
    assert_eq!(r["data"][0]["ok"], true, "{r}");
    let got = smtp.wait_for(1, 10).await;
    assert_eq!(got[0].rcpt_tos, ["admin.a@example.org"]);
    assert!(got[0].data.contains("prueba"), "{}", got[0].data);
    let queued: i64 = sqlx::query_scalar("select count(*) from alert_delivery")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);
}
