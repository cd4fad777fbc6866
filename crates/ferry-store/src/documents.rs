//! The document manifest and its outcome ledger (SPEC §3.6): one row per
//! manifest row, in exactly one of `pending`, `uploaded`, `missing`,
//! `failed`. Job progress and the freeze are in the submodules.
//!
//! A manifest may hold millions of rows: it is written by a
//! [`ManifestWriter`] in multi-row batches as the upload streams in, inside one
//! transaction, so a rejected upload leaves the previous manifest untouched.

mod batches;
mod progress;

use std::fmt;
use std::str::FromStr;

use ferry_domain::MigrationState;
use ferry_domain::manifest::ManifestRow;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments, Row, Transaction};

pub use batches::{BatchEnd, BatchRecord};
pub use progress::{DocumentOutcome, WorkItem};

use crate::{Page, Result, Store, StoreError, now, parse_col};

/// Rows per multi-row insert statement: 1,000 × 8 parameters stay far below
/// both databases' parameter limits.
const INSERT_BATCH: usize = 1000;

/// Where one document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    /// In the manifest, not tried yet.
    Pending,
    /// In the tenant store with the recorded checksum.
    Uploaded,
    /// Not found in the source archive (expected; recovery retries it).
    Missing,
    /// Tried and failed (I/O, size or checksum); `reason` says why.
    Failed,
}

impl DocumentStatus {
    pub const ALL: [DocumentStatus; 4] =
        [Self::Pending, Self::Uploaded, Self::Missing, Self::Failed];

    /// Not in the tenant store: what a cutover still copies (a pre-copy's
    /// missing and failed documents are tried again).
    pub const TO_COPY: [DocumentStatus; 3] = [Self::Pending, Self::Missing, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Missing => "missing",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DocumentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown document status '{s}' (pending, uploaded, missing, failed)")
            })
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub document_id: String,
    /// Position in the manifest (0-based); the pagination cursor.
    pub seq: i64,
    pub path: String,
    pub size: i64,
    pub expected_sha256: Option<String>,
    pub status: DocumentStatus,
    pub reason: Option<String>,
    pub actual_sha256: Option<String>,
    pub bytes: i64,
    pub attempts: i64,
    pub updated_at: String,
}

const DOCUMENT_COLUMNS: &str = "document_id, seq, path, size, expected_sha256, status, reason, \
     actual_sha256, bytes, attempts, updated_at";

