//! The roster: the source's users and satellites, replaced whole by an
//! upload (with the draft entries of users no longer in it dropped), and
//! read back as the validated inputs.

use ferry_domain::licensing::{Assignments, RosterUserInput, SatelliteInput};
use sqlx::Row;

use super::{bump_draft_version, insert_assignments, insert_json_rows, json, json_read, tally};
use crate::audit::{AuditEvent, append_all_in};
use crate::{Result, Store};

/// One roster user as `insert_json_rows` writes it (`ROSTER_COLUMNS`).
#[derive(serde::Serialize)]
struct RosterRow<'a> {
    seq: i64,
    user_id: &'a str,
    full_name: &'a str,
    emails: String,
    user_group: &'a str,
    position: &'a str,
    is_admin: i64,
    old_license: Option<&'a str>,
    old_addons: String,
    on_travel: i64,
    active: i64,
}

const ROSTER_COLUMNS: [(&str, &str); 11] = [
    ("seq", "bigint"),
    ("user_id", "text"),
    ("full_name", "text"),
    ("emails", "text"),
    ("user_group", "text"),
    ("position", "text"),
    ("is_admin", "bigint"),
    ("old_license", "text"),
    ("old_addons", "text"),
    ("on_travel", "bigint"),
    ("active", "bigint"),
];

impl Store {
    /// Replaces the roster and satellites, drops draft entries of users no
    /// longer in it, and bumps the draft version; returns the new draft
    /// version and roster generation. `audit` makes the upload's records
    /// from the new draft version; they are appended in this transaction.
    pub async fn replace_roster(
        &self,
        migration_id: &str,
        users: &[RosterUserInput],
        satellites: &[SatelliteInput],
        kept_draft: &Assignments,
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<(i64, i64)> {
        let mut tx = self.begin().await?;
        // The draft's `licensing` row is locked first, as every draft edit
        // locks it: an import in progress (which reads the roster beside its
        // transaction, see `import_read`) thus ends before the roster goes.
        let version = bump_draft_version(&mut tx, migration_id, None).await?;
        for table in [
            "roster_users",
            "roster_snapshot",
            "roster_satellites",
            "draft_assignments",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE migration_id = $1"
            )))
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        }
        json_read::write_snapshot(&mut tx, migration_id, users).await?;
        let rows = users
            .iter()
            .enumerate()
            .map(|(seq, u)| {
                Ok(RosterRow {
                    seq: seq as i64,
                    user_id: &u.user_id,
                    full_name: &u.full_name,
                    emails: json(&u.emails)?,
                    user_group: &u.group,
                    position: &u.position,
                    is_admin: i64::from(u.is_admin),
                    old_license: u.old_license.as_deref(),
                    old_addons: json(&u.old_addons)?,
                    on_travel: i64::from(u.on_travel),
                    active: i64::from(u.active),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        insert_json_rows(
            &mut tx,
            self.backend,
            "roster_users",
            migration_id,
            &ROSTER_COLUMNS,
            rows,
        )
        .await?;
        for s in satellites {
            sqlx::query(
                "INSERT INTO roster_satellites (migration_id, name, active) VALUES ($1, $2, $3)",
            )
            .bind(migration_id)
            .bind(s.name.as_str())
            .bind(i64::from(s.active))
            .execute(&mut *tx)
            .await?;
        }
        insert_assignments(
            &mut tx,
            self.backend,
            "draft_assignments",
            migration_id,
            kept_draft,
        )
        .await?;
        tally::recount_roster(&mut tx, migration_id).await?;
        tally::recount_draft(&mut tx, migration_id).await?;
        // A generation, not a flag: API processes cache the validated roster
        // per (migration, generation) — see `roster_generation`.
        sqlx::query(
            "UPDATE licensing SET roster_loaded = roster_loaded + 1 WHERE migration_id = $1",
        )
        .bind(migration_id)
        .execute(&mut *tx)
        .await?;
        let generation: i64 =
            sqlx::query("SELECT roster_loaded FROM licensing WHERE migration_id = $1")
                .bind(migration_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("roster_loaded")?;
        append_all_in(&mut tx, audit(version)).await?;
        tx.commit().await?;
        self.analyze_soon("roster_users", users.len());
        Ok((version, generation))
    }

    /// How many times the migration's roster was replaced (0: never). A
    /// roster never changes in place, so a validated copy cached under
    /// (migration, generation) stays right until this number moves.
    pub async fn roster_generation(&self, migration_id: &str) -> Result<i64> {
        Ok(
            sqlx::query("SELECT roster_loaded FROM licensing WHERE migration_id = $1")
                .bind(migration_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<i64, _>("roster_loaded"))
                .transpose()?
                .unwrap_or(0),
        )
    }

    /// The roster as it was uploaded, in upload order.
    pub async fn load_roster(
        &self,
        migration_id: &str,
    ) -> Result<(Vec<RosterUserInput>, Vec<SatelliteInput>)> {
        let users = json_read::roster_users(self, migration_id).await?;
        let sats = sqlx::query(
            "SELECT name, active FROM roster_satellites WHERE migration_id = $1 ORDER BY name",
        )
        .bind(migration_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(SatelliteInput {
                name: row.try_get("name")?,
                active: row.try_get::<i64, _>("active")? != 0,
                source_row: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok((users, sats))
    }
}
