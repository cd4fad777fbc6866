//! Scale out: an upload or recovery job split into batches of manifest
//! positions, each a job row (and queue message) of its own, so several
//! worker processes share one migration. See migration `0004_batches.sql`.
//!
//! - A batch works for its parent: its outcomes carry the parent's id and
//!   add to the parent's counters (`Store::record_outcomes` with the
//!   parent's record), so the job a client polls shows the whole progress
//!   and the exactly-once rules of `progress` hold across batches.
//! - Splitting is idempotent: a redelivered parent finds its batches.
//! - The last batch to finish — decided by the parent's `batches_done`
//!   counter, incremented under the row lock in the batch's finishing
//!   transaction — reconciles the parent's counters with the ledger and
//!   finishes it (the migration becomes `uploaded`), in that transaction.
//!   A worker killed anywhere leaves either nothing or all of it done.
//! - The job's end (the delivery) runs between two calls: the last
//!   successful batch is told [`BatchEnd::EndDue`] and nothing commits; it
//!   delivers, then finishes with [`Store::last_batch_finished`]. So the
//!   job a client polls is never `succeeded` before its receipt exists, and
//!   a kill before that second commit leaves the batch running: its
//!   redelivery runs it (and the end) again. (Deciding "last" from a count
//!   read before the commit let two batches ending together each see the
//!   other running; the second then finished the job before delivering.)

use ferry_domain::JobState;
use sqlx::Row;

use crate::jobs::finish_job_in;
use crate::{JobRecord, Result, Store, StoreError, now};

/// A batch of a split job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// The batch's own job id (its queue message).
    pub job_id: String,
    /// The job the client polls.
    pub parent_id: String,
    /// Manifest positions `first_seq..=last_seq`.
    pub first_seq: i64,
    pub last_seq: i64,
}

impl BatchRecord {
    /// 0-based number of the batch within its job.
    pub fn number(&self, size: i64) -> i64 {
        self.first_seq / size.max(1)
    }
}

/// What finishing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// The batch was already finished (a redelivery): nothing changed.
    AlreadyFinished,
    /// Other batches are still running.
    More { done: i64, total: i64 },
    /// The last batch: the parent is finished (in `state`).
    Last { state: JobState },
    /// This successful batch is the last one and the job's end has not run:
    /// nothing was recorded. Run the end, then [`Store::last_batch_finished`].
    EndDue,
}

