//! Reachability of a source installation's database dump and document
//! archive (pre-flight check 8). Only answers "can we read it?": the transfer
//! itself streams through the same `object_store` implementations.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// Opens the store behind a source URL and the path inside it.
pub fn open_source(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "file" => {
            let local = parsed
                .to_file_path()
                .map_err(|_| "not a local file path".to_owned())?;
            let store = LocalFileSystem::new();
            let path = Path::from_absolute_path(&local).map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path))
        }
        "s3" => {
            let bucket = parsed.host_str().unwrap_or_default();
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| e.to_string())?;
            let path =
                Path::parse(parsed.path().trim_start_matches('/')).map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path))
        }
        "http" | "https" => {
            let base = format!(
                "{}://{}",
                parsed.scheme(),
                parsed.host_str().unwrap_or_default()
            );
            let base = match parsed.port() {
                Some(p) => format!("{base}:{p}"),
                None => base,
            };
            let store = HttpBuilder::new()
                .with_url(base)
                .build()
                .map_err(|e| e.to_string())?;
            let path =
                Path::parse(parsed.path().trim_start_matches('/')).map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path))
        }
        other => Err(format!("no reader for '{other}://' sources")),
    }
}

/// `Ok` when the object at `url` exists, or (for a prefix ending in `/`)
/// when anything can be listed under it.
pub async fn probe_source(url: &str, timeout: Duration) -> Result<(), String> {
    let (store, path) = open_source(url)?;
    let check = async {
        if url.ends_with('/') {
            if let Ok(local) = url::Url::parse(url)
                .and_then(|u| u.to_file_path().map_err(|_| url::ParseError::EmptyHost))
            {
                // An empty archive folder is reachable; listing would say
                // nothing about it.
                return if local.is_dir() {
                    Ok(())
                } else {
                    Err("folder not found".to_owned())
                };
            }
            store
                .list_with_delimiter(Some(&path))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            store.head(&path).await.map(|_| ()).map_err(|e| match e {
                object_store::Error::NotFound { .. } => "not found".to_owned(),
                other => other.to_string(),
            })
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_files_and_folders() {
        let dir = tempfile::tempdir().expect("dir");
        let dump = dir.path().join("db.dump");
        std::fs::write(&dump, b"x").expect("write");
        let t = Duration::from_secs(2);
        let file_url = url::Url::from_file_path(&dump).expect("url").to_string();
        let dir_url = url::Url::from_directory_path(dir.path())
            .expect("url")
            .to_string();
        assert_eq!(probe_source(&file_url, t).await, Ok(()));
        assert_eq!(probe_source(&dir_url, t).await, Ok(()));
        let missing = url::Url::from_file_path(dir.path().join("nope.dump"))
            .expect("url")
            .to_string();
        assert_eq!(probe_source(&missing, t).await, Err("not found".to_owned()));
        let missing_dir = format!("{dir_url}nope/");
        assert!(probe_source(&missing_dir, t).await.is_err());
        assert!(probe_source("ftp://x/y", t).await.is_err());
    }
}
