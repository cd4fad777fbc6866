//! Figures for the metrics endpoint, read from the state rather than counted
//! in process memory: in production the worker is a separate process without
//! an HTTP port, and several API processes share one database, so only the
//! database knows the whole picture. A scrape costs a few aggregate queries.

use sqlx::Row;

use crate::{Result, Store};

/// One scrape's worth of job, transfer and queue figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Jobs the client polls (batches of a split job excluded), per state.
    pub jobs_by_state: Vec<(String, i64)>,
    /// Migrations per lifecycle state.
    pub migrations_by_state: Vec<(String, i64)>,
    /// Queue messages waiting for a worker: queued jobs and batches.
    pub queue_depth: i64,
    /// Extra attempts after the first, over all jobs and batches.
    pub job_retries: i64,
    /// Over all jobs: what the transfer recorded.
    pub bytes_done: i64,
    /// Of those, what pre-copies copied while sources were live.
    pub precopy_bytes_done: i64,
    pub documents_uploaded: i64,
    pub documents_missing: i64,
    pub documents_failed: i64,
    /// Of the running jobs only: what is left to copy.
    pub running_bytes_total: i64,
    pub running_bytes_done: i64,
}

impl Store {
    pub async fn stats(&self) -> Result<Stats> {
        let by_state = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<String, _>("state")?, r.try_get::<i64, _>("n")?)))
                .collect::<Result<Vec<_>>>()
        };
        let jobs_by_state = by_state(
            "SELECT state, COUNT(*) AS n FROM jobs WHERE parent_id IS NULL GROUP BY state ORDER BY state",
        )
        .await?;
        let migrations_by_state =
            by_state("SELECT state, COUNT(*) AS n FROM migrations GROUP BY state ORDER BY state")
                .await?;
        // Counts and sums come back as BIGINT on PostgreSQL and INTEGER on
        // SQLite; the casts keep one decoding path.
        let totals = sqlx::query(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued, \
               CAST(COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS BIGINT) AS retries, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL THEN bytes_done ELSE 0 END), 0) AS BIGINT) AS bytes, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL AND kind = 'precopy' THEN bytes_done ELSE 0 END), 0) AS BIGINT) AS precopy_bytes, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL THEN documents_uploaded ELSE 0 END), 0) AS BIGINT) AS uploaded, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL THEN documents_missing ELSE 0 END), 0) AS BIGINT) AS missing, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL THEN documents_failed ELSE 0 END), 0) AS BIGINT) AS failed, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL AND state = 'running' THEN bytes_total ELSE 0 END), 0) AS BIGINT) AS run_total, \
               CAST(COALESCE(SUM(CASE WHEN parent_id IS NULL AND state = 'running' THEN bytes_done ELSE 0 END), 0) AS BIGINT) AS run_done \
             FROM jobs",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Stats {
            jobs_by_state,
            migrations_by_state,
            queue_depth: totals.try_get("queued")?,
            job_retries: totals.try_get("retries")?,
            bytes_done: totals.try_get("bytes")?,
            precopy_bytes_done: totals.try_get("precopy_bytes")?,
            documents_uploaded: totals.try_get("uploaded")?,
            documents_missing: totals.try_get("missing")?,
            documents_failed: totals.try_get("failed")?,
            running_bytes_total: totals.try_get("run_total")?,
            running_bytes_done: totals.try_get("run_done")?,
        })
    }
}
