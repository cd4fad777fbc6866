//! The upload and recovery job (SPEC §3.6): streams the database dump to
//! `<tenant>/database/<file name>`, then every document of the job's scope
//! from the archive to `<tenant>/documents/<path>`, and records each
//! document's outcome in the ledger.
//!
//! - Scope: an upload takes the `pending` documents, a recovery the `missing`
//!   and `failed` ones. A document a job has recorded is never recorded by it
//!   again, so a redelivered job (worker killed) continues where the ledger
//!   stands, and its counters never count a document twice.
//! - Resume: writes to the tenant store are atomic, but a worker can die
//!   between writing a document and recording it. A redelivered job
//!   (attempt > 1) therefore first checks whether the document is already
//!   stored with the expected checksum and records it without copying.
//! - The work list is read from the database page by page while copies run,
//!   so millions of rows are never loaded at once. A local archive into a
//!   local tenant store is copied by blocking lanes (`lanes`,
//!   `transfer::local`); a local archive into an object store has its small
//!   documents read by lanes and `put` by futures (`reads`); anything else
//!   is copied by `copy_with_retry` futures with bounded concurrency
//!   (`copy_async`).
//! - A missing document is an outcome, not a failure: the job succeeds and
//!   the migration becomes `uploaded`. A missing or unreadable dump fails the
//!   job: without the database there is nothing to migrate.
//! - Scale out (`FERRY_UPLOAD_BATCH_DOCUMENTS`): the job copies the dump,
//!   splits the manifest into batches of positions (`Store::
//!   split_into_batches`, once; each batch is a job with its dispatch record,
//!   which the outbox's dispatcher pushes a few per migration at a time),
//!   then stays `running`. Any worker runs a batch ([`run_batch`]) for the parent:
//!   outcomes and counters go to the parent, so the job the client polls
//!   shows all of it. The last batch to finish (decided in the database)
//!   reconciles the counters with the ledger and finishes the job and the
//!   migration in one transaction.
//! - Staging files that killed attempts left in a local tenant store are
//!   removed when the work is done (`staging`).

mod archive;
mod delivery;
mod files;
mod lanes;
mod listing;
mod local_target;
mod reads;
mod recorder;
mod removals;
mod staging;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_domain::manifest::DocumentPath;
use ferry_domain::{JobKind, JobState, MigrationState};
use ferry_store::{
    BatchRecord, DocumentOutcome, DocumentStatus, JobRecord, Store, StoreError, WorkItem,
};
use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::WorkerDeps;
use crate::transfer::local::LocalOptions;
use crate::transfer::{
    CopyError, CopyOptions, Expected, RetryPolicy, already_present, copy_with_retry, under,
};
use archive::{Archive, Source};
use files::DocumentFiles;
use local_target::LocalTarget;
use recorder::Recorder;

/// How the upload job moves data.
#[derive(Debug, Clone)]
pub struct TransferSettings {
    /// Documents copied at the same time by one job.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Outcomes written per database round trip, at most…
    pub flush_rows: usize,
    /// …and at least this often while outcomes arrive.
    pub flush_interval: Duration,
    /// Work-list rows read per query.
    pub page_rows: u32,
    /// Bandwidth limit of one job's writes to the tenant store; `None`: no
    /// limit (`transfer_max_bytes_per_sec` in the settings).
    pub max_bytes_per_sec: Option<u64>,
    /// Scale out: split a job into batches of this many manifest positions,
    /// each a queue job of its own, so several workers share it; `None`:
    /// one job does all. Default [`DEFAULT_BATCH_DOCUMENTS`]
    /// (`upload_batch_documents` in the settings).
    pub batch_documents: Option<u64>,
}

/// Manifest positions per batch unless configured: at some 30,000 small
/// documents a second per worker, a batch is seconds to minutes of work, a
/// million-document archive is 20 queue jobs, and an archive below it is one
/// batch (no second queue pickup on its critical path).
pub const DEFAULT_BATCH_DOCUMENTS: u64 = 50_000;

impl Default for TransferSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            retry: RetryPolicy::default(),
            flush_rows: 2000,
            flush_interval: Duration::from_secs(1),
            page_rows: 2000,
            max_bytes_per_sec: None,
            batch_documents: Some(DEFAULT_BATCH_DOCUMENTS),
        }
    }
}

