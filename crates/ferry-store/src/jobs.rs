//! Job records: the durable view of work that runs in the queue. The queue
//! carries only a job id; everything a client polls lives here, so a dashboard
//! never depends on the queue's own bookkeeping.

use ferry_domain::{JobKind, JobState, LifecycleEvent, MigrationState};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::documents::{progress_from_row, record_freeze};
use crate::idempotency::{Idempotent, claim, finish_claim};
use crate::migrations::{MigrationRecord, transition_in};
use crate::{IdempotencyClaim, JobProgress, Result, Store, StoreError, now, parse_col};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub migration_id: String,
    pub tenant: String,
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
        tenant: row.try_get("tenant")?,
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

impl Store {
    /// Moves the migration to `uploading`/`recovering`, records a queued job
    /// of the kind the state decides, and calls `enqueue` before committing.
    ///
    /// Enqueue-then-commit: if the queue refuses, nothing is committed and the
    /// caller gets the queue's error. If the commit fails after the enqueue,
    /// the worker finds no job row and drops the message (see ferry-worker).
    pub async fn start_migration<F, Fut, E>(
        &self,
        migration_id: &str,
        job_id: &str,
        idem: Option<Idempotent<'_>>,
        enqueue: F,
        render: impl FnOnce(&Started) -> (u16, String),
    ) -> Result<std::result::Result<IdempotencyClaim<Started>, E>>
    where
        F: FnOnce(JobRecord) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        self.start_migration_by(migration_id, job_id, None, idem, enqueue, render)
            .await
    }

    /// [`Store::start_migration`] on behalf of API key `started_by`, which the
    /// freeze record names (SPEC §3.8), in the same transaction.
    pub async fn start_migration_by<F, Fut, E>(
        &self,
        migration_id: &str,
        job_id: &str,
        started_by: Option<&str>,
        idem: Option<Idempotent<'_>>,
        enqueue: F,
        render: impl FnOnce(&Started) -> (u16, String),
    ) -> Result<std::result::Result<IdempotencyClaim<Started>, E>>
    where
        F: FnOnce(JobRecord) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        let mut tx = self.begin().await?;
        if let Some(idem) = &idem
            && let Some(previous) = claim(&mut tx, idem).await?
        {
            return Ok(Ok(IdempotencyClaim::Replay(previous)));
        }
        let before = transition_before(&mut tx, migration_id).await?;
        let kind = JobKind::for_start(before).ok_or(StoreError::Transition(
            ferry_domain::IllegalTransition {
                from: before,
                event: LifecycleEvent::Start,
            },
        ))?;
        // A restart (from `uploading`/`recovering`) only once the job before
        // it ended: two jobs never copy for one migration at once.
        if let Some(active) = active_job_in(&mut tx, migration_id).await? {
            return Err(StoreError::JobActive(active));
        }
        let migration = transition_in(&mut tx, migration_id, LifecycleEvent::Start, None).await?;
        let now = now();
        record_freeze(&mut tx, &migration.id, kind, started_by, &now).await?;
        let job = JobRecord {
            id: job_id.to_owned(),
            migration_id: migration.id.clone(),
            tenant: migration.tenant.clone(),
            kind,
            state: JobState::Queued,
            attempts: 0,
            worker_id: None,
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
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
            .bind(&job.tenant)
            .bind(job.kind.as_str())
            .bind(job.state.as_str())
            .bind(job.attempts)
            .bind(&job.created_at)
            .bind(&job.updated_at)
            .execute(&mut *tx)
            .await?;
        let started = Started { migration, job };
        if let Some(idem) = &idem {
            let (status, body) = render(&started);
            finish_claim(&mut tx, idem, status, &body).await?;
        }
        if let Err(e) = enqueue(started.job.clone()).await {
            tx.rollback().await?;
            return Ok(Err(e));
        }
        crate::audit::record_start_in(&mut tx, before, &started, started_by).await?;
        tx.commit().await?;
        Ok(Ok(IdempotencyClaim::Fresh(started)))
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

    /// A worker takes the job. `None` when the job is unknown or already
    /// finished: a redelivered message of a finished job must not run again.
    pub async fn job_started(&self, id: &str, worker_id: &str) -> Result<Option<JobRecord>> {
        let now = now();
        let done = sqlx::query(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker_id = $1, \
             started_at = COALESCE(started_at, $2), updated_at = $2 \
             WHERE id = $3 AND state IN ('queued', 'running')",
        )
        .bind(worker_id)
        .bind(&now)
        .bind(id)
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
    /// `None` when the job had already ended.
    pub async fn cancel_job(&self, id: &str) -> Result<Option<JobRecord>> {
        let mut tx = self.begin().await?;
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
        let Some(job) = finish_job_in(&mut tx, id, JobState::Cancelled, None).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(job))
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
        crate::webhooks::job_ended_in(tx, &job).await?;
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
async fn active_job_in(
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

async fn transition_before(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    migration_id: &str,
) -> Result<MigrationState> {
    let row = sqlx::query("SELECT state FROM migrations WHERE id = $1")
        .bind(migration_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let state: String = row.try_get("state")?;
    parse_col(&state, "migrations.state")
}
