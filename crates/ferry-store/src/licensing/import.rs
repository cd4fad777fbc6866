//! The store's side of the streamed CSV import: one transaction that the
//! import drives batch by batch (`ferry_domain::licensing::ImportCheck`
//! holds the rules). Each batch's users are read beside the transaction
//! (`import_read.rs`), the batch's changes are written into the draft at
//! once, and after the last batch the repeated-user-name rule reads the few
//! names it suspects (`name_holders`). A
//! rejected file rolls the transaction back (dropping a [`DraftImport`]
//! does), so nothing of it is ever seen; a valid one commits with the
//! draft's new version and, under an `Idempotency-Key`, the answer.
//!
//! While an import runs, the draft's `licensing` row is locked (PostgreSQL)
//! or the database is (SQLite, one writer at a time): a concurrent edit of the
//! same draft waits, then finds the version moved (412).

use ferry_domain::Email;
use ferry_domain::licensing::{
    Assignment, DraftChange, NameHolder, RosterUserInput, SourceUser, StoredUser,
};
use serde::Deserialize;
use sqlx::{Any, Row, Transaction};

use super::{bump_draft_version, delete_users, insert_assignments, tally};
use crate::audit::{AuditEvent, append_all_in};
use crate::idempotency::{IdempotencyClaim, Idempotent, claim, finish_claim};
use crate::{Backend, Result, Store, StoreError};

/// An import in progress: its transaction and the version it will commit.
pub struct DraftImport {
    tx: Transaction<'static, Any>,
    backend: Backend,
    migration_id: String,
    version: i64,
    written: usize,
}

/// A roster row with the user's draft entry, as the batch query spells it.
#[derive(Deserialize)]
struct ImportRow {
    seq: i64,
    user_id: String,
    full_name: String,
    emails: Vec<String>,
    user_group: String,
    position: String,
    is_admin: i64,
    old_license: Option<String>,
    old_addons: Vec<String>,
    on_travel: i64,
    active: i64,
    /// Whether the user has a draft entry (the three fields below).
    entry: bool,
    plan: Option<String>,
    addons: Option<Vec<String>>,
    username: Option<Email>,
}

impl ImportRow {
    fn into_stored(self) -> Result<StoredUser> {
        let input = RosterUserInput {
            user_id: self.user_id,
            full_name: self.full_name,
            emails: self.emails,
            group: self.user_group,
            position: self.position,
            is_admin: self.is_admin != 0,
            old_license: self.old_license,
            old_addons: self.old_addons,
            on_travel: self.on_travel != 0,
            active: self.active != 0,
            source_row: None,
        };
        let user = SourceUser::checked(&input).map_err(|e| {
            StoreError::Corrupt(format!(
                "stored roster user '{}' fails its checks: {} errors",
                input.user_id,
                e.len()
            ))
        })?;
        let entry = self.entry.then(|| Assignment {
            plan: self.plan,
            addons: self.addons.unwrap_or_default(),
            username: self.username,
        });
        Ok(StoredUser {
            pos: usize::try_from(self.seq)
                .map_err(|_| StoreError::Corrupt("negative roster seq".into()))?,
            user,
            entry,
        })
    }
}

/// The JSON batch of roster rows joined with their draft entries; `roster`
/// is the `FROM` item naming `roster_users r`, `filter` SQL over `r`, `$1`
/// the migration (constants of this module only).
pub(super) fn batch_sql(backend: Backend, roster: &str, filter: &str) -> String {
    let from = format!(
        "FROM {roster} LEFT JOIN {} WHERE r.migration_id = $1 AND {filter}",
        draft_of_r(backend)
    );
    match backend {
        Backend::Postgres => format!(
            "SELECT json_agg(json_build_object('seq', r.seq, 'user_id', r.user_id, \
             'full_name', r.full_name, 'emails', r.emails::json, 'user_group', r.user_group, \
             'position', r.position, 'is_admin', r.is_admin, 'old_license', r.old_license, \
             'old_addons', r.old_addons::json, 'on_travel', r.on_travel, 'active', r.active, \
             'entry', d.user_id IS NOT NULL, 'plan', d.plan, 'addons', d.addons::json, \
             'username', d.username) ORDER BY r.seq)::text AS batch {from}"
        ),
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_object('seq', r.seq, 'user_id', r.user_id, \
             'full_name', r.full_name, 'emails', json(r.emails), 'user_group', r.user_group, \
             'position', r.position, 'is_admin', r.is_admin, 'old_license', r.old_license, \
             'old_addons', json(r.old_addons), 'on_travel', r.on_travel, 'active', r.active, \
             'entry', json(CASE WHEN d.user_id IS NULL THEN 'false' ELSE 'true' END), \
             'plan', d.plan, 'addons', json(d.addons), 'username', d.username) ORDER BY r.seq) \
             AS batch {from}"
        ),
    }
}

