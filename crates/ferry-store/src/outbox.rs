//! The job outbox (migration `0013_job_outbox.sql`): how a committed job
//! reaches the queue.
//!
//! - [`enqueue_in`] writes a job's dispatch record in the transaction that
//!   creates the job, so the record exists exactly when the job does.
//! - [`Store::claim_dispatch`] is one dispatch round: under the single lock
//!   row, it picks the records to push now, marks them pushed and returns
//!   them; the caller pushes them after the commit and calls
//!   [`Store::dispatch_failed`] for a push the queue refused. A process that
//!   dies between the commit and the push leaves a record that looks pushed:
//!   the age rule below pushes it again.
//! - What is picked: every job that is not a batch at once; a migration's
//!   batches only while fewer than `batches_per_migration` of its batches are
//!   pushed and unfinished, the oldest first, and across migrations
//!   round-robin (each migration's first waiting batch, then each one's
//!   second, …), so a small migration started behind a huge one is not
//!   queued behind all of the huge one's batches (issue 18, item 6); and a
//!   job still `queued` whose last push is older than `repush_before` (the
//!   queue lost the message: Redis flushed, a message deleted by hand).
//! - The record is deleted when its job ends ([`forget_in`]).

use sqlx::Row;

use crate::{Result, Store, now};

/// What one dispatch round may push.
#[derive(Debug, Clone)]
pub struct DispatchLimits {
    /// Batches of one migration pushed and not finished, at most.
    pub batches_per_migration: i64,
    /// A `queued` job whose last push is older than this (a timestamp in
    /// the format of [`crate::now`]) is pushed again.
    pub repush_before: String,
    /// Records pushed per round, at most.
    pub max: i64,
}

/// One record to push: the job and the number of this push, which the
/// message carries (see [`Store::job_started`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub job_id: String,
    pub push: i64,
}

/// Records that `job_id` is to be pushed; inside the transaction that
/// creates the job.
pub(crate) async fn enqueue_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job_id: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO job_outbox (job_id, pushed_at, pushes) VALUES ($1, NULL, 0)")
        .bind(job_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops the dispatch record of `job_id` and of its batches; inside the
/// transaction that ends the job.
pub(crate) async fn forget_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job_id: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM job_outbox WHERE job_id = $1 \
         OR job_id IN (SELECT id FROM jobs WHERE parent_id = $1 \
                       AND state NOT IN ('queued', 'running'))",
    )
    .bind(job_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The records to push in this round, in push order (see the module docs).
/// `rank` is a record's place among its migration's waiting records plus
/// the migration's batches already in flight; ordering by it interleaves
/// the migrations.
const PICK: &str = "\
WITH live AS (
    SELECT o.job_id, o.pushed_at, j.migration_id, j.state, j.created_at,
           CASE WHEN j.parent_id IS NULL THEN 0 ELSE 1 END AS batch
    FROM job_outbox o JOIN jobs j ON j.id = o.job_id
    WHERE j.state IN ('queued', 'running')
),
busy AS (
    SELECT migration_id, COUNT(*) AS n FROM live
    WHERE batch = 1 AND pushed_at IS NOT NULL GROUP BY migration_id
),
waiting AS (
    SELECT job_id, migration_id, batch, created_at,
           ROW_NUMBER() OVER (PARTITION BY migration_id ORDER BY created_at, job_id) AS place
    FROM live WHERE pushed_at IS NULL
),
picked AS (
    SELECT w.job_id, w.created_at, w.place + COALESCE(b.n, 0) AS rank
    FROM waiting w LEFT JOIN busy b ON b.migration_id = w.migration_id
    WHERE w.batch = 0 OR w.place + COALESCE(b.n, 0) <= $1
    UNION ALL
    SELECT job_id, created_at, 0 AS rank FROM live
    WHERE state = 'queued' AND pushed_at IS NOT NULL AND pushed_at < $2
)
SELECT job_id FROM picked ORDER BY rank, created_at, job_id LIMIT $3";

impl Store {
    /// One dispatch round: the records to push now, already marked pushed.
    pub async fn claim_dispatch(&self, limits: &DispatchLimits) -> Result<Vec<Dispatch>> {
        let mut tx = self.begin().await?;
        let now = now();
        // The lock row first: dispatch rounds of several processes run one
        // after the other, so none counts batches in flight that another
        // is about to push.
        sqlx::query("UPDATE dispatch_lock SET locked_at = $1 WHERE id = 1")
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        let ids: Vec<String> = sqlx::query(PICK)
            .bind(limits.batches_per_migration.max(1))
            .bind(&limits.repush_before)
            .bind(limits.max.max(1))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("job_id"))
            .collect::<std::result::Result<_, _>>()?;
        let mut picked = Vec::with_capacity(ids.len());
        for job_id in ids {
            let row = sqlx::query(
                "UPDATE job_outbox SET pushed_at = $1, pushes = pushes + 1 WHERE job_id = $2 \
                 RETURNING pushes",
            )
            .bind(&now)
            .bind(&job_id)
            .fetch_one(&mut *tx)
            .await?;
            picked.push(Dispatch {
                job_id,
                push: row.try_get("pushes")?,
            });
        }
        tx.commit().await?;
        Ok(picked)
    }

    /// The queue refused `dispatch`: the record waits for the next round.
    /// (Only if no later round pushed it meanwhile.)
    pub async fn dispatch_failed(&self, dispatch: &Dispatch) -> Result<()> {
        sqlx::query("UPDATE job_outbox SET pushed_at = NULL WHERE job_id = $1 AND pushes = $2")
            .bind(&dispatch.job_id)
            .bind(dispatch.push)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Dispatch records not yet pushed (for tests and metrics).
    pub async fn undispatched(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM job_outbox WHERE pushed_at IS NULL")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}