/// Runs the job; the state to record when it returns. `Running` means the
/// job was split into batches (`TransferSettings::batch_documents`): the
/// last of them finishes it.
pub async fn run(deps: &WorkerDeps, job: &JobRecord) -> anyhow::Result<JobState> {
    let store = &deps.store;
    let phases = Phases::start();
    let migration = store
        .get_migration(&job.migration_id)
        .await?
        .with_context(|| format!("migration {} vanished", job.migration_id))?;
    if migration.state == MigrationState::Cancelled {
        return Ok(JobState::Cancelled);
    }
    let dump = match job.kind {
        JobKind::Upload => Some(locate_dump(&migration.database_url, &migration.tenant).await?),
        // A pre-copy runs while the source is live: its dump is only
        // consistent under the freeze, so the cutover copies it.
        JobKind::Recovery | JobKind::Precopy => None,
    };
    let dump_size = dump.as_ref().map_or(0, |d| d.size);
    if matches!(job.kind, JobKind::Upload | JobKind::Precopy) {
        // Before the scope is counted: rows found unchanged are not work.
        listing::compare(deps, job, &migration).await?;
        phases.done("listing compared");
    }
    let scope = store.set_job_scope(job, to_i64(dump_size)).await?;
    phases.done("scope counted");
    if job.kind == JobKind::Upload {
        // The cutover: copies the manifest no longer describes go first.
        removals::remove_stale(deps, job, tenant_store(deps)).await?;
        phases.done("removals done");
    }
    // Work that fits one batch runs here: a batch of its own would only
    // add a round through the queue (a cutover's delta is usually small).
    // The scope is the same on every attempt, so a redelivered job decides
    // the same way.
    let split = deps
        .transfer
        .batch_documents
        .filter(|&size| scope.documents_total > to_i64(size));
    if let (Some(size), Some(dispatcher)) = (split, &deps.dispatcher) {
        if let Some(dump) = dump {
            copy_dump(deps, job, dump, &CopyOptions::default()).await?;
        }
        // The batches and their dispatch records commit together; the
        // dispatcher pushes them, a few per migration at a time.
        let batches = store.split_into_batches(job, to_i64(size)).await?;
        dispatcher.kick();
        tracing::info!(
            batches = batches.len(),
            batch_documents = size,
            "job split into batches"
        );
        return Ok(JobState::Running);
    }
    let state = copy_documents(deps, job, &migration, dump, None, job.attempts > 1).await?;
    phases.done("documents copied");
    if state == JobState::Succeeded {
        deliver(deps, job, &migration).await?;
        phases.done("delivered");
        sweep_staging(deps, job).await;
        phases.done("staging swept");
    }
    Ok(state)
}

/// The assignment, the ledger and the receipt (`delivery`), after an upload
/// or a recovery; a pre-copy delivers nothing (the plan and the ledger are
/// not final while the source is live).
async fn deliver(
    deps: &WorkerDeps,
    job: &JobRecord,
    migration: &ferry_store::MigrationRecord,
) -> anyhow::Result<()> {
    if job.kind == JobKind::Precopy {
        return Ok(());
    }
    delivery::deliver(deps, job, migration, tenant_store(deps))
        .await
        .context("delivering the assignment and the receipt")?;
    Ok(())
}

/// Debug-level timings of a job's phases, for finding where a job's time
/// goes (`RUST_LOG=ferry_worker=debug`).
struct Phases(std::time::Instant);

impl Phases {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn done(&self, phase: &'static str) {
        tracing::debug!(
            phase,
            since_start_ms = self.0.elapsed().as_secs_f64() * 1e3,
            "job phase"
        );
    }
}

/// Runs one batch of `parent` (manifest positions `batch.first_seq..=
/// batch.last_seq`), recording on the parent; the batch's end state.
pub async fn run_batch(
    deps: &WorkerDeps,
    parent: &JobRecord,
    batch: &BatchRecord,
    attempts: i64,
) -> anyhow::Result<JobState> {
    let migration = deps
        .store
        .get_migration(&parent.migration_id)
        .await?
        .with_context(|| format!("migration {} vanished", parent.migration_id))?;
    if migration.state == MigrationState::Cancelled {
        return Ok(JobState::Cancelled);
    }
    copy_documents(
        deps,
        parent,
        &migration,
        None,
        Some((batch.first_seq, batch.last_seq)),
        attempts > 1,
    )
    .await
}

