//! Storage of the licence half of a migration: roster, catalogue, draft and
//! committed assignments, CSV import attempts. The rules live in
//! `ferry_domain::licensing`; this module only saves and loads.
//!
//! Large rosters and drafts are written as JSON batches (see
//! `insert_json_rows`), never one round trip per row.

use ferry_domain::licensing::{
    Assignment, Assignments, CatalogueInput, Draft, RosterUserInput, SatelliteInput,
};
use sqlx::{Any, Row, Transaction};

mod delimited;
mod import;
mod import_read;
mod json_read;

pub use import::DraftImport;
pub use import_read::attach_entries;

use crate::audit::{AuditEvent, append_all_in};
use crate::idempotency::{IdempotencyClaim, Idempotent, claim, finish_claim};
use crate::migrations::{MigrationRecord, transition_in};
use crate::{Backend, Result, Store, StoreError, now};

/// A draft to write: the new assignments, the version the writer saw
/// (`If-Match`) and, optionally, the draft as stored at that version, so
/// only the entries that differ are written.
#[derive(Debug, Clone, Copy)]
pub struct DraftWrite<'a> {
    pub expected: Option<i64>,
    pub base: Option<&'a Assignments>,
    pub assignments: &'a Assignments,
}

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

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Rows per statement of a JSON batch: each statement carries its rows as
/// one JSON text parameter (a few MB), so a million rows are ~50 round trips.
const JSON_BATCH_ROWS: usize = 20_000;

