//! The real `ferry all-in-one` release binary as a child process, the state it
//! runs against (a SQLite folder, or a fresh PostgreSQL database plus a unique
//! Redis namespace), and the few API calls the scenario makes.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::data::{Dataset, MIGRATOR_EMAIL, MIGRATOR_NAME};
use crate::parse::limits_for;

/// Where PostgreSQL and Redis are (the PostgreSQL run only).
#[derive(Clone, Debug)]
pub struct Services {
    /// Without a database name: `postgres://postgres@127.0.0.1:5432`.
    pub pg_base: String,
    pub redis_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL+Redis",
        }
    }
}

/// The state one measured size runs against; created fresh, removed after.
pub struct State {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    queue_url: Option<String>,
    namespace: Option<String>,
    pg: Option<(Services, String)>,
}

impl State {
    pub async fn fresh(backend: Backend, parent: &Path, services: &Services) -> Result<State> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let data_dir = parent.join(format!("ferry-data-{tag}"));
        std::fs::create_dir_all(&data_dir)?;
        if backend == Backend::Sqlite {
            return Ok(State {
                data_dir,
                database_url: None,
                queue_url: None,
                namespace: None,
                pg: None,
            });
        }
        let db = format!("ferry_bench_{tag}");
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", services.pg_base))
            .await
            .with_context(|| format!("PostgreSQL at {} (run `make services`)", services.pg_base))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut admin)
            .await
            .context("creating the benchmark database")?;
        admin.close().await?;
        Ok(State {
            data_dir,
            database_url: Some(format!("{}/{db}", services.pg_base)),
            queue_url: Some(services.redis_url.clone()),
            namespace: Some(format!("ferry-bench-{tag}")),
            pg: Some((services.clone(), db)),
        })
    }

    /// Drops the database and the Redis namespace's keys; the data folder goes
    /// with the temp dir.
    pub async fn remove(self) -> Result<()> {
        if let Some((services, db)) = &self.pg {
            let mut admin =
                sqlx::PgConnection::connect(&format!("{}/postgres", services.pg_base)).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await?;
        }
        if let (Some(ns), Some(url)) = (&self.namespace, &self.queue_url) {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let keys: Vec<String> = {
                let mut iter: redis::AsyncIter<String> =
                    redis::AsyncCommands::scan_match(&mut conn, format!("{ns}*")).await?;
                let mut keys = Vec::new();
                while let Some(k) = iter.next_item().await {
                    keys.push(k?);
                }
                keys
            };
            for chunk in keys.chunks(500) {
                let _: () = redis::AsyncCommands::del(&mut conn, chunk).await?;
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        Ok(())
    }
}

/// A running `ferry all-in-one`; killed on drop if not stopped.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pub base: String,
    pub(crate) key: String,
    log: PathBuf,
    pub(crate) client: reqwest::Client,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// The CSV scenario's server: the CSV limits fit the data set.
    pub async fn start(
        bin: &Path,
        state: &State,
        ds: &Dataset,
        key: &str,
        log: PathBuf,
    ) -> Result<Server> {
        let limits = limits_for(ds);
        let env = [
            ("FERRY_CSV_MAX_ROWS", limits.max_rows.to_string()),
            ("FERRY_CSV_MAX_BYTES", limits.max_bytes.to_string()),
        ];
        Server::start_with(bin, state, &env, key, log).await
    }

    /// A server with `env` on top of the bench's own settings (later wins).
    pub async fn start_with(
        bin: &Path,
        state: &State,
        env: &[(&str, String)],
        key: &str,
        log: PathBuf,
    ) -> Result<Server> {
        let port = free_port()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("all-in-one")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        // Only what we set: no FERRY_* of the caller's shell leaks in.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FERRY_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("FERRY_BIND", format!("127.0.0.1:{port}"))
            .env("FERRY_DATA_DIR", &state.data_dir)
            .env("FERRY_BOOTSTRAP_ADMIN_KEY", key)
            .env("FERRY_LOG", "info")
            .env("FERRY_MAX_BODY_BYTES", (4u64 << 20).to_string());
        if let Some(url) = &state.database_url {
            cmd.env("FERRY_DATABASE_URL", url);
        }
        if let Some(url) = &state.queue_url {
            cmd.env("FERRY_QUEUE_URL", url);
        }
        if let Some(ns) = &state.namespace {
            cmd.env("FERRY_QUEUE_NAMESPACE", ns);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Server {
            pid: child.id(),
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            key: key.to_owned(),
            log,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?,
        };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "ferry exited during start ({status}):\n{}",
                    self.log_tail(40)
                );
            }
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("ferry not ready after {timeout:?}:\n{}", self.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
            let _ = f.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Peak resident set size of the server process so far (`VmHWM`), bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .ok_or_else(|| anyhow!("no VmHWM in /proc/{}/status", self.pid))?;
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib * 1024)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.base)
    }

    pub(crate) async fn json(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let res = req
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .with_context(|| what.to_owned())?;
        let status = res.status();
        let body = res.text().await?;
        if !status.is_success() {
            bail!("{what}: {status}: {}", truncate(&body, 2000));
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: JSON answer"))
    }

    /// Creates the migration (migrator = the roster's first user); its id.
    pub async fn create_migration(&self, ds: &Dataset) -> Result<String> {
        let url = |p: &Path| format!("file://{}", p.display());
        let body = json!({
            "tenant": "bench-gmbh",
            "customer_name": "Bench GmbH",
            "source": {
                "version": "8.3 R05",
                "database_url": url(&ds.roster_csv),
                "archive_url": url(ds.roster_csv.parent().unwrap_or(Path::new("/"))),
            },
            "requested_by": { "name": "Sam Seller", "email": "sam@vendor.example" },
            "migrator": { "name": MIGRATOR_NAME, "email": MIGRATOR_EMAIL, "phone": "+49 30 1234567" },
        });
        let m = self
            .json(
                self.client.post(self.url("/migrations")).json(&body),
                "POST /v1/migrations",
            )
            .await?;
        m["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no id in {m}"))
    }

    pub async fn put_catalogue(&self, id: &str, ds: &Dataset) -> Result<()> {
        self.json(
            self.client
                .put(self.url(&format!("/migrations/{id}/catalogue")))
                .json(&ds.catalogue_input),
            "PUT catalogue",
        )
        .await?;
        Ok(())
    }

    /// A CSV file as a streamed request body (64 KiB chunks), with its length.
    async fn csv_body(
        &self,
        req: reqwest::RequestBuilder,
        path: &Path,
        timeout: Duration,
    ) -> Result<reqwest::RequestBuilder> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        Ok(req
            .bearer_auth(&self.key)
            .header(CONTENT_TYPE, "text/csv")
            .header(CONTENT_LENGTH, len)
            .timeout(timeout)
            .body(reqwest::Body::wrap_stream(stream)))
    }

    /// Uploads the roster by CSV; fails unless every user was loaded.
    pub async fn put_roster(&self, id: &str, ds: &Dataset, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let req = self
            .client
            .put(self.url(&format!("/migrations/{id}/roster")));
        let res = self
            .csv_body(req, &ds.roster_csv, timeout)
            .await?
            .send()
            .await
            .context("PUT roster")?;
        let status = res.status();
        let body = res.text().await?;
        let elapsed = start.elapsed();
        if !status.is_success() {
            bail!("PUT roster: {status}: {}", truncate(&body, 4000));
        }
        let v: Value = serde_json::from_str(&body)?;
        if v["users"].as_u64() != Some(ds.roster_users as u64)
            || v["active_users"].as_u64() != Some(ds.rows as u64)
        {
            bail!("PUT roster loaded {v}, expected {} users", ds.roster_users);
        }
        Ok(elapsed)
    }

    /// The timed import: from sending the first byte of the file to having
    /// read the whole answer. `None` when it did not finish within `timeout`.
    pub async fn import(
        &self,
        id: &str,
        ds: &Dataset,
        timeout: Duration,
        expect_changed: u64,
    ) -> Result<Option<ImportTiming>> {
        let req = self
            .client
            .post(self.url(&format!("/migrations/{id}/assignments.csv")));
        let req = self.csv_body(req, &ds.assignment_csv, timeout).await?;
        let start = Instant::now();
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) if e.is_timeout() => return Ok(None),
            Err(e) => return Err(e).context("POST assignments.csv"),
        };
        let headers = start.elapsed();
        let status = res.status();
        let body = match res.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Ok(None),
            Err(e) => return Err(e).context("reading the import answer"),
        };
        let total = start.elapsed();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            report_invalid(&body);
            bail!("the import was refused (422)");
        }
        if !status.is_success() {
            bail!(
                "POST assignments.csv: {status}: {}",
                truncate(&String::from_utf8_lossy(&body), 4000)
            );
        }
        let applied: Applied = serde_json::from_slice(&body).with_context(|| {
            format!(
                "import answer: {}",
                truncate(&String::from_utf8_lossy(&body), 2000)
            )
        })?;
        // On an empty base draft every row changes its user; the same file
        // again changes none.
        if applied.rows != ds.rows as u64 || applied.changed != expect_changed {
            bail!(
                "import applied {} rows, {} changed, expected {} rows, {expect_changed} changed",
                applied.rows,
                applied.changed,
                ds.rows
            );
        }
        Ok(Some(ImportTiming {
            headers,
            total,
            answer_bytes: body.len() as u64,
        }))
    }

    /// `GET …/overview`: loads roster, catalogue and draft from the database
    /// and counts; checks the draft holds `assigned` plans (all active users
    /// after the import, none before). Its time.
    pub async fn overview(&self, id: &str, ds: &Dataset, assigned: usize) -> Result<Duration> {
        let start = Instant::now();
        let v = self
            .json(
                self.client
                    .get(self.url(&format!("/migrations/{id}/overview"))),
                "GET overview",
            )
            .await?;
        let elapsed = start.elapsed();
        let total: u64 = v["plans"]
            .as_array()
            .map(|plans| plans.iter().filter_map(|p| p["assigned"].as_u64()).sum())
            .unwrap_or(0);
        let without = (ds.rows - assigned) as u64;
        if total != assigned as u64 || v["active_without_plan"].as_u64() != Some(without) {
            bail!("the stored draft does not assign {assigned} plans: {v}");
        }
        Ok(elapsed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct ImportTiming {
    /// Until the answer's status line and headers (the server has validated,
    /// saved and serialised by then).
    pub headers: Duration,
    /// Until the last byte of the answer.
    pub total: Duration,
    pub answer_bytes: u64,
}

/// The import's 200 answer (summary; the draft itself is not echoed).
#[derive(serde::Deserialize)]
struct Applied {
    rows: u64,
    changed: u64,
}

/// Prints the first errors of a 422 problem.
fn report_invalid(body: &[u8]) {
    let Ok(p) = serde_json::from_slice::<Value>(body) else {
        eprintln!("422: {}", truncate(&String::from_utf8_lossy(body), 4000));
        return;
    };
    let violations = p["violations"].as_array().cloned().unwrap_or_default();
    eprintln!(
        "import refused: {} ({} errors, import {}); the first:",
        p["detail"],
        violations.len(),
        p["import_id"]
    );
    for v in violations.iter().take(10) {
        eprintln!(
            "  row {} column {} value {}: {} ({})",
            v["row"], v["column"], v["value"], v["message"], v["code"]
        );
    }
    if violations.is_empty() {
        eprintln!("  {}", truncate(&p.to_string(), 4000));
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