/// After the last batch of `parent`: what the job does at its end — the
/// delivery, then the staging sweep.
pub async fn finish_split(deps: &WorkerDeps, parent: &JobRecord) -> anyhow::Result<()> {
    let migration = deps
        .store
        .get_migration(&parent.migration_id)
        .await?
        .with_context(|| format!("migration {} vanished", parent.migration_id))?;
    deliver(deps, parent, &migration).await?;
    sweep_staging(deps, parent).await;
    Ok(())
}

/// The dump (unless given `None`) and the documents of `job` in the manifest
/// positions `range` (all when `None`), with the outcome recorder.
async fn copy_documents(
    deps: &WorkerDeps,
    job: &JobRecord,
    migration: &ferry_store::MigrationRecord,
    dump: Option<Dump>,
    range: Option<(i64, i64)>,
    resume: bool,
) -> anyhow::Result<JobState> {
    let store = &deps.store;
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(deps.transfer.flush_rows.max(1) * 2);
    // Started first: its tick also notices a cancelled migration, which
    // must be able to stop a long dump copy too.
    let recorder = tokio::spawn(
        Recorder {
            store: store.clone(),
            job: job.clone(),
            flush_rows: deps.transfer.flush_rows.max(1),
            flush_interval: deps.transfer.flush_interval,
            cancel: cancel.clone(),
        }
        .run(rx),
    );
    let moved = transfer(
        deps,
        job,
        migration,
        dump,
        range,
        resume,
        cancel.clone(),
        tx,
    )
    .await;
    let recorded = recorder.await.context("the outcome recorder panicked")?;
    // A copy that stopped because the migration or the job was cancelled is
    // not an error.
    if cancel.is_cancelled() && recorder::stop_reason(store, job).await?.is_some() {
        return Ok(JobState::Cancelled);
    }
    recorded.context("recording outcomes")?;
    moved?;
    Ok(JobState::Succeeded)
}

