//! Pre-copy and cutover (issue 15): documents copied while the source is
//! live, a manifest replaced as the source changes, and what the cutover
//! removes from the tenant store.
//!
//! A pre-copy is a job like an upload without the lifecycle move, the
//! freeze and the database dump ([`Store::start_precopy`]). Replacing the
//! manifest afterwards (`Store::open_manifest`) keeps every copy the new
//! manifest still describes with the same path, size and SHA-256 as
//! `uploaded`, so the cutover neither reads nor writes it again; the copies
//! it no longer describes wait in `tenant_objects` until the cutover removes
//! them ([`Store::pending_removals`], [`Store::record_removals`]).

use ferry_domain::JobKind;
use ferry_domain::audit::AuditAction;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEvent, append_in};
use crate::jobs::{
    JOB_COLUMNS, Started, active_job_in, insert_job_in, job_from_row, transition_before,
};
use crate::migrations::locked_migration_in;
use crate::{Backend, IdempotencyClaim, JobRecord, Result, StartRequest, Store, StoreError, now};

impl Store {
    /// Records a queued pre-copy job and its dispatch record: allowed while
    /// the migration is `draft` or `ready`, no other job of it is queued or
    /// running, and a manifest document is not in the tenant store yet. The
    /// migration's state and freeze do not change.
    pub async fn start_precopy(
        &self,
        req: StartRequest<'_>,
        render: impl FnOnce(&Started) -> (u16, String),
    ) -> Result<IdempotencyClaim<Started>> {
        let mut tx = self.begin().await?;
        if let Some(idem) = &req.idem
            && let Some(previous) = crate::idempotency::claim(&mut tx, idem).await?
        {
            return Ok(IdempotencyClaim::Replay(previous));
        }
        let state = transition_before(&mut tx, req.migration_id).await?;
        if !JobKind::precopy_allowed(state) {
            return Err(StoreError::PrecopyNotAllowed(state));
        }
        if let Some(active) = active_job_in(&mut tx, req.migration_id).await? {
            return Err(StoreError::JobActive(active));
        }
        let left = sqlx::query(
            "SELECT document_id FROM documents WHERE migration_id = $1 AND status <> 'uploaded' LIMIT 1",
        )
        .bind(req.migration_id)
        .fetch_optional(&mut *tx)
        .await?;
        if left.is_none() {
            return Err(StoreError::NothingToCopy);
        }
        // Locks the migration row, as a start does, so a concurrent start or
        // manifest replacement waits for this one.
        let migration = locked_migration_in(&mut tx, req.migration_id).await?;
        let job = insert_job_in(&mut tx, &migration, JobKind::Precopy, req.job_id, &now()).await?;
        let started = Started { migration, job };
        if let Some(idem) = &req.idem {
            let (status, body) = render(&started);
            crate::idempotency::finish_claim(&mut tx, idem, status, &body).await?;
        }
        append_in(
            &mut tx,
            &AuditEvent::new(AuditAction::PrecopyStarted, req.started_by)
                .migration(&started.migration.id)
                .subject(&started.job.id)
                .after(json!({
                    "state": state.as_str(),
                    "frozen": false,
                    "job_id": started.job.id,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(IdempotencyClaim::Fresh(started))
    }

    /// The migration's latest pre-copy job, if it ever had one.
    pub async fn last_precopy(&self, migration_id: &str) -> Result<Option<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE migration_id = $1 AND kind = 'precopy' \
             AND parent_id IS NULL ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    /// Whether a manifest row has no SHA-256 (only those need the archive's
    /// listing, see [`Store::apply_listing`]).
    pub async fn has_rows_without_sha(&self, migration_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT document_id FROM documents WHERE migration_id = $1 \
             AND expected_sha256 IS NULL AND status <> 'uploaded' LIMIT 1",
        )
        .bind(migration_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// One page of the archive's listing `(path, size, tag)`, for the rows
    /// without a SHA-256: a pending row whose copy in the tenant store was
    /// made when the listing said the same size and tag is unchanged and
    /// becomes `uploaded` (not read, not written); the other rows not copied
    /// yet remember the tag they are about to be copied at.
    pub async fn apply_listing(
        &self,
        migration_id: &str,
        listing: &[(String, u64, String)],
    ) -> Result<()> {
        if listing.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = listing
            .iter()
            .map(|(path, size, tag)| json!({"path": path, "size": size, "tag": tag}))
            .collect();
        let list = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let x = match self.backend {
            Backend::Postgres => {
                "SELECT * FROM json_to_recordset($2::json) AS r(path text, size bigint, tag text)"
            }
            Backend::Sqlite => {
                "SELECT value ->> '$.path' AS path, value ->> '$.size' AS size, \
                 value ->> '$.tag' AS tag FROM json_each($2)"
            }
        };
        let mut tx = self.begin().await?;
        hash_joins_in(&mut tx, self.backend).await?;
        let unchanged = format!(
            "UPDATE documents SET status = 'uploaded', actual_sha256 = t.sha256, bytes = t.size, \
             source_tag = t.source_tag, reason = NULL, updated_at = $3 \
             FROM ({x}) AS x, tenant_objects t \
             WHERE documents.migration_id = $1 AND documents.path = x.path \
             AND documents.status = 'pending' AND documents.expected_sha256 IS NULL \
             AND CAST(x.size AS BIGINT) = documents.size \
             AND t.migration_id = $1 AND t.path = x.path AND t.removed_at IS NULL \
             AND t.size = documents.size AND t.source_tag = x.tag"
        );
        sqlx::query(sqlx::AssertSqlSafe(unchanged))
            .bind(migration_id)
            .bind(&list)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        forget_covered_in(&mut tx, migration_id).await?;
        let tagged = format!(
            "UPDATE documents SET source_tag = x.tag FROM ({x}) AS x \
             WHERE documents.migration_id = $1 AND documents.path = x.path \
             AND documents.status <> 'uploaded' AND documents.expected_sha256 IS NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(tagged))
            .bind(migration_id)
            .bind(&list)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Paths under `<tenant>/documents/` the cutover still has to remove, in
    /// path order, at most `limit`.
    pub async fn pending_removals(&self, migration_id: &str, limit: u32) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT path FROM tenant_objects WHERE migration_id = $1 AND removed_at IS NULL \
             ORDER BY path LIMIT $2",
        )
        .bind(migration_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("path").map_err(StoreError::from))
            .collect()
    }

    /// Records that `job` removed `paths` from the tenant store, with one
    /// audit record per call (the count and the paths), in one transaction.
    pub async fn record_removals(&self, job: &JobRecord, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let now = now();
        // One statement for the page: the paths travel as one JSON array.
        let list = serde_json::to_string(paths).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = match self.backend {
            Backend::Postgres => {
                "UPDATE tenant_objects SET removed_at = $1, removed_by = $2 \
                 WHERE migration_id = $3 AND removed_at IS NULL \
                 AND path IN (SELECT json_array_elements_text($4::json)) RETURNING path"
            }
            Backend::Sqlite => {
                "UPDATE tenant_objects SET removed_at = $1, removed_by = $2 \
                 WHERE migration_id = $3 AND removed_at IS NULL \
                 AND path IN (SELECT value FROM json_each($4)) RETURNING path"
            }
        };
        let rows = sqlx::query(sql)
            .bind(&now)
            .bind(&job.id)
            .bind(&job.migration_id)
            .bind(list)
            .fetch_all(&mut *tx)
            .await?;
        let mut removed = rows
            .iter()
            .map(|r| r.try_get::<String, _>("path"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        removed.sort();
        if !removed.is_empty() {
            let event = AuditEvent::new(AuditAction::DocumentsRemoved, Some(&job.id))
                .migration(&job.migration_id)
                .subject(&job.id)
                .after(json!({"count": removed.len(), "paths": removed}));
            append_in(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every removal the cutover made, in path order (the ledger of
    /// removals).
    pub async fn list_removals(
        &self,
        migration_id: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT path, removed_at FROM tenant_objects WHERE migration_id = $1 \
             AND removed_at IS NOT NULL ORDER BY path LIMIT $2",
        )
        .bind(migration_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("path")?, r.try_get("removed_at")?)))
            .collect()
    }
}

/// Inside a manifest replacement, before the old ledger goes: every copy it
/// recorded joins `tenant_objects` (replacing an older row of the same path).
pub(crate) async fn stash_copies_in(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tenant_objects (migration_id, path, size, sha256, source_tag) \
         SELECT migration_id, path, size, COALESCE(actual_sha256, expected_sha256, ''), source_tag \
         FROM documents WHERE migration_id = $1 AND status = 'uploaded' \
         ON CONFLICT (migration_id, path) DO UPDATE SET size = excluded.size, \
         sha256 = excluded.sha256, source_tag = excluded.source_tag, removed_at = NULL, removed_by = NULL",
    )
    .bind(migration_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inside a manifest replacement, once the new rows are in: a row whose
/// path, size and SHA-256 match a copy the tenant store holds is `uploaded`
/// already (not read, not written again), and that copy is the ledger's
/// again. A row without a SHA-256 in the manifest cannot be proven unchanged
/// and is copied again. What stays in `tenant_objects` is what the cutover
/// removes (or overwrites, for a changed document). How many rows it kept.
pub(crate) async fn keep_unchanged_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    migration_id: &str,
    now: &str,
) -> Result<u64> {
    hash_joins_in(tx, backend).await?;
    let kept = sqlx::query(
        "UPDATE documents SET status = 'uploaded', actual_sha256 = t.sha256, bytes = t.size, \
         source_tag = t.source_tag, reason = NULL, updated_at = $2 \
         FROM tenant_objects t \
         WHERE documents.migration_id = $1 AND t.migration_id = $1 AND t.path = documents.path \
         AND t.removed_at IS NULL AND t.size = documents.size \
         AND t.sha256 = documents.expected_sha256",
    )
    .bind(migration_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    forget_covered_in(tx, migration_id).await?;
    Ok(kept)
}

/// The rest of `tx` joins with hashes on PostgreSQL. The ledger and
/// `tenant_objects` are matched right after being written in bulk, when
/// PostgreSQL's statistics still call them empty: it planned a nested loop
/// of two sequential scans, and 20,000 rows took minutes. A hash join is
/// right for any size here; SQLite looks each row up by `tenant_objects`'
/// key. (`SET LOCAL` ends with the transaction, which ends right after.)
async fn hash_joins_in(tx: &mut Transaction<'static, Any>, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Copies the ledger records as `uploaded` again are the ledger's, not
/// removals.
async fn forget_covered_in(tx: &mut Transaction<'static, Any>, migration_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM tenant_objects WHERE migration_id = $1 AND removed_at IS NULL AND path IN \
         (SELECT path FROM documents WHERE migration_id = $1 AND status = 'uploaded')",
    )
    .bind(migration_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
