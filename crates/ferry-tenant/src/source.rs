//! Reachability of a source installation's database dump and document
//! archive (pre-flight check 8). Only answers "can we read it?": the transfer
//! itself streams through the same `object_store` implementations.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt};

/// Seconds a source read may go without a byte before it fails (and is
/// retried like any transient failure): `FERRY_SOURCE_READ_TIMEOUT_SECS`,
/// default 30. A server that stalls mid-body then fails the document with
/// the reason instead of holding the job forever.
pub const READ_TIMEOUT_VAR: &str = "FERRY_SOURCE_READ_TIMEOUT_SECS";
const DEFAULT_READ_TIMEOUT_SECS: u64 = 30;
/// `object_store`'s clients bound a whole request by 30 s by default, which
/// would cut off every source document that takes longer to stream (a
/// 4 GiB file at 100 MB/s). Sources are bounded by silence instead (the
/// read timeout); the whole-request bound is a day, for a line that trickles.
const WHOLE_REQUEST_BOUND: &str = "24h";
const CONNECT_TIMEOUT: &str = "10s";

/// The client settings every remote source gets, from `env`.
fn client_timeouts(env: &[(String, String)]) -> Result<[(ClientConfigKey, String); 3], String> {
    let read = match env.iter().find(|(k, _)| k == READ_TIMEOUT_VAR) {
        None => DEFAULT_READ_TIMEOUT_SECS,
        Some((_, v)) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("{READ_TIMEOUT_VAR} is a whole number of seconds above 0"))?,
    };
    Ok([
        (ClientConfigKey::ReadTimeout, format!("{read}s")),
        (ClientConfigKey::Timeout, WHOLE_REQUEST_BOUND.to_owned()),
        (ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT.to_owned()),
    ])
}

/// Opens the store behind a source URL and the path inside it. `s3://`
/// reads the `AWS_*` variables, `gs://bucket/…` the `GOOGLE_*` ones and
/// `az://container/…` the `AZURE_*` ones (account, key or token, endpoint),
/// through `object_store`'s own backends.
pub fn open_source(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    open_source_with(url, std::env::vars())
}

/// [`open_source`] with the environment given: what `gs://` and `az://`
/// read their credentials from (as `object_store`'s `from_env` does with
/// the process environment).
pub fn open_source_with(
    url: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let env: Vec<(String, String)> = env.into_iter().collect();
    let timeouts = client_timeouts(&env)?;
    let path_in = |parsed: &url::Url| {
        Path::parse(parsed.path().trim_start_matches('/')).map_err(|e| e.to_string())
    };
    match parsed.scheme() {
        "gs" => {
            let client = timeouts.map(|(k, v)| (GoogleConfigKey::Client(k), v));
            let store = config_keys::<GoogleConfigKey>(env, "GOOGLE_")
                .chain(client)
                .fold(
                    GoogleCloudStorageBuilder::new()
                        .with_bucket_name(parsed.host_str().unwrap_or_default()),
                    |b, (key, value)| b.with_config(key, value),
                )
                .build()
                .map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path_in(&parsed)?))
        }
        "az" => {
            let client = timeouts.map(|(k, v)| (AzureConfigKey::Client(k), v));
            let store = config_keys::<AzureConfigKey>(env, "AZURE_")
                .chain(client)
                .fold(
                    MicrosoftAzureBuilder::new()
                        .with_container_name(parsed.host_str().unwrap_or_default()),
                    |b, (key, value)| b.with_config(key, value),
                )
                .build()
                .map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path_in(&parsed)?))
        }
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
            let store = timeouts
                .into_iter()
                .fold(
                    AmazonS3Builder::from_env().with_bucket_name(bucket),
                    |b, (k, v)| b.with_config(AmazonS3ConfigKey::Client(k), v),
                )
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
            // Plain `http://` is what the migration says it is: without
            // `allow_http` every request failed with "builder error".
            let store = timeouts
                .into_iter()
                .fold(
                    HttpBuilder::new()
                        .with_url(base)
                        .with_config(ClientConfigKey::AllowHttp, "true"),
                    |b, (k, v)| b.with_config(k, v),
                )
                .build()
                .map_err(|e| e.to_string())?;
            let path =
                Path::parse(parsed.path().trim_start_matches('/')).map_err(|e| e.to_string())?;
            Ok((Arc::new(store), path))
        }
        other => Err(format!("no reader for '{other}://' sources")),
    }
}

