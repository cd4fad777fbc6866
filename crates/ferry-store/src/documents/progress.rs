//! What an upload or recovery job reads and writes: its work list, page by
//! page; the outcomes it records, in batches; and its progress counters.
//!
//! Exactly once: a document's outcome is written only if it is not
//! `uploaded` and was not already recorded by the same job (`job_id`), and the
//! job's counters grow by what the write actually changed (`RETURNING`), in
//! the same transaction. A redelivered job therefore never counts a document
//! twice, and counters never go backwards.

use ferry_domain::JobKind;
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};

use super::{DocumentStatus, add, values_sql};
use crate::jobs::{JOB_COLUMNS, job_from_row};
use crate::{JobRecord, Result, Store, now};

/// Outcomes written by one statement: 13 parameters a row stays below
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters, so a recorder
/// flush of up to this many outcomes is one `INSERT … ON CONFLICT` round
/// trip on both.
pub const OUTCOMES_PER_STATEMENT: usize = 2000;

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

/// A document a job still has to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub document_id: String,
    pub seq: i64,
    pub path: String,
    pub size: i64,
    pub expected_sha256: Option<String>,
}

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentOutcome {
    pub item: WorkItem,
    /// `Uploaded`, `Missing` or `Failed` (never `Pending`).
    pub status: DocumentStatus,
    pub reason: Option<String>,
    pub actual_sha256: Option<String>,
    pub bytes: i64,
}

/// The documents a job of `kind` works on, before it recorded them: an upload
/// takes the pending ones, a recovery the missing and failed ones.
fn work_condition(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Upload => "status = 'pending'",
        JobKind::Recovery => "status IN ('missing', 'failed')",
    }
}

impl Store {
    /// The next `limit` documents after manifest position `after_seq` that
    /// the job has not recorded yet.
    pub async fn work_page(
        &self,
        job: &JobRecord,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        self.work_page_until(job, after_seq, i64::MAX, limit).await
    }

