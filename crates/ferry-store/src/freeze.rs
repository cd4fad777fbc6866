//! The freeze record of SPEC §3.8: who froze the source, when and why, and
//! when it was lifted. Whether the source is frozen *now* is decided by the
//! lifecycle (`MigrationState::is_frozen`); this only adds the who and why.

use ferry_domain::JobKind;
use sqlx::{Any, Row, Transaction};

use crate::{Result, Store, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeRecord {
    /// The first start: the source has been frozen since.
    pub frozen_at: String,
    /// The API key of the latest start (`None` for a start without a caller).
    pub frozen_by: Option<String>,
    /// `upload` or `recovery`: the latest start's job kind.
    pub reason: String,
    pub lifted_at: Option<String>,
    pub lifted_by: Option<String>,
    /// `completed` or `cancelled`.
    pub lift_reason: Option<String>,
}

/// Records a start's freeze inside the start's transaction, so a migration
/// never runs a job without its freeze on record.
pub(crate) async fn record_freeze(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    kind: JobKind,
    by: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO freezes (migration_id, frozen_at, frozen_by, reason) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (migration_id) DO UPDATE SET frozen_by = excluded.frozen_by, \
         reason = excluded.reason",
    )
    .bind(migration_id)
    .bind(at)
    .bind(by)
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    pub async fn get_freeze(&self, migration_id: &str) -> Result<Option<FreezeRecord>> {
        let row = sqlx::query(
            "SELECT frozen_at, frozen_by, reason, lifted_at, lifted_by, lift_reason \
             FROM freezes WHERE migration_id = $1",
        )
        .bind(migration_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(FreezeRecord {
                frozen_at: r.try_get("frozen_at")?,
                frozen_by: r.try_get("frozen_by")?,
                reason: r.try_get("reason")?,
                lifted_at: r.try_get("lifted_at")?,
                lifted_by: r.try_get("lifted_by")?,
                lift_reason: r.try_get("lift_reason")?,
            })
        })
        .transpose()
    }

    /// Notes who lifted the freeze and why; a second call changes nothing.
    /// Called after the lifecycle moved the migration to a terminal state.
    pub async fn lift_freeze(&self, migration_id: &str, by: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE freezes SET lifted_at = $1, lifted_by = $2, lift_reason = $3 \
             WHERE migration_id = $4 AND lifted_at IS NULL",
        )
        .bind(now())
        .bind(by)
        .bind(reason)
        .bind(migration_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