/// The variables of `env` named `prefix…` that `object_store` knows as
/// configuration keys of a backend, as its `from_env` reads them.
fn config_keys<K: std::str::FromStr>(
    env: Vec<(String, String)>,
    prefix: &str,
) -> impl Iterator<Item = (K, String)> {
    env.into_iter().filter_map(move |(key, value)| {
        let key = key
            .starts_with(prefix)
            .then(|| key.to_ascii_lowercase().parse::<K>().ok())??;
        Some((key, value))
    })
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
            if url.starts_with("http://") || url.starts_with("https://") {
                return probe_web_folder(url, timeout).await;
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

/// An archive folder on a web server: an ordinary static file server
/// answers `GET`/`HEAD` per document and lists nothing (WebDAV's
/// `PROPFIND`, what `object_store` lists with, is refused), so the folder
/// counts as reachable when the server answers its URL at all — 2xx, 3xx or
/// 4xx (a folder without an index is 403 or 404 on most servers). Each
/// document is then read, or found missing, one by one during the copy.
/// A 5xx answer, a refused connection or silence is unreachable.
async fn probe_web_folder(url: &str, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let res = client
        .head(url)
        .send()
        .await
        .map_err(|e| format!("the web server does not answer: {e}"))?;
    if res.status().is_server_error() {
        return Err(format!("the web server answers {}", res.status()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A plain-HTTP source answers: a real server on a socket (one request
    /// per connection, `HEAD` and `GET` of one file, 404 for the rest).
    #[tokio::test]
    async fn plain_http_sources_are_read() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = String::new();
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = b"-- dump\n";
                let answer = if request.contains(" /exports/db.dump ") {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let mut a = head.into_bytes();
                    if request.starts_with("GET") {
                        a.extend_from_slice(body);
                    }
                    a
                } else {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = conn.write_all(&answer);
            }
        });
        let t = Duration::from_secs(5);
        let url = format!("http://127.0.0.1:{port}/exports/db.dump");
        probe_source(&url, t)
            .await
            .expect("reachable over plain HTTP");
        let (store, path) = open_source(&url).expect("open");
        let bytes = store
            .get(&path)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"-- dump\n");
        let missing = format!("http://127.0.0.1:{port}/exports/gone.dump");
        assert_eq!(probe_source(&missing, t).await, Err("not found".to_owned()));
        // The archive folder: the server answers (404, it lists nothing),
        // which is all a static server can say about a folder.
        let folder = format!("http://127.0.0.1:{port}/exports/docs/");
        assert_eq!(probe_source(&folder, t).await, Ok(()));
        // Nobody listening: unreachable.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead = format!("http://{}/docs/", closed.local_addr().expect("addr"));
        drop(closed);
        let err = probe_source(&dead, t).await.expect_err("nobody answers");
        assert!(err.contains("does not answer"), "{err}");
    }

    #[test]
    fn the_read_timeout_comes_from_the_environment() {
        let url = "http://127.0.0.1:1/db.dump";
        assert!(open_source_with(url, vars(&[(READ_TIMEOUT_VAR, "2")])).is_ok());
        for bad in ["0", "soon", "-1"] {
            let err = open_source_with(url, vars(&[(READ_TIMEOUT_VAR, bad)])).expect_err(bad);
            assert!(err.contains(READ_TIMEOUT_VAR), "{err}");
        }
    }

    /// `gs://bucket/path`: the bucket from the host, the object path from
    /// the rest, credentials from `GOOGLE_*` (a service-account file that
    /// is not there is an error naming it, so the variable is read).
    #[test]
    fn google_cloud_storage_sources() {
        let (_, path) = open_source_with("gs://acme-export/dumps/db.dump", vars(&[]))
            .expect("no credentials yet: resolved when first used");
        assert_eq!(path.as_ref(), "dumps/db.dump");
        let err = open_source_with(
            "gs://acme-export/dumps/db.dump",
            vars(&[("GOOGLE_SERVICE_ACCOUNT", "/nonexistent/ferry-key.json")]),
        )
        .expect_err("the named key file is read");
        assert!(err.contains("/nonexistent/ferry-key.json"), "{err}");
    }

    /// `az://container/path` with the account and key from `AZURE_*`;
    /// without an account there is nothing to connect to.
    #[test]
    fn azure_blob_sources() {
        let err = open_source_with("az://archive/docs/", vars(&[])).expect_err("no account");
        assert!(err.to_lowercase().contains("account"), "{err}");
        let (_, path) = open_source_with(
            "az://archive/docs/2024/",
            vars(&[
                ("AZURE_STORAGE_ACCOUNT_NAME", "acmestore"),
                ("AZURE_STORAGE_ACCOUNT_KEY", "a2V5"),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("account and key from the environment");
        assert_eq!(path.as_ref(), "docs/2024");
    }

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
