//! Where photo bytes live, through the `object_store` crate: a local directory by default
//! (`$HEARTGUARD_DATA_DIR/media`, or `MEDIA_STORE_URL=file:///dir`), or an S3-compatible bucket
//! (`MEDIA_STORE_URL=s3://bucket/prefix`, with `MEDIA_S3_*` or the standard `AWS_*` settings).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hg_platform::config::MediaConfig;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The media component's object store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// For logs and readiness: `file:///…` or `s3://bucket/prefix`.
    pub described: String,
}

impl Store {
    /// Opens the store `cfg` names (a local directory under `data_dir` by default).
    pub fn open(cfg: &MediaConfig, data_dir: &Path) -> Result<Self, String> {
        let url = cfg.store_url.clone();
        match url.as_ref().map(|u| u.scheme()) {
            None | Some("file") => {
                let dir = match &url {
                    Some(u) => u
                        .to_file_path()
                        .map_err(|_| format!("MEDIA_STORE_URL: {u} is not a local path"))?,
                    None => data_dir.join("media"),
                };
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                Ok(Self {
                    inner: Arc::new(fs),
                    described: format!("file://{}", dir.display()),
                })
            }
            Some("s3") => {
                let u = url.as_ref().expect("an s3 URL");
                let bucket = u
                    .host_str()
                    .ok_or("MEDIA_STORE_URL: s3:// needs a bucket")?;
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = &cfg.s3_endpoint {
                    b = b
                        .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                        .with_allow_http(endpoint.scheme() == "http")
                        .with_virtual_hosted_style_request(false);
                }
                if let Some(region) = &cfg.s3_region {
                    b = b.with_region(region);
                }
                if let (Some(id), Some(secret)) = (&cfg.s3_access_key_id, &cfg.s3_secret_access_key)
                {
                    b = b
                        .with_access_key_id(id)
                        .with_secret_access_key(secret.expose());
                }
                let s3: Arc<dyn ObjectStore> =
                    Arc::new(b.build().map_err(|e| format!("MEDIA_STORE_URL: {e}"))?);
                let prefix = u.path().trim_matches('/');
                let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                };
                Ok(Self {
                    inner,
                    described: format!("s3://{bucket}/{prefix}"),
                })
            }
            Some(other) => Err(format!(
                "MEDIA_STORE_URL: {other}:// buckets are not built in; use file:// or s3:// (Google Cloud Storage speaks the S3 API at storage.googleapis.com)"
            )),
        }
    }

    /// Stores `bytes` under `key`.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), String> {
        self.inner
            .put(&Key::from(key), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The bytes under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, String> {
        let got = self
            .inner
            .get(&Key::from(key))
            .await
            .map_err(|e| e.to_string())?;
        got.bytes().await.map_err(|e| e.to_string())
    }

    /// Removes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        match self.inner.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        match self.inner.head(&Key::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}
