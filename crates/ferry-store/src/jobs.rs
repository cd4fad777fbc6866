//! Job records: the durable view of work that runs in the queue. The queue
//! carries only a job id; everything a client polls lives here, so a dashboard
//! never depends on the queue's own bookkeeping.

use ferry_domain::audit::AuditAction;
use ferry_domain::{JobKind, JobState, LifecycleEvent, MigrationState, TenantSlug, WebhookEvent};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEvent, append_in};
use crate::freeze::record_freeze;
use crate::idempotency::{Idempotent, claim, finish_claim};
use crate::migrations::{MigrationRecord, transition_in};
use crate::outbox::{enqueue_in, forget_in};
use crate::webhooks::record_event_in;
use crate::{IdempotencyClaim, Result, Store, StoreError, now, parse_col, typed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub migration_id: String,
    pub tenant: TenantSlug,
    pub kind: JobKind,
    pub state: JobState,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub progress: JobProgress,
}

pub(crate) const JOB_COLUMNS: &str = "id, migration_id, tenant, kind, state, attempts, worker_id, last_error, \
     created_at, updated_at, started_at, finished_at, documents_total, documents_uploaded, \
     documents_missing, documents_failed, bytes_total, bytes_done, database_bytes, database_sha256";

pub(crate) fn job_from_row(row: &AnyRow) -> Result<JobRecord> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        migration_id: row.try_get("migration_id")?,
        tenant: typed(row, "tenant", TenantSlug::parse)?,
        kind: parse_col(&kind, "jobs.kind")?,
        state: parse_col(&state, "jobs.state")?,
        attempts: row.try_get("attempts")?,
        worker_id: row.try_get("worker_id")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        progress: progress_from_row(row)?,
    })
}

/// What a successful start produced.
#[derive(Debug, Clone)]
pub struct Started {
    pub migration: MigrationRecord,
    pub job: JobRecord,
}

/// What to start (see [`Store::start_migration`]).
#[derive(Debug, Clone)]
pub struct StartRequest<'a> {
    pub migration_id: &'a str,
    /// The new job's id (the caller makes it, so a log can name it early).
    pub job_id: &'a str,
    /// The API key the freeze record names (SPEC §3.8); `None` for a start
    /// made by the service itself.
    pub started_by: Option<&'a str>,
    pub idem: Option<Idempotent<'a>>,
    /// Start only a job of this kind; another kind is an illegal transition
    /// (the recovery sweep starts recoveries only).
    pub only: Option<JobKind>,
}