/// Removes what killed attempts left in a local tenant store (see
/// `staging`). Not an error when it fails: the documents are all in place.
/// Skipped when no attempt can have been killed mid-write (this job and
/// every earlier one of the migration ran once and ended well): the walk
/// costs a read of every folder of the tenant, which in a cutover would
/// grow the freeze window with the archive rather than with the change.
/// (A split job's batches are jobs of the migration too.)
async fn sweep_staging(deps: &WorkerDeps, job: &JobRecord) {
    let Some(root) = deps.tenants.local_root() else {
        return;
    };
    if job.attempts <= 1 {
        match deps
            .store
            .may_hold_staging(&job.migration_id, &job.id)
            .await
        {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => {
                tracing::debug!(error = %e, "cannot tell whether staging files may be left; sweeping")
            }
        }
    }
    let dir = root.join(&*job.tenant);
    let before = std::time::SystemTime::now();
    match tokio::task::spawn_blocking(move || staging::sweep(&dir, before)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(removed = n, "removed staging files of interrupted writes"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot remove staging files"),
        Err(e) => tracing::warn!(error = %e, "the staging sweep panicked"),
    }
}

/// The copies: the dump (unless an earlier attempt copied it), then the
/// documents. Outcomes go to the recorder through `tx`.
#[allow(clippy::too_many_arguments)]
async fn transfer(
    deps: &WorkerDeps,
    job: &JobRecord,
    migration: &ferry_store::MigrationRecord,
    dump: Option<Dump>,
    range: Option<(i64, i64)>,
    resume: bool,
    cancel: CancellationToken,
    tx: mpsc::Sender<DocumentOutcome>,
) -> anyhow::Result<()> {
    let store = &deps.store;
    let opts = CopyOptions {
        cancel: cancel.clone(),
        ..CopyOptions::default()
    };
    if let Some(dump) = dump {
        copy_dump(deps, job, dump, &opts).await?;
    }
    let dst = tenant_store(deps);
    let dst_prefix = Path::parse(format!("{}/documents", migration.tenant))?;
    let copier = Arc::new(Copier {
        archive: Archive::open(&migration.archive_url).context("opening the document archive")?,
        dst,
        local: LocalTarget::of(deps, &opts.cancel).and_then(|target| {
            let files = target.documents(&dst_prefix)?;
            Some((target, files))
        }),
        dst_prefix,
        reads: LocalOptions {
            cancel: opts.cancel.clone(),
            ..LocalOptions::default()
        },
        opts,
        retry: deps.transfer.retry,
        resume,
    });
    // Stops taking new work once cancelled; copies in flight end `Cancelled`
    // (multipart uploads aborted) and are left for a later run.
    let work = work_list(store.clone(), job.clone(), range, deps.transfer.page_rows)
        .take_until(cancel.clone().cancelled_owned());
    let lanes = deps.transfer.concurrency.max(1);
    let failure = if copier.local.is_some() && copier.archive.is_local() {
        let step: lanes::Step<_> = {
            let copier = copier.clone();
            Arc::new(move |item| copier.copy_blocking(item))
        };
        lanes::run(step, work, lanes, tx, cancel.clone()).await
    } else if copier.archive.is_local() && !copier.resume {
        reads::run(copier, work, lanes, tx, cancel.clone()).await
    } else {
        copy_async(copier, work, lanes, tx, cancel.clone()).await
    };
    if let Some(e) = failure {
        return Err(e).context("reading the work list");
    }
    anyhow::ensure!(
        !cancel.is_cancelled(),
        "the job stopped before its work was done"
    );
    Ok(())
}

/// Copies through `object_store`, `concurrency` documents at a time; the
/// work list's error, if reading it failed.
async fn copy_async(
    copier: Arc<Copier>,
    work: impl Stream<Item = Result<WorkItem, StoreError>>,
    concurrency: usize,
    tx: mpsc::Sender<DocumentOutcome>,
    cancel: CancellationToken,
) -> Option<StoreError> {
    let copies = work
        .map(|item| {
            let copier = copier.clone();
            async move { Ok::<_, StoreError>(copier.copy(item?).await) }
        })
        .buffer_unordered(concurrency);
    let mut copies = std::pin::pin!(copies);
    let mut failure = None;
    while let Some(next) = copies.next().await {
        match next {
            Ok(Some(outcome)) => {
                if tx.send(outcome).await.is_err() {
                    // The recorder stopped; its error is the job's.
                    cancel.cancel();
                }
            }
            Ok(None) => {}
            Err(e) => {
                failure.get_or_insert(e);
                cancel.cancel();
            }
        }
    }
    failure
}

/// The tenant store, behind the bandwidth limit when one is set.
fn tenant_store(deps: &WorkerDeps) -> Arc<dyn ObjectStore> {
    let dst = deps.tenants.object_store();
    match deps.transfer.max_bytes_per_sec {
        Some(rate) => Arc::new(throttle::Throttled {
            inner: dst,
            pacer: Arc::new(throttle::Pacer::new(rate)),
        }),
        None => dst,
    }
}

/// Copies the dump unless an earlier attempt recorded it.
async fn copy_dump(
    deps: &WorkerDeps,
    job: &JobRecord,
    dump: Dump,
    opts: &CopyOptions,
) -> anyhow::Result<()> {
    let current = deps.store.get_job(&job.id).await?;
    if current.is_some_and(|j| j.progress.database_sha256.is_some()) {
        return Ok(());
    }
    let expected = Expected {
        size: Some(dump.size),
        sha256: None,
    };
    let src = dump.source;
    let local = LocalTarget::of(deps, &opts.cancel);
    let copied = match (local, src.local_file()) {
        (Some(local), Some(file)) => local.copy(file, None, &dump.dst, &expected).await,
        _ => {
            copy_with_retry(
                src.store.as_ref(),
                &src.path,
                tenant_store(deps).as_ref(),
                &dump.dst,
                &expected,
                opts,
                &deps.transfer.retry,
            )
            .await
        }
    }
    .map_err(|e| anyhow::anyhow!("copying the database dump: {e}"))?;
    deps.store
        .record_database_copy(&job.id, to_i64(copied.bytes), &copied.sha256)
        .await?;
    tracing::info!(bytes = copied.bytes, "database dump copied");
    Ok(())
}

struct Dump {
    source: Source,
    size: u64,
    dst: Path,
}

async fn locate_dump(url: &str, tenant: &str) -> anyhow::Result<Dump> {
    let source = Source::open(url).context("the database dump")?;
    let name = source
        .path
        .filename()
        .filter(|n| !n.is_empty())
        .context("the database URL names no file")?
        .to_owned();
    let size = source
        .size()
        .await
        .context("the database dump")?
        .context("the database dump is not at its URL")?;
    let dst = Path::parse(format!("{tenant}/database/{name}"))?;
    Ok(Dump { source, size, dst })
}

/// The job's remaining documents in manifest order, one query per page.
fn work_list(
    store: Store,
    job: JobRecord,
    range: Option<(i64, i64)>,
    page_rows: u32,
) -> impl Stream<Item = Result<WorkItem, StoreError>> {
    let (first, until) = range.unwrap_or((0, i64::MAX));
    stream::try_unfold(Some(first - 1), move |after| {
        let (store, job) = (store.clone(), job.clone());
        async move {
            let Some(after) = after else {
                return Ok::<_, StoreError>(None);
            };
            let page = store.work_page_until(&job, after, until, page_rows).await?;
            let next = match page.last() {
                Some(last) if page.len() == page_rows as usize => Some(last.seq),
                _ => None,
            };
            Ok(Some((stream::iter(page.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}

struct Copier {
    archive: Archive,
    dst: Arc<dyn ObjectStore>,
    dst_prefix: Path,
    /// Set when the tenant store is a local folder: local documents skip
    /// `object_store` (see `transfer::local`), and go to these files.
    local: Option<(LocalTarget, DocumentFiles)>,
    /// How documents of a local archive are opened and read when the tenant
    /// store is not a local folder (see `reads`).
    reads: LocalOptions,
    opts: CopyOptions,
    retry: RetryPolicy,
    resume: bool,
}

impl Copier {
    /// Copies one document through `object_store`; `None` when cancelled
    /// (nothing to record).
    async fn copy(&self, item: WorkItem) -> Option<DocumentOutcome> {
        let result = self.try_copy(&item).await;
        outcome_of(item, result)
    }

    /// Copies one document of a local archive into the local tenant store,
    /// on this (blocking) thread; see `lanes`.
    fn copy_blocking(&self, item: WorkItem) -> Option<DocumentOutcome> {
        let result = self.try_copy_local(&item);
        outcome_of(item, result)
    }

    fn try_copy_local(&self, item: &WorkItem) -> Result<(String, u64), CopyError> {
        // The store decoded the path with the manifest's rules.
        let doc = &item.path;
        let (Some((local, files)), Some((file, root))) =
            (&self.local, self.archive.local_file(doc)?)
        else {
            return Err(CopyError::Permanent(
                "not a local archive and tenant store".to_owned(),
            ));
        };
        let copied =
            local.copy_blocking(file, root, files.file(doc), &expected_of(item), self.resume)?;
        Ok((copied.sha256, copied.bytes))
    }

    /// The document's path, where it goes and what it must be.
    fn plan(&self, item: &WorkItem) -> Result<(DocumentPath, Path, Expected), CopyError> {
        // The store decoded the path with the manifest's rules.
        let doc = item.path.clone();
        let dst = under(&self.dst_prefix, &doc)?;
        Ok((doc, dst, expected_of(item)))
    }

    async fn try_copy(&self, item: &WorkItem) -> Result<(String, u64), CopyError> {
        let (doc, dst, expected) = self.plan(item)?;
        if self.resume
            && let Some(sha) = &expected.sha256
            && already_present(self.dst.as_ref(), &dst, &expected).await
        {
            return Ok((sha.clone(), expected.size.unwrap_or_default()));
        }
        let src = self.archive.source_path(&doc).await?;
        let copied = copy_with_retry(
            self.archive.store.as_ref(),
            &src,
            self.dst.as_ref(),
            &dst,
            &expected,
            &self.opts,
            &self.retry,
        )
        .await?;
        Ok((copied.sha256, copied.bytes))
    }
}

/// What the manifest says `item` must be.
fn expected_of(item: &WorkItem) -> Expected {
    Expected {
        size: u64::try_from(item.size).ok(),
        sha256: item.expected_sha256.as_ref().map(|h| h.to_string()),
    }
}

/// The ledger entry for a copy's result; `None` when it was cancelled.
fn outcome_of(item: WorkItem, result: Result<(String, u64), CopyError>) -> Option<DocumentOutcome> {
    let (status, reason, actual_sha256, bytes) = match result {
        Ok((sha, bytes)) => (DocumentStatus::Uploaded, None, Some(sha), to_i64(bytes)),
        Err(CopyError::Cancelled) => return None,
        Err(CopyError::Missing) => (
            DocumentStatus::Missing,
            Some("not found in the source archive".to_owned()),
            None,
            0,
        ),
        Err(e) => (
            DocumentStatus::Failed,
            Some(format!("{}: {e}", e.code())),
            None,
            0,
        ),
    };
    Some(DocumentOutcome {
        item,
        status,
        reason,
        actual_sha256,
        bytes,
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
