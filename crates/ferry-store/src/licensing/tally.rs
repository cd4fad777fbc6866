//! The counts the overview reads (`roster_holdings`, `draft_tally`, see
//! migration 0016), kept in the same transactions as the roster and the
//! draft they count. The grouping is SQL; what a group means (caseless
//! catalogue names, add-ons once per user) is the domain's `overview_from`.

use std::collections::HashMap;

use ferry_domain::licensing::{Assignment, HoldingGroup, TallyGroup};
use sqlx::{Any, Row, Transaction};

use super::{from_json, json};
use crate::{Result, Store};

/// Draft writes between two folds of a migration's `draft_tally` rows: each
/// write appends a few signed rows, so a read sums at most a few hundred.
const FOLD_EVERY: i64 = 64;

/// The draft's groups, counted afresh.
const DRAFT_GROUPS: &str = "SELECT d.migration_id, CASE WHEN d.plan IS NULL THEN 0 ELSE 1 END, \
     COALESCE(d.plan, ''), d.addons, r.active, COUNT(*) \
     FROM draft_assignments d \
     JOIN roster_users r ON r.migration_id = d.migration_id AND r.user_id = d.user_id \
     WHERE d.migration_id = $1 \
     GROUP BY d.migration_id, CASE WHEN d.plan IS NULL THEN 0 ELSE 1 END, \
     COALESCE(d.plan, ''), d.addons, r.active";

const INSERT_TALLY: &str =
    "INSERT INTO draft_tally (migration_id, has_plan, plan, addons, active, entries) ";

/// Counts the roster's active users by what they hold today, afresh.
pub(super) async fn recount_roster(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM roster_holdings WHERE migration_id = $1")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO roster_holdings (migration_id, old_license, old_addons, first_seq, holders) \
         SELECT migration_id, COALESCE(old_license, ''), old_addons, MIN(seq), COUNT(*) \
         FROM roster_users WHERE migration_id = $1 AND active <> 0 \
         GROUP BY migration_id, COALESCE(old_license, ''), old_addons",
    )
    .bind(migration_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts the whole draft afresh: after it was replaced whole, or after the
/// roster (and so who is active) changed under it.
pub(super) async fn recount_draft(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM draft_tally WHERE migration_id = $1")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_TALLY}{DRAFT_GROUPS}")))
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Signed changes to the draft's groups, gathered in memory from the
/// entries a write removes and adds (the import knows both and whether
/// each user is active) and written as one row per group.
#[derive(Default)]
pub(super) struct Delta(HashMap<(bool, String, String, bool), i64>);

impl Delta {
    /// `entry` of a user (`active` or not) counted `sign` more times.
    pub(super) fn add(&mut self, entry: &Assignment, active: bool, sign: i64) -> Result<()> {
        // The same text the row's `addons` column holds (`insert_assignments`).
        let addons = json(&entry.addons)?;
        let plan = entry.plan.clone().unwrap_or_default();
        *self
            .0
            .entry((entry.plan.is_some(), plan, addons, active))
            .or_default() += sign;
        Ok(())
    }

    pub(super) async fn write(
        self,
        tx: &mut Transaction<'static, Any>,
        migration_id: &str,
    ) -> Result<()> {
        for ((has_plan, plan, addons, active), entries) in self.0 {
            if entries != 0 {
                let group = (i64::from(has_plan), plan, addons, i64::from(active));
                insert_group(tx, migration_id, group, entries).await?;
            }
        }
        Ok(())
    }
}

/// Folds the migration's signed rows into one per group, every
/// `FOLD_EVERY` draft versions; `version` is the draft's new one (its row
/// is locked, so no other write adds rows meanwhile).
pub(super) async fn fold_now_and_then(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    version: i64,
) -> Result<()> {
    if version % FOLD_EVERY != 0 {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT has_plan, plan, addons, active, CAST(SUM(entries) AS BIGINT) AS entries \
         FROM draft_tally WHERE migration_id = $1 \
         GROUP BY has_plan, plan, addons, active HAVING SUM(entries) <> 0",
    )
    .bind(migration_id)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM draft_tally WHERE migration_id = $1")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    for row in rows {
        let group = (
            row.try_get("has_plan")?,
            row.try_get("plan")?,
            row.try_get("addons")?,
            row.try_get("active")?,
        );
        insert_group(tx, migration_id, group, row.try_get("entries")?).await?;
    }
    Ok(())
}

/// One `draft_tally` row: (has_plan, plan, addons, active) and its count.
async fn insert_group(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    (has_plan, plan, addons, active): (i64, String, String, i64),
    entries: i64,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT_TALLY} VALUES ($1, $2, $3, $4, $5, $6)"
    )))
    .bind(migration_id)
    .bind(has_plan)
    .bind(plan)
    .bind(addons)
    .bind(active)
    .bind(entries)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// What the overview counts: the roster's holdings in the order of
    /// their first holder, and the draft's groups. One statement, so both
    /// halves are from the same moment.
    pub async fn overview_counts(
        &self,
        migration_id: &str,
    ) -> Result<(Vec<HoldingGroup>, Vec<TallyGroup>)> {
        let rows = sqlx::query(
            "SELECT CAST(0 AS BIGINT) AS part, old_license AS name, old_addons AS list, first_seq AS k, \
                    holders AS n \
             FROM roster_holdings WHERE migration_id = $1 \
             UNION ALL \
             SELECT CAST(1 AS BIGINT), plan, addons, has_plan * 2 + active, CAST(SUM(entries) AS BIGINT) \
             FROM draft_tally WHERE migration_id = $1 \
             GROUP BY has_plan, plan, addons, active HAVING SUM(entries) <> 0 \
             ORDER BY 1, 4",
        )
        .bind(migration_id)
        .fetch_all(&self.pool)
        .await?;
        let (mut holdings, mut tally) = (Vec::new(), Vec::new());
        for row in rows {
            let name: String = row.try_get("name")?;
            let list: Vec<String> = from_json(&row.try_get::<String, _>("list")?, "counted list")?;
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            let k: i64 = row.try_get("k")?;
            if row.try_get::<i64, _>("part")? == 0 {
                holdings.push(HoldingGroup {
                    old_license: Some(name).filter(|l| !l.is_empty()),
                    old_addons: list,
                    holders: n,
                });
            } else {
                tally.push(TallyGroup {
                    plan: (k >= 2).then_some(name),
                    addons: list,
                    active: k % 2 == 1,
                    entries: n,
                });
            }
        }
        Ok((holdings, tally))
    }
}