/// Inserts `rows` (JSON objects keyed by column) into `table` for one
/// migration. One text parameter per batch instead of one per cell: bound
/// parameters cost a lot per value in both drivers, while both databases
/// unpack JSON natively (`json_to_recordset` in PostgreSQL, `json_each` in
/// SQLite). `columns` are (name, PostgreSQL type) pairs; names are constants
/// of this module, never input.
async fn insert_json_rows<T: serde::Serialize>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    table: &str,
    migration_id: &str,
    columns: &[(&str, &str)],
    rows: impl IntoIterator<Item = T>,
) -> Result<()> {
    let names = columns
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match backend {
        Backend::Postgres => {
            let defs = columns
                .iter()
                .map(|(n, t)| format!("\"{n}\" {t}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sel = columns
                .iter()
                .map(|(n, _)| format!("x.\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {table} (migration_id, {names}) SELECT $1, {sel} FROM json_to_recordset($2::json) AS x({defs})"
            )
        }
        Backend::Sqlite => {
            let sel = columns
                .iter()
                .map(|(n, _)| format!("json_extract(value, '$.{n}')"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {table} (migration_id, {names}) SELECT $1, {sel} FROM json_each($2)"
            )
        }
    };
    // Each batch is serialised straight from the caller's rows into one
    // text: no intermediate `serde_json::Value` per row, which at a million
    // rows cost more memory than the data itself.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut payload = Vec::with_capacity(1 << 20);
        payload.push(b'[');
        for (i, row) in rows.by_ref().take(JSON_BATCH_ROWS).enumerate() {
            if i > 0 {
                payload.push(b',');
            }
            serde_json::to_writer(&mut payload, &row)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        payload.push(b']');
        let payload = String::from_utf8(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(migration_id)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

const ASSIGNMENT_COLUMNS: [(&str, &str); 4] = [
    ("user_id", "text"),
    ("plan", "text"),
    ("addons", "text"),
    ("username", "text"),
];

/// One draft or committed row as `insert_json_rows` writes it.
#[derive(serde::Serialize)]
struct AssignmentRow<'a> {
    user_id: &'a str,
    plan: Option<&'a str>,
    /// A JSON list inside the row's JSON: the column is text.
    addons: String,
    username: Option<&'a str>,
}

async fn insert_assignments<'a>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    table: &str,
    migration_id: &str,
    assignments: impl IntoIterator<Item = (&'a String, &'a Assignment)>,
) -> Result<()> {
    let rows = assignments
        .into_iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(user_id, a)| {
            Ok(AssignmentRow {
                user_id,
                plan: a.plan.as_deref(),
                addons: json(&a.addons)?,
                username: a.username.as_ref().map(|u| u.as_str()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if backend == Backend::Sqlite {
        return insert_json_rows(tx, backend, table, migration_id, &ASSIGNMENT_COLUMNS, rows).await;
    }
    let sql = delimited::insert_sql(table);
    for batch in rows.chunks(JSON_BATCH_ROWS) {
        match delimited::columns(batch) {
            Some([ids, plans, addons, usernames]) => {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(migration_id)
                    .bind(ids)
                    .bind(plans)
                    .bind(addons)
                    .bind(usernames)
                    .execute(&mut **tx)
                    .await?;
            }
            None => {
                let columns = &ASSIGNMENT_COLUMNS;
                insert_json_rows(tx, backend, table, migration_id, columns, batch).await?
            }
        }
    }
    Ok(())
}

/// What turns the stored draft `base` into `next`: the users whose row
/// goes (removed, emptied or changed) and the rows to write (new or
/// changed), in one walk over both sorted maps.
fn draft_diff<'a>(
    base: &'a Assignments,
    next: &'a Assignments,
) -> (Vec<&'a String>, Vec<(&'a String, &'a Assignment)>) {
    use std::cmp::Ordering;
    let (mut gone, mut written) = (Vec::new(), Vec::new());
    let mut old = base.iter().filter(|(_, a)| !a.is_empty()).peekable();
    let mut new = next.iter().filter(|(_, a)| !a.is_empty()).peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.cmp(n),
        };
        match order {
            Ordering::Less => {
                if let Some((o, _)) = old.next() {
                    gone.push(o);
                }
            }
            Ordering::Greater => {
                if let Some(row) = new.next() {
                    written.push(row);
                }
            }
            Ordering::Equal => {
                if let (Some((o, oa)), Some((n, na))) = (old.next(), new.next())
                    && oa != na
                {
                    gone.push(o);
                    written.push((n, na));
                }
            }
        }
    }
    (gone, written)
}

/// Deletes the draft rows of `users`, a JSON batch per statement.
async fn delete_users(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    migration_id: &str,
    users: &[&String],
) -> Result<()> {
    let list = match backend {
        Backend::Postgres => "SELECT json_array_elements_text($2::json)",
        Backend::Sqlite => "SELECT value FROM json_each($2)",
    };
    let sql =
        format!("DELETE FROM draft_assignments WHERE migration_id = $1 AND user_id IN ({list})");
    for chunk in users.chunks(JSON_BATCH_ROWS) {
        let payload =
            serde_json::to_string(chunk).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(migration_id)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn load_assignments(store: &Store, table: &str, migration_id: &str) -> Result<Assignments> {
    // Building the map from a list sorts once and fills the tree in bulk,
    // faster than a million single inserts.
    Ok(json_read::assignments(store, table, migration_id)
        .await?
        .into_iter()
        .collect())
}

/// Makes sure the migration has its `licensing` row (created lazily).
async fn ensure_row(tx: &mut Transaction<'static, Any>, migration_id: &str) -> Result<()> {
    sqlx::query("INSERT INTO licensing (migration_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn bump_draft_version(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    expected: Option<i64>,
) -> Result<i64> {
    ensure_row(tx, migration_id).await?;
    let current: i64 = sqlx::query("SELECT draft_version FROM licensing WHERE migration_id = $1")
        .bind(migration_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("draft_version")?;
    if let Some(expected) = expected
        && expected != current
    {
        return Err(StoreError::VersionMismatch { expected });
    }
    let done = sqlx::query(
        "UPDATE licensing SET draft_version = $1 WHERE migration_id = $2 AND draft_version = $3",
    )
    .bind(current + 1)
    .bind(migration_id)
    .bind(current)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::VersionMismatch { expected: current });
    }
    Ok(current + 1)
}

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

/// Rows written at once from which fresh planner statistics are worth it.
const ANALYZE_AFTER_ROWS: usize = 10_000;

impl Store {
    /// Refreshes PostgreSQL's statistics of `table` in the background after
    /// a bulk write. Until autovacuum gets to it (up to a minute later), a
    /// table that just grew by a million rows looks empty to the planner,
    /// which then scans it whole for every batch of the next read. SQLite
    /// plans by its indexes and needs nothing.
    fn analyze_soon(&self, table: &'static str, rows: usize) {
        if self.backend != Backend::Postgres || rows < ANALYZE_AFTER_ROWS {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let sql = format!("ANALYZE {table}");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await {
                tracing::warn!(table, error = %e, "ANALYZE after a bulk write failed");
            }
        });
    }

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
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok((users, sats))
    }

    pub async fn get_catalogue(&self, migration_id: &str) -> Result<Option<CatalogueInput>> {
        let row = sqlx::query("SELECT catalogue FROM licensing WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?;
        match row
            .map(|r| r.try_get::<Option<String>, _>("catalogue"))
            .transpose()?
            .flatten()
        {
            Some(text) => Ok(Some(from_json(&text, "catalogue")?)),
            None => Ok(None),
        }
    }

    pub async fn put_catalogue(
        &self,
        migration_id: &str,
        catalogue: &CatalogueInput,
        audit: Vec<AuditEvent>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        ensure_row(&mut tx, migration_id).await?;
        sqlx::query("UPDATE licensing SET catalogue = $1 WHERE migration_id = $2")
            .bind(json(catalogue)?)
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        append_all_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn load_draft(&self, migration_id: &str) -> Result<Draft> {
        let version = sqlx::query("SELECT draft_version FROM licensing WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get::<i64, _>("draft_version"))
            .transpose()?
            .unwrap_or(0);
        Ok(Draft {
            assignments: load_assignments(self, "draft_assignments", migration_id).await?,
            version,
        })
    }

    /// Replaces the draft if its version is still `expected` (`If-Match`);
    /// returns the new version. `audit` makes the edit's records from it.
    pub async fn save_draft(
        &self,
        migration_id: &str,
        expected: Option<i64>,
        assignments: &Assignments,
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<i64> {
        let draft = DraftWrite {
            expected,
            base: None,
            assignments,
        };
        match self
            .save_draft_once(migration_id, draft, None, |_| (0, String::new()), audit)
            .await?
        {
            IdempotencyClaim::Fresh(version) => Ok(version),
            // Only a claimed key can be a replay.
            IdempotencyClaim::Replay(_) => Err(StoreError::Corrupt("replay without a key".into())),
        }
    }

    /// [`Store::save_draft`] under an `Idempotency-Key` (the CSV import):
    /// the key is claimed and the answer `render` makes from the new version
    /// stored in the draft's transaction, so a replay never disagrees with
    /// what was applied.
    ///
    /// With `base` — the draft as stored at version `expected`, which the
    /// version check proves is still what the table holds — only the users
    /// whose entry differs are written: a re-import after fixing a few rows
    /// rewrites those rows, not a million.
    pub async fn save_draft_once(
        &self,
        migration_id: &str,
        draft: DraftWrite<'_>,
        idem: Option<Idempotent<'_>>,
        render: impl FnOnce(i64) -> (u16, String),
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<IdempotencyClaim<i64>> {
        let DraftWrite {
            expected,
            base,
            assignments,
        } = draft;
        let mut tx = self.begin().await?;
        if let Some(idem) = &idem
            && let Some(previous) = claim(&mut tx, idem).await?
        {
            return Ok(IdempotencyClaim::Replay(previous));
        }
        let version = bump_draft_version(&mut tx, migration_id, expected).await?;
        let bulk;
        match base.filter(|_| expected.is_some()) {
            Some(base) => {
                let (gone, written) = draft_diff(base, assignments);
                bulk = gone.len() + written.len();
                delete_users(&mut tx, self.backend, migration_id, &gone).await?;
                insert_assignments(
                    &mut tx,
                    self.backend,
                    "draft_assignments",
                    migration_id,
                    written,
                )
                .await?;
            }
            None => {
                bulk = assignments.len();
                sqlx::query("DELETE FROM draft_assignments WHERE migration_id = $1")
                    .bind(migration_id)
                    .execute(&mut *tx)
                    .await?;
                insert_assignments(
                    &mut tx,
                    self.backend,
                    "draft_assignments",
                    migration_id,
                    assignments,
                )
                .await?;
            }
        }
        if let Some(idem) = &idem {
            let (status, body) = render(version);
            finish_claim(&mut tx, idem, status, &body).await?;
        }
        append_all_in(&mut tx, audit(version)).await?;
        tx.commit().await?;
        self.analyze_soon("draft_assignments", bulk);
        Ok(IdempotencyClaim::Fresh(version))
    }

    pub async fn load_committed(&self, migration_id: &str) -> Result<Assignments> {
        load_assignments(self, "committed_assignments", migration_id).await
    }

    /// Commits the draft as it is at `draft_version`: the migration moves to
    /// `ready` and the draft becomes the committed assignment, atomically,
    /// with the records `audit` makes from the migration as committed.
    pub async fn commit_draft(
        &self,
        migration_id: &str,
        draft_version: i64,
        audit: impl FnOnce(&MigrationRecord) -> Vec<AuditEvent> + Send,
    ) -> Result<MigrationRecord> {
        let mut tx = self.begin().await?;
        let record = transition_in(
            &mut tx,
            migration_id,
            ferry_domain::LifecycleEvent::Commit,
            None,
        )
        .await?;
        ensure_row(&mut tx, migration_id).await?;
        // An UPDATE, not a SELECT: it checks the version and locks the row,
        // so a draft edit or import that commits meanwhile cannot slip in
        // between the check and the copy below.
        let locked = sqlx::query(
            "UPDATE licensing SET draft_version = draft_version \
             WHERE migration_id = $1 AND draft_version = $2",
        )
        .bind(migration_id)
        .bind(draft_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if locked != 1 {
            return Err(StoreError::VersionMismatch {
                expected: draft_version,
            });
        }
        sqlx::query("DELETE FROM committed_assignments WHERE migration_id = $1")
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        let copied = sqlx::query(
            "INSERT INTO committed_assignments (migration_id, user_id, plan, addons, username) \
             SELECT migration_id, user_id, plan, addons, username FROM draft_assignments WHERE migration_id = $1",
        )
        .bind(migration_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        append_all_in(&mut tx, audit(&record)).await?;
        tx.commit().await?;
        self.analyze_soon(
            "committed_assignments",
            usize::try_from(copied).unwrap_or(usize::MAX),
        );
        Ok(record)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(p: &str) -> Assignment {
        Assignment {
            plan: Some(p.to_owned()),
            ..Assignment::default()
        }
    }

    #[test]
    fn draft_diff_writes_only_what_changed() {
        let base: Assignments = [
            ("a".to_owned(), plan("Admin")),
            ("b".to_owned(), plan("Engage")),
            ("c".to_owned(), plan("Engage")),
            ("e".to_owned(), Assignment::default()),
        ]
        .into_iter()
        .collect();
        let next: Assignments = [
            ("a".to_owned(), plan("Admin")),         // same: untouched
            ("b".to_owned(), plan("Admin")),         // changed: rewritten
            ("c".to_owned(), Assignment::default()), // emptied: deleted
            ("d".to_owned(), plan("Engage")),        // new: written
        ]
        .into_iter()
        .collect();
        let (gone, written) = draft_diff(&base, &next);
        assert_eq!(gone, ["b", "c"]);
        let ids: Vec<&str> = written.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["b", "d"]);
        assert_eq!(*written[0].1, plan("Admin"));
        let (gone, written) = draft_diff(&next, &next);
        assert!(gone.is_empty() && written.is_empty(), "no change, no write");
    }
}
