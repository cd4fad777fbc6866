//! The recovery sweep (issue 4, item 8): while a migration is `uploaded`
//! with missing documents, look in its archive (a HEAD per document) every
//! `FERRY_RECOVERY_SWEEP_SECS`, and when some have appeared start a recovery
//! exactly as `POST …/start` does, so nobody has to remember to.
//!
//! - The start is the one a user makes ([`ferry_app::start`]), limited to
//!   recoveries: the state machine decides (only `uploaded` → `recovering`),
//!   the freeze is recorded in the same transaction (by [`SWEEP_ACTOR`]),
//!   and the dispatcher pushes the committed job. Several workers may sweep
//!   at once: the start's compare-and-set on the migration's version lets
//!   one win; the others get a conflict and start nothing.
//! - Only `missing` documents are looked for: a `failed` one was found and
//!   could not be copied, and retrying it on a timer would loop.
//! - The HEADs stop at the first document found, and at most
//!   [`SweepSettings::max_checks`] documents per migration and round are
//!   asked for, so a huge archive with everything still missing costs a
//!   bounded number of requests per round.
//! - The check is cheap and only decides whether to start: the recovery job
//!   itself applies every rule of the upload (the symbolic-link check of a
//!   local archive, sizes and checksums).

use std::sync::Arc;
use std::time::Duration;

use ferry_app::{Dispatcher, StartError};
use ferry_domain::JobKind;
use ferry_domain::manifest::DocumentPath;
use ferry_store::{
    DocumentFilter, DocumentStatus, IdempotencyClaim, StartRequest, Store, StoreError,
};
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio_util::sync::CancellationToken;

use crate::transfer::under;

/// Who the freeze record names for a start made by the sweep.
pub const SWEEP_ACTOR: &str = "recovery-sweep";

#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Time between two rounds.
    pub interval: Duration,
    /// Missing documents looked for per migration and round, at most.
    pub max_checks: usize,
    /// HEAD requests in flight at once.
    pub concurrency: usize,
}

impl SweepSettings {
    pub fn every(interval: Duration) -> SweepSettings {
        SweepSettings {
            interval,
            max_checks: 10_000,
            concurrency: 8,
        }
    }
}

/// Runs rounds every `settings.interval` until `shutdown`.
pub async fn sweep_loop(
    dispatcher: Dispatcher,
    settings: SweepSettings,
    shutdown: CancellationToken,
) {
    tracing::info!(
        interval_secs = settings.interval.as_secs(),
        "recovery sweep on"
    );
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let round = sweep_once(&dispatcher, &settings);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    started = round => match started {
                        Ok(jobs) if !jobs.is_empty() => {
                            tracing::info!(started = jobs.len(), "recovery sweep started recoveries");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "recovery sweep round failed; will retry"),
                    },
                }
            }
        }
    }
}

/// One round: the ids of the recovery jobs this round started.
pub async fn sweep_once(
    dispatcher: &Dispatcher,
    settings: &SweepSettings,
) -> anyhow::Result<Vec<String>> {
    let store = dispatcher.store();
    let mut started = Vec::new();
    for migration_id in store.migrations_with_missing_documents().await? {
        let Some(migration) = store.get_migration(&migration_id).await? else {
            continue;
        };
        match some_appeared(store, &migration, settings).await {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                tracing::warn!(migration_id = %migration_id, error = %e, "recovery sweep cannot look in the archive");
                continue;
            }
        }
        match start_recovery(dispatcher, &migration_id).await {
            Ok(Some(job_id)) => {
                tracing::info!(migration_id = %migration_id, job_id = %job_id, "missing documents appeared: recovery started");
                started.push(job_id);
            }
            Ok(None) => {}
            // Another worker or a user started it first, or the state moved.
            Err(StartError::Store(
                e @ (StoreError::VersionMismatch { .. }
                | StoreError::Transition(_)
                | StoreError::JobActive(_)
                | StoreError::NothingToDo),
            )) => {
                tracing::debug!(migration_id = %migration_id, error = %e, "recovery sweep did not start a recovery");
            }
            Err(e) => {
                tracing::warn!(migration_id = %migration_id, error = %e, "recovery sweep could not start a recovery; will retry");
            }
        }
    }
    Ok(started)
}

/// Whether at least one `missing` document of the migration is now in its
/// archive.
async fn some_appeared(
    store: &Store,
    migration: &ferry_store::MigrationRecord,
    settings: &SweepSettings,
) -> anyhow::Result<bool> {
    let (archive, base) = ferry_tenant::source::open_source(&migration.archive_url)
        .map_err(|e| anyhow::anyhow!("cannot open the archive URL: {e}"))?;
    let mut after_seq = None;
    let mut checked = 0usize;
    while checked < settings.max_checks {
        let page = store
            .list_documents(
                &migration.id,
                &DocumentFilter {
                    status: Some(DocumentStatus::Missing),
                    after_seq,
                    limit: 500,
                },
            )
            .await?;
        let take = page.items.len().min(settings.max_checks - checked);
        checked += take;
        let paths: Vec<String> = page
            .items
            .iter()
            .take(take)
            .map(|d| d.path.clone())
            .collect();
        if present_any(archive.clone(), &base, paths, settings.concurrency).await? {
            return Ok(true);
        }
        match page.next_cursor {
            Some(_) => after_seq = page.items.last().map(|d| d.seq),
            None => break,
        }
    }
    Ok(false)
}

/// HEADs `paths` under `base`, a few at a time; `true` at the first found.
async fn present_any(
    archive: Arc<dyn ObjectStore>,
    base: &object_store::path::Path,
    paths: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<bool> {
    let heads = futures::stream::iter(paths.into_iter().filter_map(|p| {
        // Every stored path passed the manifest's strict parse; one that no
        // longer does is skipped (the recovery reports it).
        let doc = DocumentPath::parse(&p).ok()?;
        under(base, &doc).ok()
    }))
    .map(|path| {
        let archive = archive.clone();
        async move {
            match archive.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(anyhow::anyhow!("HEAD {path}: {e}")),
            }
        }
    })
    .buffer_unordered(concurrency.max(1));
    futures::pin_mut!(heads);
    while let Some(found) = heads.next().await {
        if found? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Starts a recovery as `POST …/start` does; the new job's id.
async fn start_recovery(
    dispatcher: &Dispatcher,
    migration_id: &str,
) -> Result<Option<String>, StartError> {
    let job_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let req = StartRequest {
        migration_id,
        job_id: &job_id,
        started_by: Some(SWEEP_ACTOR),
        idem: None,
        only: Some(JobKind::Recovery),
    };
    match ferry_app::start(dispatcher, req, |_| (202, String::new())).await? {
        IdempotencyClaim::Fresh(s) => Ok(Some(s.job.id)),
        // Only a start with an idempotency key is replayed; this one has none.
        IdempotencyClaim::Replay(_) => Ok(None),
    }
}