/// The draft entry of roster row `r`, as a join. On PostgreSQL a lateral
/// subquery fenced by `OFFSET 0`, so that every row is one index probe:
/// during an import the draft grows by up to a million uncommitted rows the
/// planner's statistics know nothing of, and a plain join was planned as a
/// scan of the whole draft per batch (tens of seconds for a million rows).
/// SQLite always joins by index probes.
pub(super) fn draft_of_r(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "LATERAL (SELECT x.user_id, x.plan, x.addons, x.username FROM draft_assignments x \
             WHERE x.migration_id = r.migration_id AND x.user_id = r.user_id OFFSET 0) d ON true"
        }
        Backend::Sqlite => {
            "draft_assignments d ON d.migration_id = r.migration_id AND d.user_id = r.user_id"
        }
    }
}

pub(super) fn decode(text: Option<String>) -> Result<Vec<StoredUser>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let rows: Vec<ImportRow> = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("roster batch: {e}")))?;
    rows.into_iter().map(ImportRow::into_stored).collect()
}

impl Store {
    /// Starts an import into the draft of `migration_id`. With `expected`
    /// (the client's `If-Match`), a draft at another version is
    /// [`StoreError::VersionMismatch`]; the draft's version moves by one when
    /// the import commits.
    pub async fn begin_draft_import(
        &self,
        migration_id: &str,
        expected: Option<i64>,
    ) -> Result<DraftImport> {
        let mut tx = self.begin().await?;
        let version = bump_draft_version(&mut tx, migration_id, expected).await?;
        Ok(DraftImport {
            tx,
            backend: self.backend,
            migration_id: migration_id.to_owned(),
            version,
            written: 0,
        })
    }
}

impl DraftImport {
    /// The draft version the import commits as.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Roster users at positions `from..from + limit`, in roster order,
    /// with their draft entries.
    pub async fn roster_page(&mut self, from: usize, limit: usize) -> Result<Vec<StoredUser>> {
        let text: Option<String> = sqlx::query(sqlx::AssertSqlSafe(batch_sql(
            self.backend,
            "roster_users r",
            "r.seq >= $2 AND r.seq < $3",
        )))
        .bind(&self.migration_id)
        .bind(from as i64)
        .bind((from + limit) as i64)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("batch")?;
        decode(text)
    }

    /// Up to `limit` inactive roster users from position `from` on, in
    /// roster order, with their draft entries (index `roster_users_inactive`).
    pub async fn inactive_page(&mut self, from: usize, limit: usize) -> Result<Vec<StoredUser>> {
        let filter = format!(
            "r.seq IN (SELECT seq FROM roster_users WHERE migration_id = $1 AND active = 0 \
             AND seq >= $2 ORDER BY seq LIMIT {limit})"
        );
        let text: Option<String> = sqlx::query(sqlx::AssertSqlSafe(batch_sql(
            self.backend,
            "roster_users r",
            &filter,
        )))
        .bind(&self.migration_id)
        .bind(from as i64)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("batch")?;
        decode(text)
    }

    /// Users in the roster, and how many of them are active.
    pub async fn roster_size(&mut self) -> Result<(usize, usize)> {
        // One pass over the roster for both counts.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN active = 1 THEN 1 ELSE 0 END), 0) \
             AS active FROM roster_users WHERE migration_id = $1",
        )
        .bind(&self.migration_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Ok((count(row.try_get("n")?), count(row.try_get("active")?)))
    }