impl Store {
    /// Moves the migration to `uploading`/`recovering`, records a queued job
    /// of the kind the state decides, its dispatch record (see
    /// [`crate::outbox`]), the freeze and the audit record, in one
    /// transaction. Nothing reaches the queue before the commit: a
    /// dispatcher pushes the committed record. A recovery with no missing or
    /// failed document left is refused ([`StoreError::NothingToDo`]).
    /// `render` gives the answer an idempotent retry replays.
    pub async fn start_migration(
        &self,
        req: StartRequest<'_>,
        render: impl FnOnce(&Started) -> (u16, String),
    ) -> Result<IdempotencyClaim<Started>> {
        let mut tx = self.begin().await?;
        if let Some(idem) = &req.idem
            && let Some(previous) = claim(&mut tx, idem).await?
        {
            return Ok(IdempotencyClaim::Replay(previous));
        }
        let before = transition_before(&mut tx, req.migration_id).await?;
        let illegal = || {
            StoreError::Transition(ferry_domain::IllegalTransition {
                from: before,
                event: LifecycleEvent::Start,
            })
        };
        let kind = JobKind::for_start(before).ok_or_else(illegal)?;
        if req.only.is_some_and(|only| only != kind) {
            return Err(illegal());
        }
        // A restart (from `uploading`/`recovering`) only once the job before
        // it ended: two jobs never copy for one migration at once.
        if let Some(active) = active_job_in(&mut tx, req.migration_id).await? {
            return Err(StoreError::JobActive(active));
        }
        if kind == JobKind::Recovery && !has_retryable_in(&mut tx, req.migration_id).await? {
            return Err(StoreError::NothingToDo);
        }
        if before == MigrationState::Ready {
            // The cutover: documents a pre-copy found missing or could not
            // copy are tried again (the live source may have them now).
            sqlx::query(
                "UPDATE documents SET status = 'pending', reason = NULL \
                 WHERE migration_id = $1 AND status <> 'uploaded' AND status IN ('missing', 'failed')",
            )
            .bind(req.migration_id)
            .execute(&mut *tx)
            .await?;
        }
        let migration =
            transition_in(&mut tx, req.migration_id, LifecycleEvent::Start, None).await?;
        let now = now();
        record_freeze(&mut tx, &migration.id, kind, req.started_by, &now).await?;
        let job = insert_job_in(&mut tx, &migration, kind, req.job_id, &now).await?;
        let started = Started { migration, job };
        if let Some(idem) = &req.idem {
            let (status, body) = render(&started);
            finish_claim(&mut tx, idem, status, &body).await?;
        }
        record_start_in(&mut tx, before, &started, req.started_by).await?;
        tx.commit().await?;
        Ok(IdempotencyClaim::Fresh(started))
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    pub async fn list_jobs(&self, migration_id: &str) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE migration_id = $1 AND parent_id IS NULL ORDER BY id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    /// Whether a job of the migration other than `except` may have been
    /// stopped mid-write, leaving staging files in a local tenant store: it
    /// ran more than once (a killed worker's job is taken again), or it did
    /// not succeed. A migration whose every job ran once and succeeded has
    /// none, so its upload need not walk the whole tenant folder for them.
    pub async fn may_hold_staging(&self, migration_id: &str, except: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT id FROM jobs WHERE migration_id = $1 AND id <> $2 \
             AND (attempts > 1 OR state IN ('failed', 'cancelled')) LIMIT 1",
        )
        .bind(migration_id)
        .bind(except)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// A worker takes the job with the message of push number `push` (see
    /// [`crate::outbox`]). A `queued` job is taken by any of its messages; a
    /// `running` one only by the push that took it — that message coming
    /// back means its worker died (the queue hands a dead worker's messages
    /// out again) — so an older push delivered late never runs a job twice
    /// at once. `None` when there is nothing to take: the job is unknown,
    /// finished, or running under another push.
    pub async fn job_started(
        &self,
        id: &str,
        worker_id: &str,
        push: i64,
    ) -> Result<Option<JobRecord>> {
        let now = now();
        let done = sqlx::query(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker_id = $1, \
             started_at = COALESCE(started_at, $2), updated_at = $2, taken_push = $4 \
             WHERE id = $3 AND (state = 'queued' \
                 OR (state = 'running' AND COALESCE(taken_push, 0) = $4))",
        )
        .bind(worker_id)
        .bind(&now)
        .bind(id)
        .bind(push)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_job(id).await
    }

    /// Records the job's end and, on success, moves the migration to
    /// `uploaded`, in one transaction. A migration cancelled meanwhile stays
    /// cancelled. Finishing an already finished job changes nothing.
    pub async fn job_finished(
        &self,
        id: &str,
        state: JobState,
        error: Option<&str>,
    ) -> Result<Option<JobRecord>> {
        let mut tx = self.begin().await?;
        let Some(job) = finish_job_in(&mut tx, id, state, error).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Cancels a queued or running job (SPEC §3.6 "Cancel stops a running
    /// job cleanly; the migration can be started again"): the job ends
    /// `cancelled` here, its worker notices at its next progress tick and
    /// stops; the migration keeps its state (and freeze) so a start resumes.
    /// The audit record (by `actor`) is appended in the same transaction.
    /// `None` when the job had already ended; otherwise the job before and
    /// after.
    pub async fn cancel_job(
        &self,
        id: &str,
        actor: Option<&str>,
    ) -> Result<Option<(JobRecord, JobRecord)>> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let Some(before) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()?
        else {
            return Ok(None);
        };
        // Its batches end with it: the queued ones have nothing to do, the
        // running ones stop at their next tick (their recorder watches the
        // parent). The batches' rows are locked before the parent's, the
        // order in which a finishing batch locks them (`batch_finished`):
        // the other way round, a cancel racing a batch's end deadlocked on
        // PostgreSQL, and the cancel was answered 500.
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1 \
             WHERE parent_id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // A job that had already ended: nothing changes (the batches'
        // update is rolled back with the transaction).
        let Some(after) = finish_job_in(&mut tx, id, JobState::Cancelled, None).await? else {
            return Ok(None);
        };
        let event = AuditEvent::new(AuditAction::JobCancelled, actor)
            .migration(&after.migration_id)
            .subject(&after.id)
            .before(
                serde_json::json!({"state": before.state.as_str(), "kind": before.kind.as_str()}),
            )
            .after(serde_json::json!({"state": after.state.as_str()}));
        append_in(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Some((before, after)))
    }

    /// Records an error of an attempt that will be retried.
    pub async fn job_attempt_failed(&self, id: &str, error: &str) -> Result<()> {
        sqlx::query("UPDATE jobs SET last_error = $1, updated_at = $2 WHERE id = $3")
            .bind(error)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// [`Store::job_finished`] inside `tx` (also used by the last batch of a
/// job split into batches, which finishes its parent).
pub(crate) async fn finish_job_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    state: JobState,
    error: Option<&str>,
) -> Result<Option<JobRecord>> {
    let now = now();
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, last_error = COALESCE($2, last_error), finished_at = $3, updated_at = $3 \
         WHERE id = $4 AND state IN ('queued', 'running')",
    )
    .bind(state.as_str())
    .bind(error)
    .bind(&now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    forget_in(tx, id).await?;
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    let job = job_from_row(
        &sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?,
    )?;
    // Only the job the client polls moves the migration: a batch of a split
    // job succeeding says nothing about its siblings (its parent finishes
    // when the last batch does).
    if state == JobState::Succeeded && !is_batch_in(tx, id).await? {
        let current = transition_before(tx, &job.migration_id).await?;
        if matches!(
            current,
            MigrationState::Uploading | MigrationState::Recovering
        ) {
            transition_in(tx, &job.migration_id, LifecycleEvent::Finish, None).await?;
        }
    }
    if !is_batch_in(tx, id).await? {
        job_ended_in(tx, &job).await?;
    }
    Ok(Some(job))
}

async fn is_batch_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT parent_id FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get::<Option<String>, _>("parent_id")?.is_some())
}

/// The id of the migration's queued or running job, if any. Batches of a
/// split job do not count: they follow their parent (see `cancel_job`).
/// Inserts a queued job of `kind` for `migration` and its dispatch record.
pub(crate) async fn insert_job_in(
    tx: &mut Transaction<'static, Any>,
    migration: &MigrationRecord,
    kind: JobKind,
    job_id: &str,
    now: &str,
) -> Result<JobRecord> {
    let job = JobRecord {
        id: job_id.to_owned(),
        migration_id: migration.id.clone(),
        tenant: migration.tenant.clone(),
        kind,
        state: JobState::Queued,
        attempts: 0,
        worker_id: None,
        last_error: None,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        started_at: None,
        finished_at: None,
        progress: JobProgress::default(),
    };
    let sql = format!(
        "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $8, NULL, NULL, \
         0, 0, 0, 0, 0, 0, NULL, NULL)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&job.id)
        .bind(&job.migration_id)
        .bind(job.tenant.as_str())
        .bind(job.kind.as_str())
        .bind(job.state.as_str())
        .bind(job.attempts)
        .bind(&job.created_at)
        .bind(&job.updated_at)
        .execute(&mut **tx)
        .await?;
    enqueue_in(tx, &job.id).await?;
    Ok(job)
}

pub(crate) async fn active_job_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    migration_id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT id FROM jobs WHERE migration_id = $1 AND parent_id IS NULL \
         AND state IN ('queued', 'running') LIMIT 1",
    )
    .bind(migration_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

pub(crate) async fn transition_before(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    migration_id: &str,
) -> Result<MigrationState> {
    // An UPDATE, not a bare SELECT: it locks the row first, so a concurrent
    // start (or cancel) that commits meanwhile is waited for and its state
    // and job are what the checks below see. Without it two simultaneous
    // starts on PostgreSQL both read `ready` and no active job, and the
    // second then applied `start` to the first one's `uploading` (a legal
    // restart) — two jobs for one migration.
    sqlx::query("UPDATE migrations SET version = version WHERE id = $1")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT state FROM migrations WHERE id = $1")
        .bind(migration_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let state: String = row.try_get("state")?;
    parse_col(&state, "migrations.state")
}

/// Whether the migration has a `missing` or `failed` document, which a
/// recovery would retry.
async fn has_retryable_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    migration_id: &str,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT document_id FROM documents \
         WHERE migration_id = $1 AND status <> 'uploaded' AND status IN ('missing', 'failed') \
         LIMIT 1",
    )
    .bind(migration_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

/// The records of a start, in the start's transaction: the start itself and,
/// when the source was not frozen yet, its freeze (SPEC §3.8).
pub(crate) async fn record_start_in(
    tx: &mut Transaction<'static, Any>,
    before: MigrationState,
    started: &Started,
    started_by: Option<&str>,
) -> Result<()> {
    let m = &started.migration;
    let job = &started.job;
    append_in(
        tx,
        &AuditEvent::new(AuditAction::MigrationStarted, started_by)
            .migration(&m.id)
            .subject(&job.id)
            .before(json!({"state": before.as_str()}))
            .after(json!({
                "state": m.state.as_str(),
                "version": m.version,
                "job_id": job.id,
                "job_kind": job.kind.as_str(),
            })),
    )
    .await?;
    if !before.is_frozen() && m.state.is_frozen() {
        append_in(
            tx,
            &AuditEvent::new(AuditAction::SourceFrozen, started_by)
                .migration(&m.id)
                .subject(&job.id)
                .before(json!({"frozen": false}))
                .after(json!({"frozen": true, "reason": job.kind.as_str()})),
        )
        .await?;
    }
    Ok(())
}

/// A job's progress, as stored on its row (see `jobs::JOB_COLUMNS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub documents_total: i64,
    pub documents_uploaded: i64,
    pub documents_missing: i64,
    pub documents_failed: i64,
    pub bytes_total: i64,
    pub bytes_done: i64,
    /// Size and SHA-256 of the copied database dump, once copied.
    pub database_bytes: Option<i64>,
    pub database_sha256: Option<String>,
}

pub(crate) fn progress_from_row(row: &AnyRow) -> Result<JobProgress> {
    Ok(JobProgress {
        documents_total: row.try_get("documents_total")?,
        documents_uploaded: row.try_get("documents_uploaded")?,
        documents_missing: row.try_get("documents_missing")?,
        documents_failed: row.try_get("documents_failed")?,
        bytes_total: row.try_get("bytes_total")?,
        bytes_done: row.try_get("bytes_done")?,
        database_bytes: row.try_get("database_bytes")?,
        database_sha256: row.try_get("database_sha256")?,
    })
}

/// A job's fields in event payloads.
fn job_data(job: &JobRecord) -> Value {
    let p = &job.progress;
    json!({
        "job_id": job.id,
        "migration_id": job.migration_id,
        "kind": job.kind.as_str(),
        "state": job.state.as_str(),
        "error": job.last_error,
        "documents_total": p.documents_total,
        "documents_uploaded": p.documents_uploaded,
        "documents_missing": p.documents_missing,
        "documents_failed": p.documents_failed,
        "bytes_total": p.bytes_total,
        "bytes_done": p.bytes_done,
    })
}

/// `job.finished` / `job.failed` / `job.cancelled` for a job (not a batch)
/// that just ended, and `documents.missing` when it succeeded with
/// documents missing.
pub(crate) async fn job_ended_in(
    tx: &mut Transaction<'static, Any>,
    job: &JobRecord,
) -> Result<()> {
    let Some(event) = WebhookEvent::for_job_end(job.state) else {
        return Ok(());
    };
    record_event_in(tx, &job.tenant, event, job_data(job)).await?;
    if job.state == JobState::Succeeded && job.progress.documents_missing > 0 {
        record_event_in(
            tx,
            &job.tenant,
            WebhookEvent::DocumentsMissing,
            job_data(job),
        )
        .await?;
    }
    Ok(())
}
