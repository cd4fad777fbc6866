//! The `ferry` application: configuration, telemetry and start-up shared by
//! the binary's subcommands and by the integration tests, which start the very
//! same [`Application`].

pub mod config;
pub mod telemetry;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::Context;
use ferry_app::{DispatchSettings, Dispatcher};
use ferry_domain::Role;
use ferry_http::{AppState, HttpSettings};
use ferry_queue::{Queue, QueueTuning};
use ferry_store::{NewApiKey, Store};
use ferry_tenant::TenantStore;
use ferry_worker::{WorkerDeps, WorkerSettings};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Which parts run in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    Api,
    Worker,
    AllInOne,
}

impl Parts {
    fn api(self) -> bool {
        matches!(self, Parts::Api | Parts::AllInOne)
    }
    fn worker(self) -> bool {
        matches!(self, Parts::Worker | Parts::AllInOne)
    }

    /// How often this process's worker polls the queue: rarely in
    /// all-in-one, where its own dispatcher's pushes wake it (see
    /// `Settings::queue_poll_all_in_one_ms`); often in a worker process,
    /// whose jobs are pushed by API processes that cannot wake it.
    fn poll_interval(self, s: &Settings) -> Duration {
        let ms = match self {
            Parts::AllInOne => s.queue_poll_all_in_one_ms,
            Parts::Api | Parts::Worker => s.queue_poll_ms,
        };
        Duration::from_millis(ms.max(1))
    }
}

/// Connections to the three dependencies.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Store,
    pub queue: Queue,
    pub tenants: TenantStore,
    /// The job outbox's dispatcher over `store` and `queue`.
    pub dispatcher: Dispatcher,
}

impl Services {
    /// Connects everything and brings both schemas (state and queue) up to date.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Services> {
        settings.prepare_data_dir()?;
        let store = Store::connect(
            &settings.database_url(),
            settings.db_max_connections,
            Duration::from_secs(settings.db_acquire_timeout_secs),
        )
        .await
        .context("connecting to the state database")?;
        let queue = Queue::connect(
            &settings.queue_url(),
            &settings.queue_namespace,
            queue_tuning(settings),
        )
        .await
        .context("connecting to the queue")?;
        let tenants =
            TenantStore::open(&settings.tenant_store_url()).context("opening the tenant store")?;
        let dispatcher = Dispatcher::new(store.clone(), queue.clone(), dispatch_settings(settings));
        Ok(Services {
            store,
            queue,
            tenants,
            dispatcher,
        })
    }
}

fn dispatch_settings(settings: &Settings) -> DispatchSettings {
    DispatchSettings {
        interval: Duration::from_millis(settings.dispatch_interval_ms.max(1)),
        batches_per_migration: i64::try_from(settings.dispatch_batches_per_migration.max(1))
            .unwrap_or(i64::MAX),
        repush_after: Duration::from_secs(settings.dispatch_repush_secs.max(1)),
        queue_timeout: Duration::from_secs(settings.queue_timeout_secs),
    }
}

fn queue_tuning(settings: &Settings) -> QueueTuning {
    QueueTuning {
        heartbeat: Duration::from_secs(settings.queue_heartbeat_secs),
        missed_heartbeats: settings.queue_missed_heartbeats,
        timeout: Duration::from_secs(settings.queue_timeout_secs),
    }
}

/// Makes sure an admin key exists. On a first start the configured bootstrap
/// key (or a generated one) becomes the admin key; a generated key is returned
/// so the caller can print it, once.
pub async fn ensure_bootstrap_key(
    store: &Store,
    settings: &Settings,
) -> anyhow::Result<Option<String>> {
    let (key, generated) = match &settings.bootstrap_admin_key {
        Some(k) => (k.expose_secret().to_owned(), false),
        None => (ferry_http::auth::generate_key(), true),
    };
    let inserted = store
        .insert_first_key(&NewApiKey {
            id: uuid::Uuid::now_v7().hyphenated().to_string(),
            name: "bootstrap-admin".to_owned(),
            role: Role::Admin,
            tenant: None,
            key_hash: ferry_http::auth::hash_key(&key),
        })
        .await?;
    Ok((inserted && generated).then_some(key))
}

/// A built, not yet running application.
pub struct Application {
    services: Services,
    settings: Settings,
    parts: Parts,
    listener: Option<TcpListener>,
    addr: Option<SocketAddr>,
    /// A bootstrap admin key created by this start, to be shown once.
    pub new_admin_key: Option<String>,
}

