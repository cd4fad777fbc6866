//! Job history: jobs and their outcome ledgers live in the database, not in
//! the queue (whose finished records are vacuumed within a minute), so they
//! stay queryable after the work is done. A retention, when configured,
//! removes them for migrations closed (`completed`/`cancelled`) longer ago
//! than that; open migrations keep everything, and the migration rows
//! themselves stay.

use crate::{Result, Store};

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Job rows, batches of split jobs included.
    pub jobs: u64,
    pub documents: u64,
}

/// Migrations whose history may go: closed, and last changed before `$1`.
const CLOSED_BEFORE: &str =
    "SELECT id FROM migrations WHERE state IN ('completed', 'cancelled') AND updated_at < $1";

impl Store {
    /// Removes jobs (batches included) and ledger rows of migrations closed
    /// before `cutoff` (RFC 3339, as stored), in one transaction.
    pub async fn purge_history(&self, cutoff: &str) -> Result<Purged> {
        let mut tx = self.begin().await?;
        let documents = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM documents WHERE migration_id IN ({CLOSED_BEFORE})"
        )))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM job_outbox WHERE job_id IN \
             (SELECT id FROM jobs WHERE migration_id IN ({CLOSED_BEFORE}))"
        )))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let jobs = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM jobs WHERE migration_id IN ({CLOSED_BEFORE})"
        )))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Purged { jobs, documents })
    }
}
