//! Migration rows and their lifecycle transitions.
//!
//! Every state change is a compare-and-set on `(state, version)`, so two
//! concurrent requests cannot both move a migration: the loser sees the new
//! state and gets the lifecycle's 409.

use ferry_domain::{
    Email, LifecycleEvent, MigrationState, NewMigration, PersonName, Phone, SourceUrl,
    SourceVersion, TenantSlug, WebhookEvent,
};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEvent, append_all_in};
use crate::idempotency::{Idempotent, claim, finish_claim};
use crate::webhooks::record_event_in;
use crate::{Page, Result, Store, StoreError, is_unique_violation, now, parse_col, typed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRecord {
    pub id: String,
    pub tenant: TenantSlug,
    pub customer_name: PersonName,
    pub source_version: SourceVersion,
    pub database_url: SourceUrl,
    pub archive_url: SourceUrl,
    pub requested_by_name: PersonName,
    pub requested_by_email: Email,
    pub migrator_name: PersonName,
    pub migrator_email: Email,
    pub migrator_phone: Phone,
    pub state: MigrationState,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Filters of `GET /v1/migrations`.
#[derive(Debug, Clone, Default)]
pub struct MigrationFilter {
    pub state: Option<MigrationState>,
    pub tenant: Option<String>,
    /// Only migrations after this id (the cursor of the previous page).
    pub after: Option<String>,
    pub limit: u32,
}

pub(crate) const MIGRATION_COLUMNS: &str = "id, tenant, customer_name, source_version, database_url, \
     archive_url, requested_by_name, requested_by_email, migrator_name, migrator_email, \
     migrator_phone, state, version, created_at, updated_at";

pub(crate) fn migration_from_row(row: &AnyRow) -> Result<MigrationRecord> {
    let state: String = row.try_get("state")?;
    Ok(MigrationRecord {
        id: row.try_get("id")?,
        tenant: typed(row, "tenant", TenantSlug::parse)?,
        customer_name: typed(row, "customer_name", PersonName::parse)?,
        source_version: typed(row, "source_version", SourceVersion::parse)?,
        database_url: typed(row, "database_url", SourceUrl::parse)?,
        archive_url: typed(row, "archive_url", SourceUrl::parse)?,
        requested_by_name: typed(row, "requested_by_name", PersonName::parse)?,
        requested_by_email: typed(row, "requested_by_email", Email::parse)?,
        migrator_name: typed(row, "migrator_name", PersonName::parse)?,
        migrator_email: typed(row, "migrator_email", Email::parse)?,
        migrator_phone: typed(row, "migrator_phone", Phone::parse)?,
        state: parse_col(&state, "migrations.state")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Inserts a new draft migration. With `idem`, the first answer is kept and
    /// a repeated call gets it back instead of creating a second migration.
    pub async fn create_migration(
        &self,
        id: &str,
        new: &NewMigration,
        idem: Option<Idempotent<'_>>,
        render: impl FnOnce(&MigrationRecord) -> (u16, String),
        audit: impl FnOnce(&MigrationRecord) -> Vec<AuditEvent> + Send,
    ) -> Result<crate::IdempotencyClaim<MigrationRecord>> {
        let mut tx = self.begin().await?;
        if let Some(idem) = &idem
            && let Some(previous) = claim(&mut tx, idem).await?
        {
            return Ok(crate::IdempotencyClaim::Replay(previous));
        }
        let now = now();
        let record = MigrationRecord {
            id: id.to_owned(),
            tenant: new.tenant.clone(),
            customer_name: new.customer_name.clone(),
            source_version: new.source_version.clone(),
            database_url: new.database_url.clone(),
            archive_url: new.archive_url.clone(),
            requested_by_name: new.requested_by_name.clone(),
            requested_by_email: new.requested_by_email.clone(),
            migrator_name: new.migrator_name.clone(),
            migrator_email: new.migrator_email.clone(),
            migrator_phone: new.migrator_phone.clone(),
            state: MigrationState::Draft,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
        };
        let sql = format!(
            "INSERT INTO migrations ({MIGRATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&record.id)
            .bind(record.tenant.as_str())
            .bind(record.customer_name.as_str())
            .bind(record.source_version.as_str())
            .bind(record.database_url.as_str())
            .bind(record.archive_url.as_str())
            .bind(record.requested_by_name.as_str())
            .bind(record.requested_by_email.as_str())
            .bind(record.migrator_name.as_str())
            .bind(record.migrator_email.as_str())
            .bind(record.migrator_phone.as_str())
            .bind(record.state.as_str())
            .bind(record.version)
            .bind(&record.created_at)
            .bind(&record.updated_at)
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::TenantTaken(record.tenant.to_string()));
            }
            other => {
                other?;
            }
        }
        let (status, body) = render(&record);
        if let Some(idem) = &idem {
            finish_claim(&mut tx, idem, status, &body).await?;
        }
        append_all_in(&mut tx, audit(&record)).await?;
        tx.commit().await?;
        Ok(crate::IdempotencyClaim::Fresh(record))
    }

    pub async fn get_migration(&self, id: &str) -> Result<Option<MigrationRecord>> {
        let sql = format!("SELECT {MIGRATION_COLUMNS} FROM migrations WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(migration_from_row)
            .transpose()
    }

    pub async fn list_migrations(&self, filter: &MigrationFilter) -> Result<Page<MigrationRecord>> {
        // Placeholders are numbered as conditions are added; only fixed SQL
        // fragments are concatenated, never input.
        let mut sql = format!("SELECT {MIGRATION_COLUMNS} FROM migrations WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_owned());
            sql.push_str(&format!(" AND state = ${}", binds.len()));
        }
        if let Some(tenant) = &filter.tenant {
            binds.push(tenant.clone());
            sql.push_str(&format!(" AND tenant = ${}", binds.len()));
        }
        if let Some(after) = &filter.after {
            binds.push(after.clone());
            sql.push_str(&format!(" AND id > ${}", binds.len()));
        }
        // One extra row tells whether a next page exists.
        sql.push_str(&format!(
            " ORDER BY id LIMIT {}",
            u64::from(filter.limit) + 1
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(migration_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > filter.limit as usize {
            items.truncate(filter.limit as usize);
            items.last().map(|m| m.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Applies a lifecycle event to the migration as it is now; `audit`
    /// makes its records from the moved migration, in the same transaction.
    pub async fn transition(
        &self,
        id: &str,
        event: LifecycleEvent,
        audit: impl FnOnce(&MigrationRecord) -> Vec<AuditEvent> + Send,
    ) -> Result<MigrationRecord> {
        let mut tx = self.begin().await?;
        let record = transition_in(&mut tx, id, event, None).await?;
        append_all_in(&mut tx, audit(&record)).await?;
        tx.commit().await?;
        Ok(record)
    }
}

/// The migration, read inside `tx` after locking its row (a no-op `UPDATE`,
/// which both databases accept): a start or a manifest replacement that
/// comes meanwhile waits for `tx`.
pub(crate) async fn locked_migration_in(
    tx: &mut Transaction<'static, Any>,
    id: &str,
) -> Result<MigrationRecord> {
    sqlx::query("UPDATE migrations SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let sql = format!("SELECT {MIGRATION_COLUMNS} FROM migrations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    migration_from_row(&row)
}

/// Loads, checks and applies `event` inside `tx`. With `expected_version`, the
/// caller's view must still be current (`If-Match`).
pub(crate) async fn transition_in(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    event: LifecycleEvent,
    expected_version: Option<i64>,
) -> Result<MigrationRecord> {
    let sql = format!("SELECT {MIGRATION_COLUMNS} FROM migrations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut record = migration_from_row(&row)?;
    if let Some(expected) = expected_version
        && expected != record.version
    {
        return Err(StoreError::VersionMismatch { expected });
    }
    let next = record.state.apply(event)?;
    let updated_at = now();
    let done = sqlx::query(
        "UPDATE migrations SET state = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 AND version = $4",
    )
    .bind(next.as_str())
    .bind(&updated_at)
    .bind(id)
    .bind(record.version)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        // Somebody else moved it between our read and write (only possible
        // outside SQLite's single-writer lock): report the state they left.
        return Err(StoreError::VersionMismatch {
            expected: record.version,
        });
    }
    let from = record.state;
    record.state = next;
    record.version += 1;
    record.updated_at = updated_at;
    state_changed_in(tx, &record, from).await?;
    Ok(record)
}

/// `migration.state_changed` for a transition that just happened.
pub(crate) async fn state_changed_in(
    tx: &mut Transaction<'static, Any>,
    migration: &MigrationRecord,
    from: MigrationState,
) -> Result<()> {
    record_event_in(
        tx,
        &migration.tenant,
        WebhookEvent::MigrationStateChanged,
        json!({
            "migration_id": migration.id,
            "from": from.as_str(),
            "to": migration.state.as_str(),
            "version": migration.version,
        }),
    )
    .await
}
