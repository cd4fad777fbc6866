//! PostgreSQL stopping and starting again under a running Ferry (issue 5
//! §4). A private server (initdb into a temp folder, run as the `postgres`
//! user) so the machine's shared one is never touched: while it is down the
//! API answers 503 problem+json naming `database` within its timeout,
//! `/readyz` goes red and back to green by itself, and a job that was running
//! finishes without losing or double-counting a document and without
//! anybody restarting a process.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, ledger, ready_with_manifest, wait_for_some_progress};
use ferry_tests::processes::free_port;
use ferry_tests::{Mode, TestApp, assert_problem, spawn_with};
use secrecy::SecretString;

/// A PostgreSQL server of this test's own.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(name: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

/// Runs a PostgreSQL tool as `postgres` (the server refuses to run as root).
fn as_postgres(tool: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(pg_bin(tool))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runuser");
    assert!(status.success(), "{tool} {args:?}");
}

impl PrivatePg {
    fn init() -> PrivatePg {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let data = dir.path().join("data");
        as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        let pg = PrivatePg {
            dir,
            port: free_port(),
        };
        pg.start();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        as_postgres("pg_ctl", &["-D", &self.data(), "-o", &opts, "-w", "start"]);
    }

    /// `immediate`: like a crash, connections are cut without goodbye.
    fn stop(&self) {
        as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn spawn_on(pg: &PrivatePg, tweak: impl FnOnce(&mut ferry::Settings)) -> TestApp {
    let url = pg.url();
    spawn_with(Mode::Production, Parts::AllInOne, move |s| {
        s.database_url = Some(SecretString::from(url));
        s.db_acquire_timeout_secs = 2;
        s.readiness_timeout_secs = 1;
        tweak(s);
    })
    .await
}

async fn wait_status(app: &TestApp, path: &str, want: u16) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let res = app.get(path, &app.admin_key).send().await.unwrap();
        if res.status().as_u16() == want {
            return res;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_503_while_postgres_is_down_and_recovers() {
    let pg = PrivatePg::init();
    let app = spawn_on(&pg, |_| {}).await;
    let before = app.create_migration("survivor").await;
    wait_status(&app, "/readyz", 200).await;

    pg.stop();
    let res = wait_status(&app, "/readyz", 503).await;
    let p = assert_problem(res, 503, "service_unavailable").await;
    assert_eq!(p["dependency"], "database", "{p}");
    // Reads and writes: a 503 naming the database, never a hang or a 500.
    for _ in 0..3 {
        let t = tokio::time::Instant::now();
        let res = app
            .get("/v1/migrations", &app.admin_key)
            .send()
            .await
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
        let p = assert_problem(res, 503, "service_unavailable").await;
        assert_eq!(p["dependency"], "database", "{p}");
        let t = tokio::time::Instant::now();
        let res = app
            .post("/v1/migrations", &app.admin_key)
            .json(&ferry_tests::migration_body("during"))
            .send()
            .await
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
        assert_problem(res, 503, "service_unavailable").await;
    }

    pg.start();
    wait_status(&app, "/readyz", 200).await;
    // The same process serves again, with what was committed before.
    let id = before["id"].as_str().unwrap();
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(m["tenant"], "survivor");
    let list = app.get_json("/v1/migrations?tenant=during").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "refused = not created"
    );
    app.create_migration("after").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_outlives_a_postgres_restart() {
    const DOCS: usize = 30;
    const LEN: usize = 64 * 1024;
    let pg = PrivatePg::init();
    // 30 × 64 KiB at 320 KiB/s: about six seconds of copying.
    let app = spawn_on(&pg, |s| {
        s.transfer_max_bytes_per_sec = 320 * 1024;
        s.transfer_concurrency = 2;
        s.upload_batch_documents = 0;
    })
    .await;
    let src = SourceArchive::new(&app);
    let manifest = src.write_many("d", DOCS, LEN);
    let id = ready_with_manifest(&app, &src, "pgco", &manifest).await;
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    // Mid-copy: some documents recorded, not all.
    wait_for_some_progress(&app, &job_id, Duration::from_secs(60)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start();
    let job = app.wait_for_job(&job_id, Duration::from_secs(120)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_uploaded"], DOCS, "{job}");
    assert_eq!(job["progress"]["documents_failed"], 0, "{job}");
    let rows = ledger(&app, &id).await;
    assert_eq!(rows.len(), DOCS);
    assert!(rows.iter().all(|r| &r[3] == "uploaded"), "{rows:?}");
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(m["state"], "uploaded");
    app.stop().await;
}