fn document_from_row(row: &AnyRow) -> Result<DocumentRecord> {
    let status: String = row.try_get("status")?;
    Ok(DocumentRecord {
        document_id: row.try_get("document_id")?,
        seq: row.try_get("seq")?,
        path: row.try_get("path")?,
        size: row.try_get("size")?,
        expected_sha256: row.try_get("expected_sha256")?,
        status: parse_col(&status, "documents.status")?,
        reason: row.try_get("reason")?,
        actual_sha256: row.try_get("actual_sha256")?,
        bytes: row.try_get("bytes")?,
        attempts: row.try_get("attempts")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One row of the delivered ledger (`Store::ledger_page`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub seq: i64,
    pub path: String,
    pub size: i64,
    /// Stored (for `uploaded`), else expected.
    pub sha256: Option<String>,
    pub status: DocumentStatus,
}

fn ledger_row(row: &AnyRow) -> Result<LedgerRow> {
    let status: String = row.try_get(4)?;
    Ok(LedgerRow {
        seq: row.try_get(0)?,
        path: row.try_get(1)?,
        size: row.try_get(2)?,
        sha256: row.try_get(3)?,
        status: parse_col(&status, "documents.status")?,
    })
}

/// Filters of the document list.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub status: Option<DocumentStatus>,
    /// Only documents after this manifest position (the previous page's cursor).
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// What a manifest replacement stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestSummary {
    pub documents: i64,
    pub bytes: i64,
}

/// The answer to [`Store::open_manifest`].
pub enum ManifestOpen {
    Open(ManifestWriter),
    /// The manifest can only change while the migration is `draft` or `ready`.
    Locked(MigrationState),
}

/// A manifest being replaced: the old rows are already deleted inside the
/// open transaction; nothing is visible to others until [`Self::commit`].
pub struct ManifestWriter {
    tx: Transaction<'static, Any>,
    migration_id: String,
    next_seq: i64,
    bytes: i64,
    updated_at: String,
    backend: crate::Backend,
    /// For the statistics refresh after the commit.
    store: Store,
}

/// `($1, $2, …), ($n, …)` for `rows` rows of `cols` columns.
pub(crate) fn values_sql(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

pub(crate) fn add<'t, T>(args: &mut AnyArguments, value: T) -> Result<()>
where
    T: sqlx::Encode<'t, Any> + sqlx::Type<Any>,
{
    args.add(value).map_err(StoreError::from_encode)
}

impl Store {
    /// Starts replacing the manifest of `migration_id`. The migration row is
    /// locked for the whole replacement (a no-op `UPDATE`, which both
    /// databases accept), so a concurrent start waits for it and then sees
    /// the new manifest, or wins and makes this one answer `Locked`.
    pub async fn open_manifest(&self, migration_id: &str) -> Result<ManifestOpen> {
        let mut tx = self.begin().await?;
        let locked = sqlx::query(
            "UPDATE migrations SET updated_at = updated_at \
             WHERE id = $1 AND state IN ('draft', 'ready')",
        )
        .bind(migration_id)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() == 0 {
            let row = sqlx::query("SELECT state FROM migrations WHERE id = $1")
                .bind(migration_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let state: String = row.try_get("state")?;
            return Ok(ManifestOpen::Locked(parse_col(&state, "migrations.state")?));
        }
        // A pre-copy reads the ledger this rewrites.
        if let Some(active) = crate::jobs::active_job_in(&mut tx, migration_id).await? {
            return Err(StoreError::JobActive(active));
        }
        // What earlier manifests copied stays known (see `precopy.rs`).
        crate::precopy::stash_copies_in(&mut tx, migration_id).await?;
        sqlx::query("DELETE FROM documents WHERE migration_id = $1")
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        Ok(ManifestOpen::Open(ManifestWriter {
            tx,
            migration_id: migration_id.to_owned(),
            next_seq: 0,
            bytes: 0,
            updated_at: now(),
            backend: self.backend,
            store: self.clone(),
        }))
    }

    /// One page of the ledger in manifest order, optionally of one status.
    pub async fn list_documents(
        &self,
        migration_id: &str,
        filter: &DocumentFilter,
    ) -> Result<Page<DocumentRecord>> {
        // Only fixed fragments are concatenated; values are bound.
        let mut sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE migration_id = $1 AND seq > $2"
        );
        match filter.status {
            // The partial index `documents_open` holds all but these.
            Some(DocumentStatus::Uploaded) => sql.push_str(" AND status = $3"),
            Some(_) => sql.push_str(" AND status <> 'uploaded' AND status = $3"),
            None => {}
        }
        sql.push_str(&format!(
            " ORDER BY seq LIMIT {}",
            u64::from(filter.limit) + 1
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .bind(filter.after_seq.unwrap_or(-1));
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        let mut items = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(document_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > filter.limit as usize {
            items.truncate(filter.limit as usize);
            items.last().map(|d| d.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The ledger as delivered to the tenant (`ferry_domain::delivery`):
    /// `limit` rows after manifest position `after_seq`, each as (seq, path,
    /// size, SHA-256 — stored, else expected — and status). Only these
    /// columns: the delivery reads the whole ledger inside the freeze.
    /// (Having the database write the JSON lines and join them was tried:
    /// PostgreSQL's text concatenation made it slower, not faster.)
    pub async fn ledger_page(
        &self,
        migration_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<LedgerRow>> {
        let sql = format!(
            "SELECT seq, path, size, CASE WHEN status = 'uploaded' THEN actual_sha256 \
             ELSE expected_sha256 END AS sha256, status FROM documents \
             WHERE migration_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .bind(after_seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(ledger_row)
            .collect()
    }

    /// The whole ledger as [`Store::ledger_page`] gives it, in one query
    /// whose rows are consumed as they arrive: the database reads the next
    /// rows while the caller writes the last ones (the delivery), where
    /// pages made each wait for the other. Memory stays small: rows that
    /// are not consumed yet wait in the connection's socket.
    pub fn ledger_rows<'a>(
        &'a self,
        migration_id: &str,
    ) -> futures::stream::BoxStream<'a, Result<LedgerRow>> {
        use futures::StreamExt;
        sqlx::query(
            "SELECT seq, path, size, CASE WHEN status = 'uploaded' THEN actual_sha256 \
             ELSE expected_sha256 END AS sha256, status FROM documents \
             WHERE migration_id = $1 ORDER BY seq",
        )
        .bind(migration_id.to_owned())
        .fetch(&self.pool)
        .map(|row| ledger_row(&row?))
        .boxed()
    }

    /// Whether a recovery has anything to try: a document missing or failed.
    pub async fn has_retryable_documents(&self, migration_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT document_id FROM documents \
             WHERE migration_id = $1 AND status <> 'uploaded' AND status IN ('missing', 'failed') \
             LIMIT 1",
        )
        .bind(migration_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

impl ManifestWriter {
    /// Adds rows in manifest order.
    pub async fn insert(&mut self, rows: &[ManifestRow]) -> Result<()> {
        for chunk in rows.chunks(INSERT_BATCH) {
            let sql = format!(
                "INSERT INTO documents (migration_id, document_id, seq, path, size, expected_sha256, \
                 status, updated_at) VALUES {}",
                values_sql(chunk.len(), 8)
            );
            let mut args = AnyArguments::default();
            for row in chunk {
                let size = i64::try_from(row.size).map_err(|_| {
                    StoreError::Corrupt(format!("size {} of '{}'", row.size, row.document_id))
                })?;
                add(&mut args, self.migration_id.clone())?;
                add(&mut args, row.document_id.as_str().to_owned())?;
                add(&mut args, self.next_seq)?;
                add(&mut args, row.path.as_str().to_owned())?;
                add(&mut args, size)?;
                add(
                    &mut args,
                    row.sha256.as_ref().map(|s| s.as_str().to_owned()),
                )?;
                add(&mut args, DocumentStatus::Pending.as_str())?;
                add(&mut args, self.updated_at.clone())?;
                self.next_seq += 1;
                self.bytes = self.bytes.saturating_add(size);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Keeps the copies the new manifest describes unchanged (see
    /// `precopy::keep_unchanged_in`) and commits.
    pub async fn commit(mut self) -> Result<ManifestSummary> {
        let kept = crate::precopy::keep_unchanged_in(
            &mut self.tx,
            self.backend,
            &self.migration_id,
            &self.updated_at,
        )
        .await?;
        self.tx.commit().await?;
        let rows = usize::try_from(self.next_seq).unwrap_or(0);
        if kept > 0 {
            // A manifest replaced after a pre-copy: the cutover comes next,
            // with the source frozen. Rows inserted as pending and then kept
            // as uploaded left as many dead entries in `documents_open`,
            // which every statement of that cutover would wade through
            // (PostgreSQL): cleared now, outside the freeze window.
            self.store.vacuum_ledger().await;
        } else {
            // The ledger was just rewritten: the next job's statements are
            // planned on fresh statistics (PostgreSQL), not the old table's.
            // Waited for: in the background it raced the start that usually
            // follows (the job's first pages planned on stale statistics)
            // and took CPU from its copies (4 % of a 20,000-document upload
            // in the profile); here it is part of the manifest's upload,
            // outside the job and outside a cutover's freeze.
            self.store.analyze_now("documents", rows).await;
        }
        Ok(ManifestSummary {
            documents: self.next_seq,
            bytes: self.bytes,
        })
    }

    /// Drops everything written; the previous manifest stays.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// The documents a start would try next, and their bytes (the estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentScope {
    pub documents: i64,
    pub bytes: i64,
}

/// A finished transfer job's bytes and times, to measure throughput.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedTransfer {
    pub bytes_done: i64,
    pub started_at: String,
    pub finished_at: String,
}

impl Store {
    /// Migrations the recovery sweep looks at: `uploaded` with at least one
    /// `missing` document, oldest first.
    pub async fn migrations_with_missing_documents(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM migrations WHERE state = 'uploaded' AND EXISTS \
             (SELECT 1 FROM documents d WHERE d.migration_id = migrations.id \
              AND d.status <> 'uploaded' AND d.status = 'missing') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Count and bytes of the documents of `migration_id` in `statuses`.
    pub async fn document_scope(
        &self,
        migration_id: &str,
        statuses: &[DocumentStatus],
    ) -> Result<DocumentScope> {
        if statuses.is_empty() {
            return Ok(DocumentScope::default());
        }
        // Only fixed fragments are concatenated; values are bound.
        let marks = (0..statuses.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS b FROM documents \
             WHERE migration_id = $1 AND status IN ({marks})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(migration_id);
        for status in statuses {
            query = query.bind(status.as_str());
        }
        let row = query.fetch_one(&self.pool).await?;
        Ok(DocumentScope {
            documents: row.try_get("n")?,
            bytes: row.try_get("b")?,
        })
    }

    /// The `limit` most recently finished successful transfer jobs that
    /// moved bytes, of every migration: what throughput this installation
    /// reaches.
    pub async fn recent_finished_transfers(&self, limit: u32) -> Result<Vec<FinishedTransfer>> {
        let sql = format!(
            "SELECT bytes_done, started_at, finished_at FROM jobs \
             WHERE state = 'succeeded' AND bytes_done > 0 \
             AND started_at IS NOT NULL AND finished_at IS NOT NULL \
             ORDER BY finished_at DESC LIMIT {}",
            u64::from(limit)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FinishedTransfer {
                    bytes_done: r.try_get("bytes_done")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                })
            })
            .collect()
    }
}
