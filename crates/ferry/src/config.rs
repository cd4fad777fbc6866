//! Typed configuration, layered: built-in defaults → optional TOML file
//! (`--config` or `FERRY_CONFIG`) → `FERRY_*` environment variables.
//! Connection URLs and keys are secrets: they never appear in `Debug` output
//! or logs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the API listens on.
    pub bind: String,
    /// Folder of the embedded mode's files (SQLite databases, tenant store).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/ferry.db`.
    pub database_url: Option<SecretString>,
    /// `sqlite://…` or `redis://…`; default `sqlite://<data_dir>/queue.db`.
    pub queue_url: Option<SecretString>,
    /// Prefix of the queue's keys, so deployments can share a Redis.
    pub queue_namespace: String,
    /// Any `object_store` URL; default `file://<data_dir>/tenants`.
    pub tenant_store_url: Option<String>,
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info` or `ferry=debug,info`.
    pub log: String,
    /// Becomes the first admin key when no key exists yet.
    pub bootstrap_admin_key: Option<SecretString>,
    /// HTTP worker threads (0: one per core).
    pub http_workers: usize,
    pub worker_concurrency: usize,
    pub shutdown_timeout_secs: u64,
    pub max_body_bytes: usize,
    pub max_page_size: u32,
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before 503.
    pub db_acquire_timeout_secs: u64,
    pub readiness_timeout_secs: u64,
    pub queue_heartbeat_secs: u64,
    pub queue_missed_heartbeats: usize,
    pub queue_timeout_secs: u64,
    /// How often an idle worker polls the queue for new jobs. Every start
    /// and every batch of a split upload waits for a poll (half an interval
    /// on average) before its copies begin, and the freeze runs meanwhile:
    /// 25 ms keeps that below the noise, for a Redis or SQLite query per
    /// poll.
    pub queue_poll_ms: u64,
    /// The same for the worker of an all-in-one process. There the API
    /// that creates every start and the dispatcher that pushes every job
    /// share the process, and a push wakes the worker at once; polling only
    /// catches what no push of this process announced (a message another
    /// process pushed, a dead worker's job put back by the queue). Each
    /// poll of the embedded queue costs about a millisecond of CPU
    /// (apalis-sqlite's fetch is compiled again on every run), so 25 ms
    /// kept an idle embedded Ferry at 5 % of a core.
    pub queue_poll_all_in_one_ms: u64,
    /// How often the job outbox's dispatcher looks for records committed by
    /// other processes (this process's own starts and batch ends wake it at
    /// once).
    pub dispatch_interval_ms: u64,
    /// Batches of one migration in the queue or running at once, so a
    /// small migration is not queued behind all of a huge one's batches.
    pub dispatch_batches_per_migration: u64,
    /// A job still `queued` this long after it was pushed is pushed again
    /// (the queue lost the message).
    pub dispatch_repush_secs: u64,
    pub vacuum_interval_secs: u64,
    /// Days a closed migration's jobs and ledger stay queryable (0: forever).
    pub job_history_retention_days: u64,
    /// Oldest source version that may migrate (pre-flight check 1).
    pub min_source_version: String,
    /// Limits of roster and assignment CSV uploads (413 above them).
    pub csv_max_rows: u64,
    pub csv_max_bytes: u64,
    pub csv_max_field_len: u64,
    /// Validated rosters kept in memory between licence requests (0: off).
    pub roster_cache_entries: usize,
    /// How long an API process trusts a key it looked up (0: ask every time).
    pub auth_cache_ms: u64,
    /// How long `GET /v1/jobs/{id}` serves a rendered job (0: no cache).
    pub job_view_cache_ms: u64,
    /// How long pre-flight waits for each source URL.
    pub source_probe_timeout_secs: u64,
    /// Limits of a document manifest upload (413 above them).
    pub manifest_max_rows: u64,
    pub manifest_max_bytes: u64,
    /// Documents one upload job copies at the same time.
    pub transfer_concurrency: usize,
    /// Write-speed cap of one upload job in bytes/s (0: unlimited).
    pub transfer_max_bytes_per_sec: u64,
    /// Manifest positions per batch job, so several workers share one
    /// archive (0: one job copies everything).
    pub upload_batch_documents: u64,
    /// Seconds between two rounds of the recovery sweep (0: off).
    pub recovery_sweep_secs: u64,
    /// Throughput the upload estimate assumes until a job has measured one.
    pub default_throughput_bytes_per_sec: u64,
    /// How often a worker looks for due webhook deliveries.
    pub webhook_poll_ms: u64,
    /// Bound on one webhook POST.
    pub webhook_timeout_secs: u64,
    /// Attempts of one webhook delivery before it is `failed`.
    pub webhook_max_attempts: u32,
    /// Wait before a delivery's second attempt; doubles per attempt (with jitter).
    pub webhook_backoff_base_ms: u64,
    /// Longest wait between two attempts of a delivery.
    pub webhook_backoff_max_secs: u64,
    /// Webhook POSTs in flight at once per worker process.
    pub webhook_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            queue_url: None,
            queue_namespace: "ferry".to_owned(),
            tenant_store_url: None,
            log_format: LogFormat::Text,
            log: "info".to_owned(),
            bootstrap_admin_key: None,
            http_workers: 0,
            worker_concurrency: 4,
            shutdown_timeout_secs: 30,
            max_body_bytes: 1 << 20,
            max_page_size: 200,
            db_max_connections: 10,
            db_acquire_timeout_secs: 5,
            readiness_timeout_secs: 2,
            queue_heartbeat_secs: 5,
            queue_missed_heartbeats: 3,
            queue_timeout_secs: 3,
            queue_poll_ms: 25,
            queue_poll_all_in_one_ms: 1000,
            dispatch_interval_ms: 1000,
            dispatch_batches_per_migration: 4,
            dispatch_repush_secs: 60,
            vacuum_interval_secs: 60,
            job_history_retention_days: 0,
            min_source_version: "7.1".to_owned(),
            csv_max_rows: 1_000_000,
            csv_max_bytes: 256 * 1024 * 1024,
            csv_max_field_len: 8 * 1024,
            roster_cache_entries: 2,
            auth_cache_ms: 2_000,
            job_view_cache_ms: 250,
            source_probe_timeout_secs: 5,
            manifest_max_rows: 5_000_000,
            manifest_max_bytes: 1 << 30,
            transfer_concurrency: 8,
            transfer_max_bytes_per_sec: 0,
            upload_batch_documents: ferry_worker::DEFAULT_BATCH_DOCUMENTS,
            recovery_sweep_secs: 0,
            default_throughput_bytes_per_sec: 50_000_000,
            webhook_poll_ms: 1000,
            webhook_timeout_secs: 10,
            webhook_max_attempts: 10,
            webhook_backoff_base_ms: 5000,
            webhook_backoff_max_secs: 3600,
            webhook_concurrency: 8,
        }
    }
}

impl Settings {
    /// Loads the layers. `file` wins over `FERRY_CONFIG`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("FERRY_CONFIG").map(PathBuf::from));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let built = builder
            .add_source(
                config::Environment::with_prefix("FERRY")
                    .prefix_separator("_")
                    .try_parsing(true),
            )
            .build()?;
        let settings: Settings = built.try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if let Some(key) = &self.bootstrap_admin_key
            && key.expose_secret().len() < 32
        {
            anyhow::bail!("FERRY_BOOTSTRAP_ADMIN_KEY must have at least 32 characters");
        }
        if let Err(e) = ferry_domain::SourceVersion::parse(&self.min_source_version) {
            anyhow::bail!("min_source_version: {}", e.message);
        }
        if self.worker_concurrency == 0
            || self.max_page_size == 0
            || self.max_body_bytes == 0
            || self.transfer_concurrency == 0
            || self.default_throughput_bytes_per_sec == 0
        {
            anyhow::bail!(
                "worker_concurrency, max_page_size, max_body_bytes, transfer_concurrency and \
                 default_throughput_bytes_per_sec must be positive"
            );
        }
        if self.webhook_timeout_secs == 0
            || self.webhook_max_attempts == 0
            || self.webhook_concurrency == 0
        {
            anyhow::bail!(
                "webhook_timeout_secs, webhook_max_attempts and webhook_concurrency must be positive"
            );
        }
        Ok(())
    }

    fn data_dir_abs(&self) -> PathBuf {
        std::path::absolute(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone())
    }

    /// Creates the data folder when an embedded default needs it.
    pub fn prepare_data_dir(&self) -> anyhow::Result<()> {
        if self.database_url.is_none()
            || self.queue_url.is_none()
            || self.tenant_store_url.is_none()
        {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}",
                self.data_dir_abs().join("ferry.db").display()
            ),
        }
    }

    pub fn queue_url(&self) -> String {
        match &self.queue_url {
            Some(u) => u.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}",
                self.data_dir_abs().join("queue.db").display()
            ),
        }
    }

    pub fn tenant_store_url(&self) -> String {
        match &self.tenant_store_url {
            Some(u) => u.clone(),
            None => url::Url::from_directory_path(self.data_dir_abs().join("tenants"))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| "memory://".to_owned()),
        }
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// Which run mode the URLs select, for the start-up log line.
    pub fn mode(&self) -> &'static str {
        if self.database_url().starts_with("sqlite:") && self.queue_url().starts_with("sqlite:") {
            "embedded"
        } else {
            "distributed"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded_under_the_data_dir() {
        let s = Settings {
            data_dir: PathBuf::from("/srv/ferry"),
            ..Settings::default()
        };
        assert_eq!(s.database_url(), "sqlite:///srv/ferry/ferry.db");
        assert_eq!(s.queue_url(), "sqlite:///srv/ferry/queue.db");
        assert_eq!(s.tenant_store_url(), "file:///srv/ferry/tenants/");
        assert_eq!(s.mode(), "embedded");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings {
            database_url: Some(SecretString::from("postgres://u:hunter2@db/ferry")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.mode(), "distributed");
    }

    #[test]
    fn a_toml_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("ferry.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:9999\"\nworker_concurrency = 9\nlog_format = \"json\"\n",
        )
        .expect("write");
        let s = Settings::load(Some(&file)).expect("loads");
        assert_eq!(s.bind, "0.0.0.0:9999");
        assert_eq!(s.worker_concurrency, 9);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.max_page_size, 200, "unset keys keep their defaults");
        std::fs::write(&file, "worker_concurrency = 0\n").expect("write");
        assert!(
            Settings::load(Some(&file)).is_err(),
            "nonsense values are refused at start"
        );
        std::fs::write(&file, "min_source_version = \"seven\"\n").expect("write");
        assert!(Settings::load(Some(&file)).is_err());
    }

    #[test]
    fn short_bootstrap_keys_are_refused() {
        let s = Settings {
            bootstrap_admin_key: Some(SecretString::from("REPLACE_ME")),
            ..Settings::default()
        };
        assert!(s.check().is_err());
    }
}
