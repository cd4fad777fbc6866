//! CSV import attempts: each applied or refused import, with the error
//! report a migrator downloads.

use sqlx::Row;

use crate::{Result, Store, now};

/// One CSV import attempt and its error report.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub id: String,
    pub migration_id: String,
    pub created_at: String,
    pub applied: bool,
    pub error_count: i64,
    /// The error report as CSV text (header only when the import applied).
    pub report_csv: String,
}

impl Store {
    pub async fn record_import(&self, record: &ImportRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO assignment_imports (id, migration_id, created_at, applied, error_count, errors) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(&record.migration_id)
        .bind(now())
        .bind(i64::from(record.applied))
        .bind(record.error_count)
        .bind(&record.report_csv)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_import(&self, id: &str) -> Result<Option<ImportRecord>> {
        let row = sqlx::query(
            "SELECT id, migration_id, created_at, applied, error_count, errors FROM assignment_imports WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ImportRecord {
                id: r.try_get("id")?,
                migration_id: r.try_get("migration_id")?,
                created_at: r.try_get("created_at")?,
                applied: r.try_get::<i64, _>("applied")? != 0,
                error_count: r.try_get("error_count")?,
                report_csv: r.try_get("errors")?,
            })
        })
        .transpose()
    }
}
