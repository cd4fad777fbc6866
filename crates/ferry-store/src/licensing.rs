//! Storage of the licence half of a migration: the roster (`roster.rs`), the
//! catalogue, draft and committed assignments (`draft.rs`), the streamed
//! CSV import (`import.rs`, `import_read.rs`) and its attempts
//! (`attempts.rs`). Here: the row writers they share. The rules live in
//! `ferry_domain::licensing`; this module only saves and loads.
//!
//! Large rosters and drafts are written as JSON batches (see
//! `insert_json_rows`), never one round trip per row.

use ferry_domain::licensing::{Assignment, Assignments};
use sqlx::{Any, Row, Transaction};

mod attempts;
mod delimited;
mod draft;
mod import;
mod import_read;
mod json_read;
mod roster;
mod tally;

pub use attempts::ImportRecord;
pub use draft::DraftWrite;
pub use import::DraftImport;
pub use import_read::attach_entries;
pub use roster::{PreparedBatch, RosterReplace, RosterReplaced, UserBatch};

use crate::{Backend, Result, Store, StoreError};

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
    let sql = json_insert_sql(backend, table, columns, false);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let payload = json_payload(rows.by_ref().take(JSON_BATCH_ROWS))?;
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(migration_id)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The statement `insert_json_rows` runs per batch. With `keep_first`, a
/// row whose key is taken is skipped, not an error (the count of rows
/// written tells the caller).
fn json_insert_sql(
    backend: Backend,
    table: &str,
    columns: &[(&str, &str)],
    keep_first: bool,
) -> String {
    let tail = if keep_first {
        // `WHERE true`: SQLite's grammar needs it before an upsert clause
        // on an `INSERT … SELECT`.
        " WHERE true ON CONFLICT DO NOTHING"
    } else {
        ""
    };
    let names = columns
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
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
                "INSERT INTO {table} (migration_id, {names}) SELECT $1, {sel} FROM json_to_recordset($2::json) AS x({defs}){tail}"
            )
        }
        Backend::Sqlite => {
            let sel = columns
                .iter()
                .map(|(n, _)| format!("json_extract(value, '$.{n}')"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {table} (migration_id, {names}) SELECT $1, {sel} FROM json_each($2){tail}"
            )
        }
    }
}

/// The values of `$2`, a JSON list of texts, as a subquery.
fn json_list(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT json_array_elements_text($2::json)",
        Backend::Sqlite => "SELECT value FROM json_each($2)",
    }
}

/// A batch of rows as one JSON text, serialised straight from the caller's
/// rows: no intermediate `serde_json::Value` per row, which at a million
/// rows cost more memory than the data itself.
fn json_payload<T: serde::Serialize>(rows: impl Iterator<Item = T>) -> Result<String> {
    let mut payload = Vec::with_capacity(1 << 20);
    payload.push(b'[');
    for (i, row) in rows.enumerate() {
        if i > 0 {
            payload.push(b',');
        }
        serde_json::to_writer(&mut payload, &row)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    }
    payload.push(b']');
    String::from_utf8(payload).map_err(|e| StoreError::Corrupt(e.to_string()))
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
    let list = json_list(backend);
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
    tally::fold_now_and_then(tx, migration_id, current + 1).await?;
    Ok(current + 1)
}

/// Rows written at once from which fresh planner statistics are worth it.
const ANALYZE_AFTER_ROWS: usize = 10_000;

impl Store {
    /// Refreshes PostgreSQL's statistics of `table` in the background after
    /// a bulk write. Until autovacuum gets to it (up to a minute later), a
    /// table that just grew by a million rows looks empty to the planner,
    /// which then scans it whole for every batch of the next read. SQLite
    /// plans by its indexes and needs nothing.
    pub(crate) fn analyze_soon(&self, table: &'static str, rows: usize) {
        if self.backend != Backend::Postgres || rows < ANALYZE_AFTER_ROWS {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.analyze_now(table, rows).await });
    }

    /// [`Store::analyze_soon`], waited for. Not an error when it fails:
    /// autovacuum does the same later.
    pub(crate) async fn analyze_now(&self, table: &'static str, rows: usize) {
        if self.backend != Backend::Postgres || rows < ANALYZE_AFTER_ROWS {
            return;
        }
        let sql = format!("ANALYZE {table}");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
        {
            tracing::warn!(table, error = %e, "ANALYZE after a bulk write failed");
        }
    }

    /// `VACUUM (ANALYZE)` of the ledger's tables (PostgreSQL), waited for:
    /// dead row versions and their index entries go, statistics are fresh.
    /// Not an error when it fails: autovacuum does the same later.
    pub(crate) async fn vacuum_ledger(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        if let Err(e) = sqlx::query("VACUUM (ANALYZE) documents, tenant_objects")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "VACUUM of the ledger failed");
        }
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
