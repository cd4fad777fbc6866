//! What an upload or recovery job reads and writes: its work list, page by
//! page; the outcomes it records, in batches; and its progress counters.
//!
//! Exactly once: a document's outcome is written only if it is not
//! `uploaded` and was not already recorded by the same job (`job_id`), and the
//! job's counters grow by what the write actually changed (`RETURNING`), in
//! the same transaction. A redelivered job therefore never counts a document
//! twice, and counters never go backwards.

use ferry_domain::manifest::{DocumentPath, Sha256Hex};
use ferry_domain::{JobKind, WebhookEvent};
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::DocumentStatus;
use crate::jobs::{JOB_COLUMNS, JobProgress, job_from_row};
use crate::webhooks::record_event_in;
use crate::{Backend, JobRecord, Result, Store, now, typed, typed_opt};

/// Outcomes written by one statement. A recorder flush (up to this many)
/// is one round trip.
pub const OUTCOMES_PER_STATEMENT: usize = 5000;

/// Recording outcomes, set-based: the batch travels as one JSON array
/// parameter, so the statement is the same small text for any batch size —
/// parsed and planned once per connection (sqlx caches it), where a
/// multi-row `VALUES` list of 2,000 × 13 parameters was parsed and planned
/// again on every flush. Only rows not yet `uploaded` and not yet recorded
/// by this job change (exactly once, see the module documentation); what
/// changed comes back counted per status.
const RECORD_PG: &str = "WITH x AS (SELECT * FROM json_to_recordset($4::json) AS r(\
     seq bigint, status text, reason text, actual_sha256 text, bytes bigint)), \
     changed AS (UPDATE documents d SET status = x.status, reason = x.reason, \
     actual_sha256 = x.actual_sha256, bytes = x.bytes, attempts = d.attempts + 1, \
     job_id = $2, updated_at = $3 FROM x \
     WHERE d.migration_id = $1 AND d.seq = x.seq \
     AND d.status <> 'uploaded' AND COALESCE(d.job_id, '') <> $2 \
     RETURNING d.status, d.bytes) \
     SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS bytes \
     FROM changed GROUP BY status";

/// The same for SQLite, which has no `UPDATE` inside `WITH`: the changed
/// rows come back one by one (`n` = 1), decoded from `json_each`.
const RECORD_SQLITE: &str = "UPDATE documents SET status = x.status, reason = x.reason, \
     actual_sha256 = x.actual_sha256, bytes = x.bytes, attempts = documents.attempts + 1, \
     job_id = $2, updated_at = $3 \
     FROM (SELECT value ->> '$.seq' AS seq, value ->> '$.status' AS status, \
     value ->> '$.reason' AS reason, value ->> '$.actual_sha256' AS actual_sha256, \
     value ->> '$.bytes' AS bytes FROM json_each($4)) AS x \
     WHERE documents.migration_id = $1 AND documents.seq = x.seq \
     AND documents.status <> 'uploaded' AND COALESCE(documents.job_id, '') <> $2 \
     RETURNING status, 1 AS n, bytes";

/// One outcome as the recording statements read it: the row is named by
/// its manifest position, the ledger's key.
#[derive(serde::Serialize)]
struct OutcomeRow<'a> {
    seq: i64,
    status: &'static str,
    reason: Option<&'a str>,
    actual_sha256: Option<&'a str>,
    bytes: i64,
}

fn outcomes_json(outcomes: &[DocumentOutcome]) -> Result<String> {
    let rows: Vec<OutcomeRow<'_>> = outcomes
        .iter()
        .map(|o| OutcomeRow {
            seq: o.item.seq,
            status: o.status.as_str(),
            reason: o.reason.as_deref(),
            actual_sha256: o.actual_sha256.as_deref(),
            bytes: o.bytes,
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)).into())
}

/// A document a job still has to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub document_id: String,
    pub seq: i64,
    pub path: DocumentPath,
    pub size: i64,
    pub expected_sha256: Option<Sha256Hex>,
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
/// takes the pending ones, a recovery the missing and failed ones, a
/// pre-copy everything not copied yet (it may run again after a manifest
/// change or a source that gained a document).
/// (`status <> 'uploaded'` lets SQLite use the partial index
/// `documents_open`; PostgreSQL proves it from the rest.)
fn work_condition(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Upload => "status <> 'uploaded' AND status = 'pending'",
        JobKind::Recovery => "status <> 'uploaded' AND status IN ('missing', 'failed')",
        JobKind::Precopy => "status <> 'uploaded'",
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
                    path: typed(row, "path", DocumentPath::parse)?,
                    size: row.try_get("size")?,
                    expected_sha256: typed_opt(row, "expected_sha256", Sha256Hex::parse)?,
                })
            })
            .collect()
    }

    /// Counts the job's documents and their bytes and stores them as its
    /// totals (plus `extra_bytes`, the dump). The scope is the same on every
    /// attempt: documents the job already recorded carry its id.
    pub async fn set_job_scope(&self, job: &JobRecord, extra_bytes: i64) -> Result<JobProgress> {
        // A first attempt has recorded nothing yet: counting by the work
        // condition alone reads only the open rows (`documents_open`), where
        // `OR job_id = …` reads the whole ledger — in a cutover's freeze
        // window, a cost that grows with the archive instead of the change.
        let retry = job.attempts > 1;
        let recorded = if retry { " OR job_id = $2" } else { "" };
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS b FROM documents \
             WHERE migration_id = $1 AND ({}{recorded})",
            work_condition(job.kind)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&job.migration_id);
        if retry {
            query = query.bind(&job.id);
        }
        let row = query.fetch_one(&self.pool).await?;
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
            let sql = match self.backend {
                Backend::Postgres => RECORD_PG,
                Backend::Sqlite => RECORD_SQLITE,
            };
            let changed = sqlx::query(sql)
                .bind(&job.migration_id)
                .bind(&job.id)
                .bind(&now)
                .bind(outcomes_json(chunk)?)
                .fetch_all(&mut *tx)
                .await?;
            for row in &changed {
                let status: String = row.try_get("status")?;
                let n: i64 = row.try_get("n")?;
                match status.as_str() {
                    "uploaded" => {
                        uploaded += n;
                        bytes += row.try_get::<i64, _>("bytes")?;
                    }
                    "missing" => missing += n,
                    _ => failed += n,
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
            progress_in(&mut tx, job, (before, after, total)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The database dump as the migration's last job that copied it
    /// recorded it: its bytes and SHA-256. A recovery copies no dump; what
    /// it delivers is the upload's.
    pub async fn last_database_copy(&self, migration_id: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT database_bytes, database_sha256 FROM jobs WHERE migration_id = $1 \
             AND parent_id IS NULL AND database_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(migration_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("database_bytes")?, r.try_get("database_sha256")?)))
            .transpose()
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

/// `job.progress` for each milestone the job's processed documents passed
/// in one flush (from `before` to `after` of `total`).
pub(crate) async fn progress_in(
    tx: &mut Transaction<'static, Any>,
    job: &JobRecord,
    (before, after, total): (i64, i64, i64),
) -> Result<()> {
    for percent in ferry_domain::webhook::milestones_passed(before, after, total) {
        record_event_in(
            tx,
            &job.tenant,
            WebhookEvent::JobProgress,
            json!({
                "job_id": job.id,
                "migration_id": job.migration_id,
                "kind": job.kind.as_str(),
                "percent": percent,
                "documents_done": after,
                "documents_total": total,
            }),
        )
        .await?;
    }
    Ok(())
}
