//! The one test harness: spawns the real Ferry application (the same
//! `ferry::Application` the binary runs) on port 0, against its own fresh
//! state, in either run mode:
//!
//! - `Mode::Embedded`: SQLite state + apalis-sqlite queue in a temp folder;
//! - `Mode::Production`: a fresh PostgreSQL database and a unique Redis
//!   namespace per test, so tests never see each other's data.
//!
//! PostgreSQL and Redis are found at `FERRY_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`) and `FERRY_TEST_REDIS` (default
//! `redis://127.0.0.1:6379`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use ferry::{Application, Parts, Settings};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

pub mod archive;
pub mod processes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Production,
}

/// Generates one test per run mode from `async fn name(mode: Mode)`.
#[macro_export]
macro_rules! both_modes {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::Mode::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn production() {
                super::$name($crate::Mode::Production).await
            }
        }
    )+};
}

pub fn pg_base() -> String {
    std::env::var("FERRY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("FERRY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh PostgreSQL database; its URL.
pub async fn fresh_pg_database() -> String {
    let name = format!("ferry_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL reachable at FERRY_TEST_PG");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("{}/{name}", pg_base())
}

/// A database of `mode` (a SQLite file in `dir`, or a fresh PostgreSQL
/// database) with only the schema migrations before `version` applied, and
/// a connection to it: where a test writes rows as an older release stored
/// them, before `Store::connect` runs the rest. Its URL and the connection.
pub async fn database_before_migration(
    mode: Mode,
    dir: &std::path::Path,
    version: i64,
) -> (String, sqlx::AnyConnection) {
    let url = match mode {
        Mode::Embedded => format!("sqlite://{}?mode=rwc", dir.join("old.db").display()),
        Mode::Production => fresh_pg_database().await,
    };
    sqlx::any::install_default_drivers();
    let all = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/ferry-store/migrations"
    )))
    .await
    .expect("the store's migrations");
    let before: Vec<_> = all
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    assert_eq!(
        before.len() as i64,
        version - 1,
        "migrations 0001 to {:04}",
        version - 1
    );
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .expect("connect to the old database");
    sqlx::migrate::Migrator::with_migrations(before)
        .run(&mut conn)
        .await
        .expect("the old migrations");
    (url, conn)
}

/// Settings for a test app of `mode` whose files live in `dir`.
pub async fn test_settings(mode: Mode, dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        bind: "127.0.0.1:0".to_owned(),
        data_dir: dir.to_path_buf(),
        bootstrap_admin_key: Some(SecretString::from(format!(
            "fry_test_{}",
            uuid::Uuid::new_v4().simple()
        ))),
        http_workers: 2,
        worker_concurrency: 2,
        shutdown_timeout_secs: 5,
        log: "warn".to_owned(),
        ..Settings::default()
    };
    if mode == Mode::Production {
        s.database_url = Some(SecretString::from(fresh_pg_database().await));
        s.queue_url = Some(SecretString::from(redis_url()));
        s.queue_namespace = format!("ferry-test-{}", uuid::Uuid::new_v4().simple());
    }
    s
}

/// A running application and a client for it.
pub struct TestApp {
    pub mode: Mode,
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: tempfile::TempDir,
}

/// Starts API and worker in this process, like `ferry all-in-one`.
pub async fn spawn_app(mode: Mode) -> TestApp {
    spawn_with(mode, Parts::AllInOne, |_| {}).await
}

/// Starts the app after letting `tweak` adjust its settings.
pub async fn spawn_with(mode: Mode, parts: Parts, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(mode, dir.path()).await;
    tweak(&mut settings);
    let admin_key =
        secrecy::ExposeSecret::expose_secret(settings.bootstrap_admin_key.as_ref().expect("key"))
            .to_owned();
    let app = Application::build(settings.clone(), parts)
        .await
        .expect("app builds");
    let base = format!("http://{}", app.addr().expect("api part binds"));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        mode,
        base,
        admin_key,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            // Below the server's keep-alive (actix: 5 s): a test that sits
            // in a browser for longer must not send its next request down a
            // connection the server is closing (hyper's IncompleteMessage).
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("client"),
        settings,
        shutdown,
        task: Some(task),
        dir,
    }
}

