//! A production-shaped deployment for the crash and scale tests: `ferry
//! serve` and any number of `ferry worker` processes on a fresh PostgreSQL
//! database and a unique Redis namespace, a `file://` tenant store and a
//! generated source export, all under one temp folder.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_tests::processes::{FerryProcess, free_port};
use ferry_tests::{fresh_pg_database, migration_body_with, redis_url};
use serde_json::Value;

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub env: Vec<(&'static str, String)>,
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
    pub api: FerryProcess,
    workers_started: usize,
}

/// One document of the generated source.
#[derive(Debug, Clone)]
pub struct Doc {
    pub id: String,
    pub path: String,
    pub size: u64,
    /// Whether the file exists in the archive (the rest end `missing`).
    pub present: bool,
}

impl Cluster {
    /// Starts `ferry serve` with `extra` settings on top of the defaults.
    pub async fn start(extra: &[(&'static str, &str)]) -> Cluster {
        Cluster::start_as(true, extra).await
    }

    /// Starts `ferry all-in-one` in the embedded mode (SQLite state and
    /// queue) instead: API and worker in one process.
    pub async fn start_embedded(extra: &[(&'static str, &str)]) -> Cluster {
        Cluster::start_as(false, extra).await
    }

    async fn start_as(production: bool, extra: &[(&'static str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let key = format!("fry_cluster_{}", uuid::Uuid::new_v4().simple());
        let mut env: Vec<(&'static str, String)> = vec![
            ("FERRY_DATABASE_URL", fresh_pg_database().await),
            ("FERRY_QUEUE_URL", redis_url()),
            (
                "FERRY_QUEUE_NAMESPACE",
                format!("ferry-cluster-{}", uuid::Uuid::new_v4().simple()),
            ),
            (
                "FERRY_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            (
                "FERRY_TENANT_STORE_URL",
                url::Url::from_directory_path(dir.path().join("tenants"))
                    .unwrap()
                    .to_string(),
            ),
            ("FERRY_BIND", format!("127.0.0.1:{port}")),
            ("FERRY_BOOTSTRAP_ADMIN_KEY", key.clone()),
            ("FERRY_QUEUE_HEARTBEAT_SECS", "1".to_owned()),
            ("FERRY_QUEUE_MISSED_HEARTBEATS", "2".to_owned()),
            ("FERRY_SHUTDOWN_TIMEOUT_SECS", "5".to_owned()),
        ];
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k, (*v).to_owned()));
        }
        if !production {
            env.retain(|(k, _)| !matches!(*k, "FERRY_DATABASE_URL" | "FERRY_QUEUE_URL"));
        }
        let command = if production { "serve" } else { "all-in-one" };
        let api = FerryProcess::start(&[command], &env, dir.path().join("api.log"));
        api.wait_for_output("ferry listening", Duration::from_secs(60))
            .await;
        Cluster {
            dir,
            env,
            base: format!("http://127.0.0.1:{port}"),
            key,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            api,
            workers_started: 0,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Starts one more `ferry worker` (a unique worker name per start).
    pub async fn worker(&mut self) -> FerryProcess {
        self.workers_started += 1;
        let log = self
            .dir
            .path()
            .join(format!("worker-{}.log", self.workers_started));
        let w = FerryProcess::start(&["worker"], &self.env, log);
        w.wait_for_output("worker starting", Duration::from_secs(60))
            .await;
        w
    }

    pub async fn get(&self, path: &str) -> Value {
        // A GET on a pooled keep-alive connection the server closed at that
        // moment fails before any answer (seen once: `IncompleteMessage`);
        // it is safe to send again, as any HTTP client would. A dead API
        // fails every try.
        let mut tries = 0;
        let res = loop {
            match self
                .client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.key)
                .send()
                .await
            {
                Ok(res) => break res,
                Err(e) if tries < 2 && (e.is_request() || e.is_connect()) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("GET {path}: {e:?}"),
            }
        };
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Value {
        let res = req.bearer_auth(&self.key).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Writes a source export of `docs` (see [`generate`]), opens a
    /// migration for it, makes it ready, uploads the manifest (with SHA-256
    /// for every other document) and starts it; the started answer.
    pub async fn start_upload(&self, tenant: &str, docs: &[Doc]) -> (String, Value) {
        let id = self.prepare(tenant, docs, true).await;
        let started = self
            .send(
                self.client
                    .post(format!("{}/v1/migrations/{id}/start", self.base)),
            )
            .await;
        (id, started)
    }

    /// [`Cluster::start_upload`] up to the start: the migration id, `ready`
    /// (or, without `commit`, a draft) with its manifest.
    pub async fn prepare(&self, tenant: &str, docs: &[Doc], commit: bool) -> String {
        let src = self.path("source");
        std::fs::create_dir_all(src.join("documents")).unwrap();
        std::fs::write(src.join("db.dump"), content(7, 3 * 1024 * 1024 + 5)).unwrap();
        let mut manifest = String::from("document_id,path,size,sha256\n");
        let mut written = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let file = src.join("documents").join(&d.path);
            if d.present {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, content(i as u64, d.size as usize)).unwrap();
                written.push(file);
            }
        }
        let shas = sha256_many(&written);
        for (i, d) in docs.iter().enumerate() {
            let file = src.join("documents").join(&d.path);
            let sha = match shas.get(&file) {
                Some(s) if i % 2 == 0 => s.as_str(),
                _ => "",
            };
            manifest.push_str(&format!("{},{},{},{sha}\n", d.id, d.path, d.size));
        }
        let body = migration_body_with(
            tenant,
            url::Url::from_file_path(src.join("db.dump"))
                .unwrap()
                .as_str(),
            url::Url::from_directory_path(src.join("documents"))
                .unwrap()
                .as_str(),
        );
        let m = self
            .send(
                self.client
                    .post(format!("{}/v1/migrations", self.base))
                    .json(&body),
            )
            .await;
        let id = m["id"].as_str().unwrap().to_owned();
        ferry_tests::prepare_draft(&self.client, &self.base, &self.key, &id).await;
        if commit {
            self.send(
                self.client
                    .post(format!("{}/v1/migrations/{id}/commit", self.base)),
            )
            .await;
        }
        let stored = self
            .send(
                self.client
                    .put(format!("{}/v1/migrations/{id}/manifest", self.base))
                    .header("Content-Type", "text/csv")
                    .body(manifest),
            )
            .await;
        assert_eq!(stored["documents"], docs.len());
        id
    }

    /// POSTs `path` (no body); the answer, which must be a success.
    pub async fn post(&self, path: &str) -> Value {
        self.send(self.client.post(format!("{}{path}", self.base)))
            .await
    }

    /// Checks the end state of an upload of `docs` to `tenant`: the
    /// migration is `uploaded`; the ledger has every manifest row once, in
    /// exactly one final state, and agrees with the job's counters; every
    /// uploaded document is byte-identical in the tenant store; nothing else
    /// (no staging or partial file) is there. The ledger rows by id.
    pub async fn verify(
        &self,
        tenant: &str,
        migration_id: &str,
        job_id: &str,
        docs: &[Doc],
    ) -> BTreeMap<String, csv::StringRecord> {
        let m = self.get(&format!("/v1/migrations/{migration_id}")).await;
        assert_eq!(m["state"], "uploaded", "{m}");
        let job = self.get(&format!("/v1/jobs/{job_id}")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        let csv = self
            .text(&format!("/v1/migrations/{migration_id}/documents.csv"))
            .await;
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let mut ledger = BTreeMap::new();
        let mut counts: HashMap<String, i64> = HashMap::new();
        for row in reader.records() {
            let row = row.unwrap();
            *counts.entry(row[3].to_owned()).or_default() += 1;
            assert!(
                ledger.insert(row[0].to_owned(), row).is_none(),
                "a document twice in the ledger"
            );
        }
        assert_eq!(ledger.len(), docs.len(), "every manifest row in the ledger");
        let count = |s: &str| counts.get(s).copied().unwrap_or_default();
        assert_eq!(count("pending"), 0, "{counts:?}");
        assert_eq!(count("failed"), 0, "{counts:?}");
        let p = &job["progress"];
        assert_eq!(p["documents_total"], docs.len(), "{job}");
        assert_eq!(p["documents_uploaded"], count("uploaded"), "{job}");
        assert_eq!(p["documents_missing"], count("missing"), "{job}");
        assert_eq!(p["documents_failed"], 0, "{job}");
        let tenant_docs = self.path("tenants").join(tenant).join("documents");
        let src_docs = self.path("source/documents");
        let root = self.path("tenants").join(tenant);
        // The delivery (issue 16): written once more by whichever attempt
        // or batch ended the job, and describing the ledger as it ended.
        let receipt: Value =
            serde_json::from_slice(&std::fs::read(root.join("MIGRATION.json")).unwrap()).unwrap();
        assert_eq!(receipt["job_id"], job["id"], "{receipt}");
        assert_eq!(receipt["counts"]["documents"], docs.len());
        assert_eq!(receipt["counts"]["documents_uploaded"], count("uploaded"));
        assert_eq!(receipt["counts"]["documents_missing"], count("missing"));
        let delivered = [
            "licences/assignment.v1.ndjson",
            "ledger/documents.v1.ndjson",
        ];
        let delivered_shas = sha256_many(&delivered.map(|rel| root.join(rel)));
        for (name, rel) in [("assignment", delivered[0]), ("ledger", delivered[1])] {
            assert_eq!(
                receipt[name]["sha256"],
                delivered_shas[&root.join(rel)],
                "{name}"
            );
        }
        let mut expected_files = vec![
            root.join("database/db.dump"),
            root.join("MIGRATION.json"),
            root.join(delivered[0]),
            root.join(delivered[1]),
        ];
        let mut bytes = 3 * 1024 * 1024 + 5;
        for d in docs {
            let row = &ledger[&d.id];
            let want = if d.present { "uploaded" } else { "missing" };
            assert_eq!(&row[3], want, "{}", d.id);
            if d.present {
                expected_files.push(tenant_docs.join(&d.path));
                bytes += d.size;
            }
        }
        assert_eq!(p["bytes_done"], bytes, "{job}");
        // Byte-identical, by SHA-256, and the ledger's checksum is the real one.
        let stored = sha256_many(&expected_files);
        let sources: Vec<PathBuf> = docs
            .iter()
            .filter(|d| d.present)
            .map(|d| src_docs.join(&d.path))
            .collect();
        let source_shas = sha256_many(&sources);
        for d in docs.iter().filter(|d| d.present) {
            let want = &source_shas[&src_docs.join(&d.path)];
            let got = stored
                .get(&tenant_docs.join(&d.path))
                .unwrap_or_else(|| panic!("{} not in the tenant store", d.path));
            assert_eq!(got, want, "{} differs", d.path);
            assert_eq!(
                &ledger[&d.id][6],
                want.as_str(),
                "ledger checksum of {}",
                d.id
            );
        }
        assert_eq!(
            stored[&self.path("tenants").join(tenant).join("database/db.dump")],
            sha256_many(&[self.path("source/db.dump")])[&self.path("source/db.dump")]
        );
        // Nothing else: no staging files of interrupted writes.
        let mut found = Vec::new();
        walk(&self.path("tenants"), &mut found);
        found.sort();
        expected_files.sort();
        let stray: Vec<_> = found
            .iter()
            .filter(|f| !expected_files.contains(f))
            .collect();
        assert!(
            stray.is_empty(),
            "stray files in the tenant store: {stray:?}"
        );
        assert_eq!(found.len(), expected_files.len());
        ledger
    }
}

/// `n` documents of mixed sizes: mostly small, every `big_every`th a few
/// MiB (16–24 MiB, over the multipart threshold, every other time), every
/// 50th absent from the archive.
pub fn generate(n: usize, big_every: usize) -> Vec<Doc> {
    (0..n)
        .map(|i| {
            let size = if i % big_every == big_every / 2 {
                if (i / big_every).is_multiple_of(2) {
                    16 * 1024 * 1024 + (i as u64 * 4099) % (8 * 1024 * 1024)
                } else {
                    3 * 1024 * 1024 + (i as u64 * 7919) % (1024 * 1024)
                }
            } else {
                1 + (i as u64 * 104_729) % (96 * 1024)
            };
            Doc {
                id: format!("doc-{i:04}"),
                path: format!("y{}/m{}/file {i}.bin", 2000 + i % 7, i % 12),
                size,
                present: i % 50 != 49,
            }
        })
        .collect()
}

/// `n` documents of 1 B to 4 KiB (every 50th missing from the source): the
/// shape of a mail archive, where the ledger, not the bytes, is the work.
pub fn small_docs(n: usize) -> Vec<Doc> {
    (0..n)
        .map(|i| Doc {
            id: format!("doc-{i:05}"),
            path: format!("y{}/m{}/mail {i}.eml", 2000 + i % 7, i % 12),
            size: 1 + (i as u64 * 104_729) % 4096,
            present: i % 50 != 49,
        })
        .collect()
}

/// Deterministic, incompressible-looking content.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of each file, by path (files that do not exist are left out).
pub fn sha256_many(files: &[PathBuf]) -> HashMap<PathBuf, String> {
    let mut out = HashMap::new();
    for chunk in files.chunks(200) {
        let existing: Vec<&PathBuf> = chunk.iter().filter(|f| f.exists()).collect();
        if existing.is_empty() {
            continue;
        }
        let res = std::process::Command::new("sha256sum")
            .arg("-z")
            .args(&existing)
            .output()
            .expect("sha256sum runs");
        assert!(res.status.success());
        // `-z`: NUL-terminated lines "<hash>  <name>", names unescaped.
        for rec in res.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let line = String::from_utf8(rec.to_vec()).unwrap();
            let (hash, name) = line.split_once("  ").unwrap();
            out.insert(PathBuf::from(name), hash.to_owned());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Polls the job until it is finished; `check` sees every answer.
pub async fn wait_job(
    c: &Cluster,
    job_id: &str,
    timeout: Duration,
    mut check: impl FnMut(&Value),
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = c.get(&format!("/v1/jobs/{job_id}")).await;
        check(&job);
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job_id} not finished after {timeout:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