impl Store {
    /// The batch a job row stands for; `None` for an ordinary job.
    pub async fn get_batch(&self, job_id: &str) -> Result<Option<BatchRecord>> {
        let row = sqlx::query(
            "SELECT id, parent_id, first_seq, last_seq FROM jobs \
             WHERE id = $1 AND parent_id IS NOT NULL",
        )
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(BatchRecord {
                job_id: r.try_get("id")?,
                parent_id: r.try_get("parent_id")?,
                first_seq: r.try_get::<Option<i64>, _>("first_seq")?.unwrap_or(0),
                last_seq: r.try_get::<Option<i64>, _>("last_seq")?.unwrap_or(-1),
            })
        })
        .transpose()
    }

    /// Splits `parent`'s manifest into batches of `size` positions (at least
    /// one batch, so every split job ends through a batch), once: a second
    /// call finds the batches of the first. Each batch gets its dispatch
    /// record in the same transaction (see [`crate::outbox`]); the ids of
    /// its batches that are not finished.
    pub async fn split_into_batches(&self, parent: &JobRecord, size: i64) -> Result<Vec<String>> {
        let size = size.max(1);
        let mut tx = self.begin().await?;
        // Locks the parent row: two deliveries of the parent split once.
        let locked = sqlx::query(
            "UPDATE jobs SET updated_at = updated_at WHERE id = $1 AND parent_id IS NULL",
        )
        .bind(&parent.id)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let total: i64 = sqlx::query("SELECT batches_total FROM jobs WHERE id = $1")
            .bind(&parent.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("batches_total")?;
        if total == 0 {
            let max_seq: i64 = sqlx::query(
                "SELECT CAST(COALESCE(MAX(seq), -1) AS BIGINT) AS m FROM documents \
                 WHERE migration_id = $1",
            )
            .bind(&parent.migration_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("m")?;
            let count = ((max_seq + 1) + size - 1) / size;
            let count = count.max(1);
            let now = now();
            for k in 0..count {
                let id = uuid::Uuid::now_v7().hyphenated().to_string();
                sqlx::query(
                    "INSERT INTO jobs (id, migration_id, tenant, kind, state, attempts, created_at, \
                     updated_at, parent_id, first_seq, last_seq) \
                     VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(&parent.migration_id)
                .bind(parent.tenant.as_str())
                .bind(parent.kind.as_str())
                .bind(&now)
                .bind(&parent.id)
                .bind(k * size)
                .bind(k * size + size - 1)
                .execute(&mut *tx)
                .await?;
                crate::outbox::enqueue_in(&mut tx, &id).await?;
            }
            sqlx::query("UPDATE jobs SET batches_total = $1 WHERE id = $2")
                .bind(count)
                .bind(&parent.id)
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query(
            "SELECT id FROM jobs WHERE parent_id = $1 AND state IN ('queued', 'running') \
             ORDER BY first_seq",
        )
        .bind(&parent.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Records a batch's end; for the last batch of its job also the job's
    /// reconciled counters and end, atomically (see the module docs). A
    /// batch that did not succeed ends its parent in the same state at once.
    /// The last successful batch gets [`BatchEnd::EndDue`] instead, with
    /// nothing recorded.
    pub async fn batch_finished(
        &self,
        batch: &BatchRecord,
        state: JobState,
        error: Option<&str>,
    ) -> Result<BatchEnd> {
        self.finish_batch(batch, state, error, false).await
    }

    /// [`Store::batch_finished`] after the job's end ran (its outcome in
    /// `state`): never [`BatchEnd::EndDue`].
    pub async fn last_batch_finished(
        &self,
        batch: &BatchRecord,
        state: JobState,
        error: Option<&str>,
    ) -> Result<BatchEnd> {
        self.finish_batch(batch, state, error, true).await
    }

    async fn finish_batch(
        &self,
        batch: &BatchRecord,
        state: JobState,
        error: Option<&str>,
        end_ran: bool,
    ) -> Result<BatchEnd> {
        let mut tx = self.begin().await?;
        if finish_job_in(&mut tx, &batch.job_id, state, error)
            .await?
            .is_none()
        {
            return Ok(BatchEnd::AlreadyFinished);
        }
        if state != JobState::Succeeded {
            finish_job_in(&mut tx, &batch.parent_id, state, error).await?;
        }
        let row = sqlx::query(
            "UPDATE jobs SET batches_done = batches_done + 1, updated_at = $1 WHERE id = $2 \
             RETURNING batches_done, batches_total",
        )
        .bind(now())
        .bind(&batch.parent_id)
        .fetch_one(&mut *tx)
        .await?;
        let done: i64 = row.try_get("batches_done")?;
        let total: i64 = row.try_get("batches_total")?;
        if done < total {
            tx.commit().await?;
            return Ok(BatchEnd::More { done, total });
        }
        // Every sibling succeeded while the parent still runs (a failed or
        // cancelled one ended it): the end is due before anything commits.
        if state == JobState::Succeeded && !end_ran {
            let parent: String = sqlx::query("SELECT state FROM jobs WHERE id = $1")
                .bind(&batch.parent_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("state")?;
            if parent == JobState::Running.as_str() {
                tx.rollback().await?;
                return Ok(BatchEnd::EndDue);
            }
        }
        reconcile_in(&mut tx, &batch.parent_id).await?;
        let unsuccessful: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE parent_id = $1 AND state <> 'succeeded'",
        )
        .bind(&batch.parent_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        let end = if unsuccessful == 0 {
            finish_job_in(&mut tx, &batch.parent_id, JobState::Succeeded, None).await?;
            JobState::Succeeded
        } else {
            // Already ended by the batch that did not succeed.
            state
        };
        tx.commit().await?;
        Ok(BatchEnd::Last { state: end })
    }
}

/// Sets the parent's document counters and bytes from the ledger (what its
/// batches recorded under its id). The flushes already added exactly these;
/// a difference is a bug, logged by the caller's reading of the result. (By
/// the migration's rows: no index on `job_id` is kept for this one read at
/// a job's end, see migration 0012.)
async fn reconcile_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, job_id: &str) -> Result<()> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS b \
         FROM documents WHERE migration_id = (SELECT migration_id FROM jobs WHERE id = $1) \
         AND job_id = $1 GROUP BY status",
    )
    .bind(job_id)
    .fetch_all(&mut **tx)
    .await?;
    let (mut uploaded, mut missing, mut failed, mut bytes) = (0i64, 0i64, 0i64, 0i64);
    for r in &rows {
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        match status.as_str() {
            "uploaded" => {
                uploaded = n;
                bytes = r.try_get("b")?;
            }
            "missing" => missing = n,
            "failed" => failed = n,
            _ => {}
        }
    }
    let before = sqlx::query(
        "SELECT documents_uploaded, documents_missing, documents_failed, bytes_done, \
         COALESCE(database_bytes, 0) AS db FROM jobs WHERE id = $1",
    )
    .bind(job_id)
    .fetch_one(&mut **tx)
    .await?;
    let db: i64 = before.try_get("db")?;
    let counted = (
        before.try_get::<i64, _>("documents_uploaded")?,
        before.try_get::<i64, _>("documents_missing")?,
        before.try_get::<i64, _>("documents_failed")?,
        before.try_get::<i64, _>("bytes_done")?,
    );
    let ledger = (uploaded, missing, failed, bytes + db);
    if counted != ledger {
        tracing::warn!(
            job_id,
            ?counted,
            ?ledger,
            "job counters differ from the ledger; using the ledger"
        );
        sqlx::query(
            "UPDATE jobs SET documents_uploaded = $1, documents_missing = $2, \
             documents_failed = $3, bytes_done = $4 WHERE id = $5",
        )
        .bind(ledger.0)
        .bind(ledger.1)
        .bind(ledger.2)
        .bind(ledger.3)
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
