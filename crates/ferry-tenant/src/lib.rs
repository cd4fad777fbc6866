//! The tenant store: where migrated data lands (`<tenant>/database/…`,
//! `<tenant>/documents/…`), addressed by URL through `object_store` so the
//! worker streams the same way to a local folder, S3 or memory.

pub mod source;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
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
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()?;
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
