//! The tenant store: where migrated data lands (`<tenant>/database/…`,
//! `<tenant>/documents/…`), addressed by URL through `object_store` so the
//! worker streams the same way to a local folder, S3 or memory.

pub mod source;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, path::Path};

#[derive(Debug, thiserror::Error)]
pub enum TenantStoreError {
    #[error("unsupported tenant store URL '{0}': use file://, s3:// or memory://")]
    UnsupportedUrl(String),
    #[error("cannot create the tenant store folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("tenant store did not answer within {0:?}")]
    Timeout(Duration),
}

/// A tenant store; cheap to clone.
#[derive(Clone, Debug)]
pub struct TenantStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
    /// The folder of a `file://` store.
    local_root: Option<std::path::PathBuf>,
}

impl TenantStore {
    /// Opens the store at `url`. For `s3://bucket/prefix`, credentials,
    /// region and endpoint come from the usual `AWS_*` variables.
    pub fn open(url: &str) -> Result<TenantStore, TenantStoreError> {
        let parsed =
            url::Url::parse(url).map_err(|_| TenantStoreError::UnsupportedUrl(url.to_owned()))?;
        let mut local_root = None;
        let (inner, kind): (Arc<dyn ObjectStore>, _) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| TenantStoreError::UnsupportedUrl(url.to_owned()))?;
                std::fs::create_dir_all(&dir).map_err(|source| TenantStoreError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
                // Writes go to a temporary file renamed into place, so a crash
                // never leaves a half-written document under its final name.
                let store = LocalFileSystem::new_with_prefix(&dir)?;
                local_root = Some(dir);
                (Arc::new(store), "file")
            }
            "s3" => {
                let bucket = parsed.host_str().unwrap_or_default();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if std::env::var_os("AWS_UNSIGNED_PAYLOAD").is_none() {
                    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
                    builder = builder
                        .with_unsigned_payload(unsigned_payload_is_safe(endpoint.as_deref()));
                }
                let s3 = builder.build()?;
                let prefix = parsed.path().trim_matches('/');
                if prefix.is_empty() {
                    (Arc::new(s3), "s3")
                } else {
                    (Arc::new(PrefixStore::new(s3, prefix)), "s3")
                }
            }
            "memory" => (Arc::new(InMemory::new()), "memory"),
            _ => return Err(TenantStoreError::UnsupportedUrl(url.to_owned())),
        };
        Ok(TenantStore {
            inner,
            kind,
            local_root,
        })
    }

    /// The folder of a `file://` store (`None` for others). A process killed
    /// while writing leaves its staging file (`<name>#<n>`) there, invisible
    /// through `object_store`; the upload job removes them from this folder.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// One cheap request, for `/readyz`: a HEAD of an object that need not
    /// exist. "Not found" proves the store answered.
    pub async fn ping(&self, timeout: Duration) -> Result<(), TenantStoreError> {
        let probe = Path::from(".ferry-readyz");
        match tokio::time::timeout(timeout, self.inner.head(&probe)).await {
            Err(_) => Err(TenantStoreError::Timeout(timeout)),
            Ok(Ok(_)) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
        }
    }
}

/// Whether writes may skip signing their bodies (`UNSIGNED-PAYLOAD`) when
/// `AWS_UNSIGNED_PAYLOAD` does not say: yes when TLS already protects the
/// bytes in transit (AWS itself, any `https://` endpoint) or when they never
/// leave the machine (a loopback endpoint). A signed body costs a SHA-256 of
/// every byte in the worker, and another in the server that checks it — on
/// top of the SHA-256 the worker computes anyway to verify the document
/// against the manifest, which is what proves the bytes right. Over plain
/// HTTP to another host the signature is the only integrity check, so it
/// stays.
pub fn unsigned_payload_is_safe(endpoint: Option<&str>) -> bool {
    let Some(endpoint) = endpoint else {
        return true;
    };
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    if url.scheme() == "https" {
        return true;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::PutPayload;

    #[tokio::test]
    async fn file_store_is_created_and_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("tenants");
        let url = url::Url::from_directory_path(&root)
            .expect("url")
            .to_string();
        let store = TenantStore::open(&url).expect("open");
        assert!(root.is_dir());
        store.ping(Duration::from_secs(1)).await.expect("ping");
        let path = Path::parse("acme/documents/a.txt").expect("path");
        store
            .object_store()
            .put(&path, PutPayload::from_static(b"hello"))
            .await
            .expect("put");
        assert_eq!(
            std::fs::read(root.join("acme/documents/a.txt")).expect("read"),
            b"hello"
        );
    }

    #[test]
    fn bodies_are_signed_unless_tls_or_loopback_protects_them() {
        for safe in [
            None,
            Some("https://s3.eu-central-1.amazonaws.com"),
            Some("https://minio.example.com:9000"),
            Some("http://127.0.0.1:9090"),
            Some("http://[::1]:9090"),
            Some("http://localhost:8014"),
        ] {
            assert!(unsigned_payload_is_safe(safe), "{safe:?}");
        }
        for signed in [
            Some("http://minio.internal:9000"),
            Some("http://10.0.0.5"),
            Some("http://127.0.0.1.example.com"),
            Some("not a url"),
        ] {
            assert!(!unsigned_payload_is_safe(signed), "{signed:?}");
        }
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(
            TenantStore::open("ftp://x/y"),
            Err(TenantStoreError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            TenantStore::open("not a url"),
            Err(TenantStoreError::UnsupportedUrl(_))
        ));
    }
}
