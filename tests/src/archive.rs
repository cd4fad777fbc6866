//! A source installation's export for one test: `db.dump` and `documents/`
//! in the app's temp folder, written file by file so a test can make
//! documents appear (recovery) or break (failures) while the app runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::{TestApp, migration_body_with};

pub struct SourceArchive {
    pub root: PathBuf,
}

impl SourceArchive {
    pub fn new(app: &TestApp) -> SourceArchive {
        let root = app.data_dir().join("source");
        std::fs::create_dir_all(root.join("documents")).expect("source folder");
        std::fs::write(root.join("db.dump"), b"-- a dump\nCREATE TABLE t ();\n").expect("dump");
        SourceArchive { root }
    }

    pub fn dump(&self) -> PathBuf {
        self.root.join("db.dump")
    }

    pub fn docs(&self) -> PathBuf {
        self.root.join("documents")
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.docs().join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
        std::fs::write(path, bytes).expect("document");
    }

    /// A create-migration body whose URLs point at this archive.
    pub fn body(&self, tenant: &str) -> Value {
        let db = url::Url::from_file_path(self.dump()).expect("absolute");
        let docs = url::Url::from_directory_path(self.docs()).expect("absolute");
        migration_body_with(tenant, db.as_str(), docs.as_str())
    }
}

/// Deterministic content of `len` bytes.
pub fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// SHA-256 of a file by `sha256sum`, an implementation independent of Ferry's.
pub fn file_sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// The JSON body of a 2xx answer; panics with the body otherwise.
pub async fn ok_json(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.expect("body");
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

impl SourceArchive {
    /// Writes `count` documents of `len` bytes as `<dir>/<nnn>.bin` (ids
    /// `doc<nnn>`) and returns their manifest CSV.
    pub fn write_many(&self, dir: &str, count: usize, len: usize) -> String {
        let mut manifest = String::from("document_id,path,size\n");
        for i in 0..count {
            self.write(&format!("{dir}/{i:03}.bin"), &content(i as u8, len));
            manifest.push_str(&format!("doc{i:03},{dir}/{i:03}.bin,{len}\n"));
        }
        manifest
    }
}

/// A `ready` migration of `tenant` on `src` with the CSV `manifest` loaded;
/// its id.
pub async fn ready_with_manifest(
    app: &TestApp,
    src: &SourceArchive,
    tenant: &str,
    manifest: &str,
) -> String {
    let m = app.create_migration_from(&src.body(tenant)).await;
    let id = m["id"].as_str().expect("an id").to_owned();
    app.make_ready(&id).await;
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body(manifest.to_owned())
        .send()
        .await
        .expect("request");
    ok_json(res).await;
    id
}

/// Polls until the running job has uploaded at least one document: it is
/// mid-copy.
pub async fn wait_for_some_progress(app: &TestApp, job_id: &str, timeout: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = app.get_json(&format!("/v1/jobs/{job_id}")).await;
        if job["progress"]["documents_uploaded"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(job["state"], "running", "{job}");
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "no progress: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The migration's outcome ledger (`documents.csv`), row by row.
pub async fn ledger(app: &TestApp, id: &str) -> Vec<csv::StringRecord> {
    let text = app
        .get(
            &format!("/v1/migrations/{id}/documents.csv"),
            &app.admin_key,
        )
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a ledger row"))
        .collect()
}