fn init_logs() {
    ferry::telemetry::init(
        ferry::config::LogFormat::Text,
        &std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()),
    );
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app stopped cleanly");
        }
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(key)
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(key)
    }

    /// Creates a key of `role` through the API; returns the secret.
    pub async fn key(&self, role: &str, tenant: Option<&str>) -> String {
        let res = self
            .post("/v1/keys", &self.admin_key)
            .json(&json!({"name": format!("test-{role}"), "role": role, "tenant": tenant}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Opens a migration for `tenant` as admin; returns its JSON.
    pub async fn create_migration(&self, tenant: &str) -> Value {
        let res = self
            .post("/v1/migrations", &self.admin_key)
            .json(&migration_body(tenant))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.unwrap()
    }

    /// Gives a draft migration the smallest roster and draft that pass
    /// pre-flight (the migrator, an administrator, holds the Admin plan) and
    /// commits it: the migration is then `ready`.
    pub async fn make_ready(&self, id: &str) -> Value {
        self.prepare_draft(id).await;
        let res = self
            .post(&format!("/v1/migrations/{id}/commit"), &self.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.unwrap()
    }

    /// Loads the one-user roster and the draft that pass pre-flight.
    pub async fn prepare_draft(&self, id: &str) {
        prepare_draft(&self.client, &self.base, &self.admin_key, id).await;
    }

    /// GET with the admin key; the JSON body of a 2xx answer.
    pub async fn get_json(&self, path: &str) -> Value {
        archive::ok_json(
            self.get(path, &self.admin_key)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// POST without a body with the admin key; the JSON body of a 2xx answer.
    pub async fn post_json(&self, path: &str) -> Value {
        archive::ok_json(
            self.post(path, &self.admin_key)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Polls a job until it is finished, or panics after `timeout`.
    pub async fn wait_for_job(&self, job_id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job: Value = self
                .get(&format!("/v1/jobs/{job_id}"), &self.admin_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let state = job["state"].as_str().unwrap_or_default();
            if matches!(state, "succeeded" | "failed" | "cancelled") {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {job_id} still {state} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A source installation's export on the local disk: `db.dump` and a
/// `documents/` folder, shared by the tests of one process (read-only).
pub fn source_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("source dir");
        std::fs::write(dir.path().join("db.dump"), b"-- dump\n").expect("dump");
        std::fs::create_dir_all(dir.path().join("documents/2024")).expect("docs");
        std::fs::write(dir.path().join("documents/2024/a.pdf"), b"%PDF").expect("doc");
        dir
    })
    .path()
}

/// A valid body for `POST /v1/migrations`, whose source URLs are reachable.
pub fn migration_body(tenant: &str) -> Value {
    let dir = source_dir();
    let db = url::Url::from_file_path(dir.join("db.dump"))
        .expect("url")
        .to_string();
    let docs = url::Url::from_directory_path(dir.join("documents"))
        .expect("url")
        .to_string();
    json!({
        "tenant": tenant,
        "customer_name": "ACME GmbH",
        "source": {
            "version": "8.3 R05",
            "database_url": db,
            "archive_url": docs
        },
        "requested_by": {"name": "Sam Seller", "email": "sam@vendor.example"},
        "migrator": {"name": "Mia Migrator", "email": "mia@partner.example", "phone": "+49 30 1234567"}
    })
}

/// Loads a one-user roster (the migrator, an administrator) and gives them
/// the Admin plan: the smallest draft that passes pre-flight.
pub async fn prepare_draft(client: &reqwest::Client, base: &str, key: &str, id: &str) {
    let roster = json!({"users": [{
        "user_id": "u1", "full_name": "Mia Migrator", "emails": ["mia@partner.example"],
        "group": "IT", "position": "Consultant", "is_admin": true, "old_license": "Admin"
    }]});
    let res = client
        .put(format!("{base}/v1/migrations/{id}/roster"))
        .bearer_auth(key)
        .json(&roster)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let version = res.json::<Value>().await.unwrap()["draft_version"]
        .as_i64()
        .unwrap();
    let res = client
        .patch(format!("{base}/v1/migrations/{id}/draft"))
        .bearer_auth(key)
        .header("If-Match", format!("\"d{version}\""))
        .json(&json!({"user_ids": ["u1"], "set_plan": "Admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// Asserts a problem answer: status, content type and stable code.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| t.ends_with(code)));
    body
}

/// A `POST /v1/migrations` body whose source is `database_url` and
/// `archive_url` (e.g. a per-test folder under [`TestApp::data_dir`]).
pub fn migration_body_with(tenant: &str, database_url: &str, archive_url: &str) -> Value {
    let mut body = migration_body(tenant);
    body["source"]["database_url"] = json!(database_url);
    body["source"]["archive_url"] = json!(archive_url);
    body
}

impl TestApp {
    /// Opens a migration from `body` as admin; returns its JSON.
    pub async fn create_migration_from(&self, body: &Value) -> Value {
        let res = self
            .post("/v1/migrations", &self.admin_key)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.unwrap()
    }

    pub fn put(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.put(self.url(path)).bearer_auth(key)
    }
}
