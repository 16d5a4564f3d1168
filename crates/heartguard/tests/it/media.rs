//! Photos: type read from the bytes, limits, metadata stripped, who may see and delete which photo,
//! caching, and both stores — a temporary directory and an S3-compatible server (moto) on loopback.

use std::io::Cursor;

use hg_platform::Component;
use hg_test_support::loopback::S3Server;
use img_parts::Bytes;
use img_parts::ImageEXIF;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{error_id, names_field};
use crate::world::World;

const MEDIA: Component = Component::Media;

/// A `w`×`h` image in `format`.
fn image(format: image::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 40) as u8, (y * 60) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A JPEG carrying an EXIF block with a (fake) GPS position.
fn jpeg_with_location() -> Vec<u8> {
    let mut jpeg =
        img_parts::jpeg::Jpeg::from_bytes(Bytes::from(image(image::ImageFormat::Jpeg, 4, 3)))
            .unwrap();
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(b"MM\0*GPS-LATITUDE-40.4168-LONGITUDE-3.7038");
    jpeg.set_exif(Some(Bytes::from(exif)));
    let out = jpeg.encoder().bytes().to_vec();
    assert!(
        contains(&out, b"GPS-LATITUDE"),
        "the fixture carries a location"
    );
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Uploads `bytes` as `file_name` (declared `declared`) for `owner` as `token`.
async fn upload(
    w: &World,
    token: &str,
    owner: Option<(&str, Uuid)>,
    file_name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(declared)
            .unwrap(),
    );
    if let Some((kind, id)) = owner {
        form = form
            .text("owner_kind", kind.to_owned())
            .text("owner_id", id.to_string());
    }
    let resp = w
        .app
        .client
        .post(w.app.url(MEDIA, "/media"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `GET /media/{id}` as `token`: status, headers and bytes.
async fn fetch(
    w: &World,
    token: &str,
    id: &str,
    etag: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = w
        .app
        .client
        .get(w.app.url(MEDIA, &format!("/media/{id}")))
        .bearer_auth(token);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn rows(w: &World) -> i64 {
    sqlx::query_scalar("select count(*) from media_objects")
        .fetch_one(&w.app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn images_are_typed_by_their_bytes_stripped_of_location_and_other_files_refused() {
    let dir = std::env::temp_dir().join(format!("hg-media-{}", Uuid::new_v4().simple()));
    let url = format!("file://{}", dir.display());
    let w = World::with_env(
        &[MEDIA, Component::Patient],
        &[("MEDIA_STORE_URL", &url), ("MEDIA_MAX_FILE_SIZE_MB", "1")],
    )
    .await;
    let p1 = Some(("patient", w.p1));
    for (format, ct) in [
        (image::ImageFormat::Png, "image/png"),
        (image::ImageFormat::Jpeg, "image/jpeg"),
        (image::ImageFormat::WebP, "image/webp"),
    ] {
        let (status, body) = upload(&w, &w.admin_a, p1, "photo", ct, image(format, 8, 6)).await;
        assert_eq!(status, 201, "{ct}: {body}");
        assert_eq!(body["data"]["content_type"], ct);
        assert_eq!(body["data"]["org_id"], w.org_a.to_string());
    }
    // A PNG renamed .jpg and declared as JPEG is still a PNG.
    let (status, png) = upload(
        &w,
        &w.admin_a,
        p1,
        "face.jpg",
        "image/jpeg",
        image(image::ImageFormat::Png, 5, 5),
    )
    .await;
    assert_eq!(status, 201, "{png}");
    assert_eq!(png["data"]["content_type"], "image/png");
    let id = png["data"]["id"].as_str().unwrap().to_owned();
    let (status, headers, bytes) = fetch(&w, &w.doctor_a, &id, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    assert!(image::load_from_memory(&bytes).is_ok());
    // The patient's record points at the latest photo.
    let (_, patient) = w
        .request(Method::GET, &format!("/patients/{}", w.p1))
        .on(Component::Patient)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(patient["data"]["profile_photo_url"], format!("/media/{id}"));

    // EXIF (with its GPS block) is removed; the image still decodes.
    let (status, jpeg) = upload(
        &w,
        &w.admin_a,
        p1,
        "gps.jpg",
        "image/jpeg",
        jpeg_with_location(),
    )
    .await;
    assert_eq!(status, 201, "{jpeg}");
    let (_, _, stored) = fetch(&w, &w.admin_a, jpeg["data"]["id"].as_str().unwrap(), None).await;
    assert!(!contains(&stored, b"GPS-LATITUDE"), "location stripped");
    assert!(
        img_parts::jpeg::Jpeg::from_bytes(Bytes::from(stored.clone()))
            .unwrap()
            .exif()
            .is_none()
    );
    assert!(image::load_from_memory(&stored).is_ok());

    // Refused, and nothing stored: HTML, an SVG with a script, too large, too many pixels.
    let (before_rows, before_files) = (rows(&w).await, files_under(&dir));
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    for (name, ct, bytes) in [
        (
            "page.html",
            "text/html",
            b"<!doctype html><script>alert(1)</script>".to_vec(),
        ),
        ("logo.svg", "image/svg+xml", svg.clone()),
        ("logo.png", "image/png", svg),
    ] {
        let (status, e) = upload(&w, &w.admin_a, p1, name, ct, bytes).await;
        assert_eq!(
            (status, error_id(&e)),
            (415, "HG-MEDIA-TYPE"),
            "{name}: {e}"
        );
    }
    let mut big = image(image::ImageFormat::Png, 4, 4);
    big.resize(1024 * 1024 + 10, 0);
    let (status, e) = upload(&w, &w.admin_a, p1, "big.png", "image/png", big).await;
    assert_eq!((status, error_id(&e)), (413, "HG-MEDIA-TOO-LARGE"), "{e}");
    let (status, e) = upload(
        &w,
        &w.admin_a,
        p1,
        "wide.png",
        "image/png",
        image(image::ImageFormat::Png, 9000, 1),
    )
    .await;
    assert_eq!((status, error_id(&e)), (422, "HG-MEDIA-IMAGE"), "{e}");
    assert_eq!(
        (rows(&w).await, files_under(&dir)),
        (before_rows, before_files)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn photos_are_seen_and_deleted_only_by_whom_they_concern() {
    let w = World::new(&[MEDIA]).await;
    let png = || image(image::ImageFormat::Png, 3, 3);
    let (_, p) = upload(
        &w,
        &w.admin_a,
        Some(("patient", w.p1)),
        "p.png",
        "image/png",
        png(),
    )
    .await;
    let patient_photo = p["data"]["id"].as_str().unwrap().to_owned();
    // A user's own photo (no owner given), seen by the members of their organizations.
    let (status, u) = upload(&w, &w.doctor_a, None, "me.png", "image/png", png()).await;
    assert_eq!(status, 201, "{u}");
    assert_eq!(
        (
            u["data"]["owner_kind"].as_str(),
            u["data"]["org_id"].as_str()
        ),
        (Some("user"), None)
    );
    let user_photo = u["data"]["id"].as_str().unwrap().to_owned();
    let url: Option<String> =
        sqlx::query_scalar("select profile_photo_url from users where id = $1")
            .bind(w.doctor_a.id)
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(url, Some(format!("/media/{user_photo}")));

    for (who, id, seen) in [
        (&w.doctor_a, &patient_photo, true),        // p1's care team
        (&w.other_doctor_a, &patient_photo, false), // same organization, not the team
        (&w.admin_b, &patient_photo, false),        // another organization
        (&w.admin_a, &user_photo, true),            // a member of doctor A's organization
        (&w.doctor_b, &user_photo, false),
    ] {
        let (status, _, body) = fetch(&w, who, id, None).await;
        if seen {
            assert_eq!(status, 200);
        } else {
            let e: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!((status, error_id(&e)), (404, "HG-MEDIA-NOT-FOUND"));
        }
    }
    // Cached by its ETag.
    let (_, headers, _) = fetch(&w, &w.doctor_a, &patient_photo, None).await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, body) = fetch(&w, &w.doctor_a, &patient_photo, Some(&etag)).await;
    assert_eq!((status, body.len()), (304, 0));

    // Uploading for someone one may not manage: another organization's patient, another user, a
    // viewer without media.manage.
    let (status, e) = upload(
        &w,
        &w.admin_b,
        Some(("patient", w.p1)),
        "x.png",
        "image/png",
        png(),
    )
    .await;
    assert_eq!((status, error_id(&e)), (404, "HG-PATIENT-NOT-FOUND"), "{e}");
    let (status, _) = upload(
        &w,
        &w.doctor_b,
        Some(("user", w.doctor_a.id)),
        "x.png",
        "image/png",
        png(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, e) = upload(
        &w,
        &w.viewer_a,
        Some(("patient", w.p1)),
        "x.png",
        "image/png",
        png(),
    )
    .await;
    assert_eq!((status, error_id(&e)), (403, "HG-FORBIDDEN"), "{e}");
    // Validation.
    let (status, e) = upload(
        &w,
        &w.admin_a,
        Some(("org", w.p1)),
        "x.png",
        "image/png",
        png(),
    )
    .await;
    assert_eq!((status, names_field(&e, "owner_kind")), (400, true), "{e}");
    let resp = w
        .app
        .client
        .post(w.app.url(MEDIA, "/media"))
        .bearer_auth(&w.admin_a.token)
        .multipart(Form::new().text("owner_kind", "patient"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: Value = resp.json().await.unwrap();
    assert!(names_field(&e, "file"), "{e}");
    let resp = w
        .app
        .client
        .post(w.app.url(MEDIA, "/media"))
        .bearer_auth(&w.admin_a.token)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(error_id(&e), "HG-MEDIA-FORM");

    // Deleting: not by another organization; by the patient's administrator.
    let path = format!("/media/{patient_photo}");
    let (status, e) = w
        .request(Method::DELETE, &path)
        .on(MEDIA)
        .token(&w.admin_b)
        .send()
        .await;
    assert_eq!((status, error_id(&e)), (404, "HG-MEDIA-NOT-FOUND"));
    let (status, _) = w
        .request(Method::DELETE, &path)
        .on(MEDIA)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = fetch(&w, &w.admin_a, &patient_photo, None).await;
    assert_eq!(status, 404);
    let url: Option<String> =
        sqlx::query_scalar("select profile_photo_url from patients where id = $1")
            .bind(w.p1)
            .fetch_one(&w.app.db.pool)
            .await
            .unwrap();
    assert_eq!(url, None, "the record no longer points at it");
    let actions: Vec<String> = sqlx::query_scalar(
        "select payload->>'action' from outbox_events where payload->>'action' like 'MEDIA_%' order by created_at",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["MEDIA_UPLOAD", "MEDIA_UPLOAD", "MEDIA_DELETE"]);

    // Every route needs a token; errors come in XML when asked.
    w.assert_anonymous_refused(&[
        (Method::POST, "/media".into()),
        (Method::GET, format!("/media/{user_photo}")),
        (Method::DELETE, format!("/media/{user_photo}")),
    ])
    .await;
    let resp = w
        .app
        .client
        .get(w.app.url(MEDIA, &format!("/media/{}", Uuid::new_v4())))
        .bearer_auth(&w.admin_a.token)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<id>HG-MEDIA-NOT-FOUND</id>")
    );
}

#[tokio::test]
async fn an_s3_compatible_bucket_stores_reads_and_deletes_the_bytes() {
    let s3 = S3Server::start().await;
    let (store, endpoint) = (format!("s3://{}/photos", s3.bucket), s3.url(""));
    let w = World::with_env(
        &[MEDIA],
        &[
            ("MEDIA_STORE_URL", &store),
            ("MEDIA_S3_ENDPOINT", &endpoint),
            ("MEDIA_S3_REGION", "us-east-1"),
            ("MEDIA_S3_ACCESS_KEY_ID", "testing"),
            ("MEDIA_S3_SECRET_ACCESS_KEY", "testing"),
        ],
    )
    .await;
    let webp = image(image::ImageFormat::WebP, 7, 5);
    let (status, body) = upload(
        &w,
        &w.admin_a,
        Some(("patient", w.p1)),
        "p.webp",
        "image/webp",
        webp.clone(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let keys = s3.keys().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with(&format!("photos/patient/{}/{id}", w.p1)),
        "{keys:?}"
    );
    let (status, headers, bytes) = fetch(&w, &w.doctor_a, &id, None).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "image/webp")
    );
    assert_eq!(bytes, webp, "a WebP without metadata is stored as sent");
    let (status, _) = w
        .request(Method::DELETE, &format!("/media/{id}"))
        .on(MEDIA)
        .token(&w.admin_a)
        .send()
        .await;
    assert_eq!(status, 204);
    assert!(s3.keys().await.is_empty(), "the object is removed");
}