    /// [`Store::work_page`] up to manifest position `until_seq` (a batch's
    /// last position).
    pub async fn work_page_until(
        &self,
        job: &JobRecord,
        after_seq: i64,
        until_seq: i64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        let sql = format!(
            "SELECT document_id, seq, path, size, expected_sha256 FROM documents \
             WHERE migration_id = $1 AND {} AND COALESCE(job_id, '') <> $2 AND seq > $3 \
             AND seq <= $4 ORDER BY seq LIMIT {limit}",
            work_condition(job.kind)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&job.migration_id)
            .bind(&job.id)
            .bind(after_seq)
            .bind(until_seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(WorkItem {
                    document_id: row.try_get("document_id")?,
                    seq: row.try_get("seq")?,
                    path: row.try_get("path")?,
                    size: row.try_get("size")?,
                    expected_sha256: row.try_get("expected_sha256")?,
                })
            })
            .collect()
    }

    /// Counts the job's documents and their bytes and stores them as its
    /// totals (plus `extra_bytes`, the dump). The scope is the same on every
    /// attempt: documents the job already recorded carry its id.
    pub async fn set_job_scope(&self, job: &JobRecord, extra_bytes: i64) -> Result<JobProgress> {
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS b FROM documents \
             WHERE migration_id = $1 AND ({} OR job_id = $2)",
            work_condition(job.kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&job.migration_id)
            .bind(&job.id)
            .fetch_one(&self.pool)
            .await?;
        let count: i64 = row.try_get("n")?;
        let bytes: i64 = row.try_get("b")?;
        sqlx::query(
            "UPDATE jobs SET documents_total = $1, bytes_total = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(count)
        .bind(bytes.saturating_add(extra_bytes))
        .bind(now())
        .bind(&job.id)
        .execute(&self.pool)
        .await?;
        Ok(self
            .get_job(&job.id)
            .await?
            .map(|j| j.progress)
            .unwrap_or_default())
    }

    /// Records the database dump's copy once; a second call changes nothing.
    pub async fn record_database_copy(&self, job_id: &str, bytes: i64, sha256: &str) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET database_bytes = $1, database_sha256 = $2, bytes_done = bytes_done + $1, \
             updated_at = $3 WHERE id = $4 AND database_sha256 IS NULL",
        )
        .bind(bytes)
        .bind(sha256)
        .bind(now())
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes a batch of outcomes and adds what changed to the job's
    /// counters, atomically; see the module documentation.
    pub async fn record_outcomes(
        &self,
        job: &JobRecord,
        outcomes: &[DocumentOutcome],
        last_error: Option<&str>,
    ) -> Result<()> {
        let now = now();
        let mut tx = self.begin().await?;
        let (mut uploaded, mut missing, mut failed, mut bytes) = (0i64, 0i64, 0i64, 0i64);
        for chunk in outcomes.chunks(OUTCOMES_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO documents (migration_id, document_id, seq, path, size, expected_sha256, \
                 status, reason, actual_sha256, bytes, attempts, job_id, updated_at) VALUES {} \
                 ON CONFLICT (migration_id, document_id) DO UPDATE SET status = excluded.status, \
                 reason = excluded.reason, actual_sha256 = excluded.actual_sha256, \
                 bytes = excluded.bytes, attempts = documents.attempts + 1, \
                 job_id = excluded.job_id, updated_at = excluded.updated_at \
                 WHERE documents.status <> 'uploaded' \
                 AND COALESCE(documents.job_id, '') <> excluded.job_id \
                 RETURNING status, bytes",
                values_sql(chunk.len(), 13)
            );
            let mut args = AnyArguments::default();
            for o in chunk {
                add(&mut args, job.migration_id.clone())?;
                add(&mut args, o.item.document_id.clone())?;
                add(&mut args, o.item.seq)?;
                add(&mut args, o.item.path.clone())?;
                add(&mut args, o.item.size)?;
                add(&mut args, o.item.expected_sha256.clone())?;
                add(&mut args, o.status.as_str())?;
                add(&mut args, o.reason.clone())?;
                add(&mut args, o.actual_sha256.clone())?;
                add(&mut args, o.bytes)?;
                add(&mut args, 1i64)?;
                add(&mut args, job.id.clone())?;
                add(&mut args, now.clone())?;
            }
            let changed = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .fetch_all(&mut *tx)
                .await?;
            for row in &changed {
                let status: String = row.try_get("status")?;
                match status.as_str() {
                    "uploaded" => {
                        uploaded += 1;
                        bytes += row.try_get::<i64, _>("bytes")?;
                    }
                    "missing" => missing += 1,
                    _ => failed += 1,
                }
            }
        }
        let counters = sqlx::query(
            "UPDATE jobs SET documents_uploaded = documents_uploaded + $1, \
             documents_missing = documents_missing + $2, documents_failed = documents_failed + $3, \
             bytes_done = bytes_done + $4, last_error = COALESCE($5, last_error), updated_at = $6 \
             WHERE id = $7 RETURNING documents_total, \
             documents_uploaded + documents_missing + documents_failed AS processed",
        )
        .bind(uploaded)
        .bind(missing)
        .bind(failed)
        .bind(bytes)
        .bind(last_error)
        .bind(&now)
        .bind(&job.id)
        .fetch_optional(&mut *tx)
        .await?;
        // Webhook progress milestones passed by this flush, in its transaction.
        if let Some(row) = counters {
            let (total, after): (i64, i64) =
                (row.try_get("documents_total")?, row.try_get("processed")?);
            let before = after - (uploaded + missing + failed);
            crate::webhooks::progress_in(&mut tx, job, (before, after, total)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The migration's most recent job, if it was ever started.
    pub async fn latest_job(&self, migration_id: &str) -> Result<Option<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE migration_id = $1 AND parent_id IS NULL \
             ORDER BY id DESC LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }
}