    /// Applies a batch's changes to the draft: old entries deleted, new
    /// ones written, a statement or two per batch.
    pub async fn write(&mut self, changes: &[DraftChange]) -> Result<()> {
        let gone: Vec<&String> = changes
            .iter()
            .filter(|c| c.before.is_some())
            .map(|c| &c.user_id)
            .collect();
        if !gone.is_empty() {
            delete_users(&mut self.tx, self.backend, &self.migration_id, &gone).await?;
        }
        let rows: Vec<(&String, &Assignment)> = changes
            .iter()
            .filter_map(|c| c.after.as_ref().map(|a| (&c.user_id, a)))
            .collect();
        if !rows.is_empty() {
            insert_assignments(
                &mut self.tx,
                self.backend,
                "draft_assignments",
                &self.migration_id,
                rows,
            )
            .await?;
        }
        // The overview's counts move with the rows, counted here from the
        // changes themselves: a query per batch, whatever its size.
        let mut delta = tally::Delta::default();
        for c in changes {
            if let Some(before) = &c.before {
                delta.add(before, c.active, -1)?;
            }
            if let Some(after) = &c.after {
                delta.add(after, c.active, 1)?;
            }
        }
        delta.write(&mut self.tx, &self.migration_id).await?;
        self.written += changes.len();
        Ok(())
    }

    /// The entries of the draft, as this transaction has it now, of the
    /// roster users at `positions` that have a user name (the domain's
    /// `ImportCheck::name_candidates`: usually none), a page per query.
    pub async fn name_holders(&mut self, positions: &[usize]) -> Result<Vec<NameHolder>> {
        // The positions drive the join, as the ids do in `import_users`.
        let list = match self.backend {
            Backend::Postgres => {
                "unnest(string_to_array($2, ',')::bigint[]) AS j(seq) \
                 JOIN roster_users r ON r.migration_id = $1 AND r.seq = j.seq"
            }
            Backend::Sqlite => {
                "json_each($2) AS j \
                 CROSS JOIN roster_users r ON r.migration_id = $1 AND r.seq = j.value"
            }
        };
        let sql = format!(
            "SELECT r.seq AS seq, r.user_id AS user_id, d.username AS username \
             FROM {list} JOIN {} WHERE d.username IS NOT NULL",
            draft_of_r(self.backend)
        );
        let mut out = Vec::new();
        for page in positions.chunks(10_000) {
            let payload = match self.backend {
                Backend::Postgres => page
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                Backend::Sqlite => {
                    serde_json::to_string(page).map_err(|e| StoreError::Corrupt(e.to_string()))?
                }
            };
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&self.migration_id)
                .bind(payload)
                .fetch_all(&mut *self.tx)
                .await?;
            for r in rows {
                let seq: i64 = r.try_get("seq")?;
                let name: String = r.try_get("username")?;
                out.push(NameHolder {
                    pos: usize::try_from(seq)
                        .map_err(|_| StoreError::Corrupt("negative roster seq".into()))?,
                    user_id: r.try_get("user_id")?,
                    username: Email::parse(&name).map_err(|e| {
                        StoreError::Corrupt(format!("stored user name: {}", e.message))
                    })?,
                });
            }
        }
        Ok(out)
    }

    /// Ends the import without a trace.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Commits the import. Under an `Idempotency-Key` the key is claimed
    /// here, with the answer `render` makes from the new version; a key a
    /// concurrent request claimed first gives its answer back and this
    /// import is rolled back. The records `audit` makes from the new
    /// version are appended in the import's transaction.
    pub async fn commit(
        mut self,
        store: &Store,
        idem: Option<Idempotent<'_>>,
        render: impl FnOnce(i64) -> (u16, String),
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<IdempotencyClaim<i64>> {
        if let Some(idem) = &idem {
            if let Some(previous) = claim(&mut self.tx, idem).await? {
                return Ok(IdempotencyClaim::Replay(previous));
            }
            let (status, body) = render(self.version);
            finish_claim(&mut self.tx, idem, status, &body).await?;
        }
        append_all_in(&mut self.tx, audit(self.version)).await?;
        self.tx.commit().await?;
        store.analyze_soon("draft_assignments", self.written);
        Ok(IdempotencyClaim::Fresh(self.version))
    }
}
