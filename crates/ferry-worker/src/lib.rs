//! The job worker: takes job ids from the queue and runs them against the
//! state database and the tenant store.
//!
//! apalis delivers at least once; this side makes the effects exactly once by
//! keeping every job's truth in the state database: a message whose job is
//! already finished is acknowledged without running again.

mod handler;
pub mod poll;
pub mod sweep;
pub mod transfer;
pub mod upload;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis_core::backend::ext::BackendExt;
use apalis_core::monitor::Monitor;
use apalis_core::worker::builder::WorkerBuilder;
use ferry_queue::Queue;
use ferry_store::Store;
use ferry_tenant::TenantStore;
use tokio_util::sync::CancellationToken;

pub use handler::run_job;
pub use upload::{DEFAULT_BATCH_DOCUMENTS, TransferSettings};

/// What a job handler needs; shared by every task of a worker process.
#[derive(Clone, Debug)]
pub struct WorkerDeps {
    pub store: Store,
    pub tenants: TenantStore,
    pub transfer: TransferSettings,
    /// Pushes the batches of a job split into batches, and more of them
    /// as batches end (`None`: no splitting).
    pub dispatcher: Option<ferry_app::Dispatcher>,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs run at the same time by this process.
    pub concurrency: usize,
    /// How long in-flight jobs may take to finish after a shutdown signal;
    /// jobs still running then are handed back through the queue's orphan
    /// re-enqueue.
    pub shutdown_timeout: Duration,
    /// How often finished jobs are vacuumed from the queue.
    pub vacuum_interval: Duration,
    /// Jobs and ledgers of migrations closed longer ago than this are
    /// purged (at the vacuum interval); `None`: kept for good.
    pub history_retention: Option<Duration>,
    /// How often an idle worker asks the queue for work. Without it apalis
    /// only looks again at its next heartbeat, so a job pushed by another
    /// process (the API) would wait seconds to start.
    pub poll_interval: Duration,
    /// How often the recovery sweep looks for missing documents that
    /// appeared (`None`: no sweep).
    pub recovery_sweep: Option<Duration>,
    /// Webhook delivery (see `webhooks`).
    pub webhooks: webhooks::WebhookSettings,
}

/// A worker name unique to this start: apalis-redis re-enqueues a dead
/// worker's jobs only if a restarted worker does not reuse its name.
pub fn unique_worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("ferry-worker-{host}-{}", &id[..12])
}

/// Runs the worker until `shutdown` is cancelled.
pub async fn run(
    queue: Queue,
    deps: WorkerDeps,
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let name = unique_worker_name();
    tracing::info!(worker = %name, queue = queue.kind(), concurrency = settings.concurrency, "worker starting");
    let vacuum = tokio::spawn(vacuum_loop(
        queue.clone(),
        (deps.store.clone(), settings.history_retention),
        settings.vacuum_interval,
        shutdown.clone(),
    ));
    let sweep = settings
        .recovery_sweep
        .zip(deps.dispatcher.clone())
        .map(|(every, dispatcher)| {
            tokio::spawn(sweep::sweep_loop(
                dispatcher,
                sweep::SweepSettings::every(every),
                shutdown.clone(),
            ))
        });
    let deliveries = tokio::spawn(webhooks::delivery_loop(
        deps.store.clone(),
        settings.webhooks.clone(),
        shutdown.clone(),
    ));
    let deps = Arc::new(deps);
    let signal = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            tracing::info!("worker shutting down: finishing in-flight jobs");
            Ok(())
        }
    };
    // A backend error (Redis restarted and forgot this worker's registration,
    // a dropped connection) ends a worker; the monitor starts it again, so a
    // Redis restart never needs a process restart. The short pause keeps a
    // still-down Redis from turning this into a busy loop.
    let restart_guard = shutdown.clone();
    let monitor = Monitor::new()
        .shutdown_timeout(settings.shutdown_timeout)
        .should_restart(move |ctx, err| {
            if restart_guard.is_cancelled() {
                return false;
            }
            tracing::warn!(worker = %ctx.name(), error = %err, "worker stopped on a backend error; restarting");
            std::thread::sleep(Duration::from_millis(500));
            true
        });
    // The two backends are different types; the worker is built the same way
    // for each.
    macro_rules! register {
        ($storage:expr) => {{
            let storage = $storage;
            let deps = deps.clone();
            let concurrency = settings.concurrency;
            let poll = settings.poll_interval;
            let pushed = deps.dispatcher.as_ref().map(|d| d.pushed());
            monitor.register(move |_restarts| {
                let mut strategy = poll::ArmedInterval::new(poll);
                if let Some(pushed) = &pushed {
                    strategy = strategy.nudged_by(pushed.clone());
                }
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(strategy))
                    .concurrency(concurrency)
                    .data(deps.clone())
                    .build(handler::handle)
            })
        }};
    }
    let monitor = match queue {
        Queue::Sqlite(s) => register!(s),
        Queue::Redis(s) => register!(s),
    };
    let result = monitor.run_with_signal(signal).await;
    shutdown.cancel();
    let _ = vacuum.await;
    let _ = deliveries.await;
    if let Some(sweep) = sweep {
        let _ = sweep.await;
    }
    result.map_err(|e| anyhow::anyhow!("worker stopped with an error: {e}"))
}

/// Removes finished jobs from the queue and, with a retention, old history
/// from the database. The queue's records are bookkeeping; what clients see
/// of a job lives in the database and stays (see `ferry_store::history`).
async fn vacuum_loop(
    queue: Queue,
    (store, retention): (ferry_store::Store, Option<Duration>),
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                match queue.vacuum().await {
                    Ok(n) if n > 0 => tracing::debug!(removed = n, "vacuumed finished jobs from the queue"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "queue vacuum failed; will retry"),
                }
                if let Some(keep) = retention {
                    match store.purge_history(&ferry_store::ago(keep)).await {
                        Ok(p) if p.jobs > 0 => tracing::info!(jobs = p.jobs, documents = p.documents, "purged job history past its retention"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "history purge failed; will retry"),
                    }
                }
            }
        }
    }
}