impl Application {
    /// Connects and binds; nothing is served until [`Application::run`].
    pub async fn build(settings: Settings, parts: Parts) -> anyhow::Result<Application> {
        let services = Services::connect(&settings).await?;
        let (listener, addr, new_admin_key) = if parts.api() {
            let listener = TcpListener::bind(&settings.bind)
                .with_context(|| format!("binding {}", settings.bind))?;
            let addr = listener.local_addr()?;
            let key = ensure_bootstrap_key(&services.store, &settings).await?;
            (Some(listener), Some(addr), key)
        } else {
            (None, None, None)
        };
        Ok(Application {
            services,
            settings,
            parts,
            listener,
            addr,
            new_admin_key,
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until `shutdown` fires, then stops gracefully: the API finishes
    /// in-flight requests and the worker its in-flight jobs, each within the
    /// shutdown timeout.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let s = &self.settings;
        tracing::info!(
            mode = s.mode(),
            parts = ?self.parts,
            addr = ?self.addr,
            queue = self.services.queue.kind(),
            tenant_store = self.services.tenants.kind(),
            "ferry starting"
        );
        // Every process with a queue dispatches: the API its starts, the
        // worker its batches; each also picks up what another left behind.
        let dispatch = tokio::spawn(self.services.dispatcher.clone().run(shutdown.clone()));
        let api = match self.listener {
            Some(listener) => {
                let (callers, job_views) = AppState::caches(
                    Duration::from_millis(s.auth_cache_ms),
                    Duration::from_millis(s.job_view_cache_ms),
                );
                let state = AppState {
                    store: self.services.store.clone(),
                    dispatcher: self.services.dispatcher.clone(),
                    tenants: self.services.tenants.clone(),
                    settings: HttpSettings {
                        max_body_bytes: s.max_body_bytes,
                        readiness_timeout: Duration::from_secs(s.readiness_timeout_secs),
                        max_page_size: s.max_page_size,
                        csv_limits: ferry_domain::licensing::CsvLimits {
                            max_rows: s.csv_max_rows,
                            max_bytes: s.csv_max_bytes,
                            max_field_len: s.csv_max_field_len,
                        },
                        min_source_version: ferry_domain::SourceVersion::parse(
                            &s.min_source_version,
                        )
                        .map_err(|e| anyhow::anyhow!("min_source_version: {}", e.message))?,
                        source_probe_timeout: Duration::from_secs(s.source_probe_timeout_secs),
                        manifest_limits: ferry_domain::manifest::ManifestLimits {
                            max_rows: s.manifest_max_rows,
                            ..Default::default()
                        },
                        manifest_max_bytes: s.manifest_max_bytes,
                        default_throughput_bytes_per_sec: s.default_throughput_bytes_per_sec,
                    },
                    metrics: ferry_http::metrics_handle(),
                    rosters: std::sync::Arc::new(ferry_http::roster_cache::RosterCache::new(
                        s.roster_cache_entries,
                    )),
                    callers,
                    job_views,
                };
                let workers = if s.http_workers == 0 {
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(2)
                } else {
                    s.http_workers
                };
                let server = ferry_http::serve(listener, state, workers, s.shutdown_timeout())?;
                let handle = server.handle();
                let token = shutdown.clone();
                tokio::spawn(async move {
                    token.cancelled().await;
                    tracing::info!("api shutting down: finishing in-flight requests");
                    handle.stop(true).await;
                });
                Some(tokio::spawn(server))
            }
            None => None,
        };
        let worker = if self.parts.worker() {
            let deps = WorkerDeps {
                store: self.services.store.clone(),
                tenants: self.services.tenants.clone(),
                transfer: ferry_worker::TransferSettings {
                    concurrency: s.transfer_concurrency,
                    max_bytes_per_sec: (s.transfer_max_bytes_per_sec > 0)
                        .then_some(s.transfer_max_bytes_per_sec),
                    batch_documents: (s.upload_batch_documents > 0)
                        .then_some(s.upload_batch_documents),
                    ..Default::default()
                },
                dispatcher: Some(self.services.dispatcher.clone()),
            };
            let settings = WorkerSettings {
                concurrency: s.worker_concurrency,
                shutdown_timeout: s.shutdown_timeout(),
                vacuum_interval: Duration::from_secs(s.vacuum_interval_secs.max(1)),
                history_retention: (s.job_history_retention_days > 0)
                    .then(|| Duration::from_secs(s.job_history_retention_days * 86_400)),
                poll_interval: self.parts.poll_interval(s),
                recovery_sweep: (s.recovery_sweep_secs > 0)
                    .then(|| Duration::from_secs(s.recovery_sweep_secs)),
                webhooks: ferry_worker::webhooks::WebhookSettings {
                    poll_interval: Duration::from_millis(s.webhook_poll_ms.max(1)),
                    timeout: Duration::from_secs(s.webhook_timeout_secs),
                    max_attempts: s.webhook_max_attempts,
                    backoff_base: Duration::from_millis(s.webhook_backoff_base_ms),
                    backoff_max: Duration::from_secs(s.webhook_backoff_max_secs),
                    concurrency: s.webhook_concurrency,
                },
            };
            Some(tokio::spawn(ferry_worker::run(
                self.services.queue.clone(),
                deps,
                settings,
                shutdown.clone(),
            )))
        } else {
            None
        };
        // Whichever part stops first (a fatal error) stops the other.
        let mut result = Ok(());
        if let Some(api) = api {
            let r = api.await;
            shutdown.cancel();
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(anyhow::anyhow!("api stopped: {e}")),
                Err(e) => result = Err(anyhow::anyhow!("api task failed: {e}")),
            }
        }
        if let Some(worker) = worker {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(anyhow::anyhow!("worker task failed: {e}")),
            }
        }
        shutdown.cancel();
        let _ = dispatch.await;
        self.services.store.close().await;
        tracing::info!("ferry stopped");
        result
    }
}

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        t.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown signal received");
        t.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_all_in_one_worker_polls_rarely() {
        let s = Settings {
            queue_poll_ms: 25,
            queue_poll_all_in_one_ms: 1000,
            ..Settings::default()
        };
        assert_eq!(Parts::AllInOne.poll_interval(&s), Duration::from_secs(1));
        // A worker process's jobs are pushed by other processes.
        assert_eq!(Parts::Worker.poll_interval(&s), Duration::from_millis(25));
    }
}
