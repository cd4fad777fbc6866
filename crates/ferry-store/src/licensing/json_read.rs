//! Reading large rosters and drafts back as JSON batches.
//!
//! Through `sqlx::Any` every cell of every row is converted to an
//! `AnyValue` and decoded on its own: for a million-user roster that was
//! seconds of CPU and a driver row per user in memory. Instead the database
//! folds `READ_BATCH_ROWS` rows into one JSON array text (`json_agg` in
//! PostgreSQL, `json_group_array` in SQLite), and serde decodes it straight
//! into the domain's input types. The mirror image of `insert_json_rows`.

use ferry_domain::Email;
use ferry_domain::licensing::{Assignment, RosterUserInput};
use serde::Deserialize;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, Result, Store, StoreError};

/// Rows per JSON batch: ~10 MB of text, so the batch text never dominates
/// the memory of what it decodes to.
const READ_BATCH_ROWS: i64 = 50_000;

/// A `roster_users` row as the batch query spells it.
#[derive(Deserialize)]
struct StoredUser {
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
}

impl From<StoredUser> for RosterUserInput {
    fn from(u: StoredUser) -> Self {
        RosterUserInput {
            user_id: u.user_id,
            full_name: u.full_name,
            emails: u.emails,
            group: u.user_group,
            position: u.position,
            is_admin: u.is_admin != 0,
            old_license: u.old_license,
            old_addons: u.old_addons,
            on_travel: u.on_travel != 0,
            active: u.active != 0,
            source_row: None,
        }
    }
}

/// A draft or committed row; `username` is validated again by `Email`'s
/// deserialiser, as the row-by-row read did.
#[derive(Deserialize)]
struct StoredAssignment {
    user_id: String,
    plan: Option<String>,
    addons: Vec<String>,
    username: Option<Email>,
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<Vec<T>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Users per `roster_snapshot` chunk written now (snapshots written before
/// migration 0010 have 50,000; each chunk stores its `first_seq`). Small
/// enough that the few chunks a CSV import holds decoded at once stay a
/// small part of its memory, large enough that reading a roster whole is a
/// query per 10,000 users.
pub(super) const SNAPSHOT_CHUNK_USERS: usize = 10_000;

/// Writes one chunk of the roster's snapshot (see migration 0008) in the
/// upload's transaction: the users from position `first_seq` (at most
/// `SNAPSHOT_CHUNK_USERS` of them) as a JSON list; the caller has deleted
/// the previous snapshot.
pub(super) async fn write_snapshot_chunk(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    first_seq: usize,
    users_json: String,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO roster_snapshot (migration_id, chunk, first_seq, users) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(migration_id)
    .bind((first_seq / SNAPSHOT_CHUNK_USERS) as i64)
    .bind(first_seq as i64)
    .bind(users_json)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The roster in upload order: from its snapshot, or for a roster uploaded
/// before snapshots existed, from its rows.
pub(super) async fn roster_users(
    store: &Store,
    migration_id: &str,
) -> Result<Vec<RosterUserInput>> {
    let chunks: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM roster_snapshot WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_one(&store.pool)
            .await?
            .try_get("n")?;
    if chunks == 0 {
        return roster_rows(store, migration_id).await;
    }
    let mut users = Vec::new();
    // One chunk per query: the text of a whole large roster at once would
    // double the peak of the read.
    for chunk in 0..chunks {
        let text: String =
            sqlx::query("SELECT users FROM roster_snapshot WHERE migration_id = $1 AND chunk = $2")
                .bind(migration_id)
                .bind(chunk)
                .fetch_one(&store.pool)
                .await?
                .try_get("users")?;
        users.extend(decode::<RosterUserInput>(&text, "roster snapshot")?);
    }
    Ok(users)
}

/// The roster from its rows, a `seq` range per query (`seq` is the upload
/// position, dense from 0, indexed with the migration).
async fn roster_rows(store: &Store, migration_id: &str) -> Result<Vec<RosterUserInput>> {
    let sql = match store.backend {
        Backend::Postgres => {
            "SELECT json_agg(json_build_object('user_id', user_id, 'full_name', full_name, \
             'emails', emails::json, 'user_group', user_group, 'position', position, \
             'is_admin', is_admin, 'old_license', old_license, 'old_addons', old_addons::json, \
             'on_travel', on_travel, 'active', active) ORDER BY seq)::text AS batch \
             FROM roster_users WHERE migration_id = $1 AND seq >= $2 AND seq < $3"
        }
        Backend::Sqlite => {
            "SELECT json_group_array(json_object('user_id', user_id, 'full_name', full_name, \
             'emails', json(emails), 'user_group', user_group, 'position', position, \
             'is_admin', is_admin, 'old_license', old_license, 'old_addons', json(old_addons), \
             'on_travel', on_travel, 'active', active) ORDER BY seq) AS batch \
             FROM roster_users WHERE migration_id = $1 AND seq >= $2 AND seq < $3"
        }
    };
    let end: Option<i64> =
        sqlx::query("SELECT MAX(seq) AS last FROM roster_users WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_one(&store.pool)
            .await?
            .try_get("last")?;
    let Some(end) = end else {
        return Ok(Vec::new());
    };
    let mut users = Vec::with_capacity(usize::try_from(end + 1).unwrap_or(0));
    let mut from = 0;
    while from <= end {
        let text: Option<String> = sqlx::query(sql)
            .bind(migration_id)
            .bind(from)
            .bind(from + READ_BATCH_ROWS)
            .fetch_one(&store.pool)
            .await?
            .try_get("batch")?;
        if let Some(text) = text {
            let batch: Vec<StoredUser> = decode(&text, "roster batch")?;
            users.extend(batch.into_iter().map(RosterUserInput::from));
        }
        from += READ_BATCH_ROWS;
    }
    Ok(users)
}

/// All rows of `table` (draft or committed) for one migration, in user id
/// order, a keyset page per query.
pub(super) async fn assignments(
    store: &Store,
    table: &str,
    migration_id: &str,
) -> Result<Vec<(String, Assignment)>> {
    // `table` is one of this crate's constants, never input.
    let page = format!(
        "SELECT user_id, plan, addons, username FROM {table} \
         WHERE migration_id = $1 AND user_id > $2 ORDER BY user_id LIMIT {READ_BATCH_ROWS}"
    );
    let sql = match store.backend {
        Backend::Postgres => format!(
            "SELECT json_agg(json_build_object('user_id', p.user_id, 'plan', p.plan, \
             'addons', p.addons::json, 'username', p.username) ORDER BY p.user_id)::text AS batch \
             FROM ({page}) AS p"
        ),
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_object('user_id', p.user_id, 'plan', p.plan, \
             'addons', json(p.addons), 'username', p.username) ORDER BY p.user_id) AS batch \
             FROM ({page}) AS p"
        ),
    };
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let text: Option<String> = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(migration_id)
            .bind(&after)
            .fetch_one(&store.pool)
            .await?
            .try_get("batch")?;
        let Some(text) = text else { break };
        let batch: Vec<StoredAssignment> = decode(&text, "assignment batch")?;
        let full = batch.len() as i64 == READ_BATCH_ROWS;
        match batch.last() {
            Some(last) => after.clone_from(&last.user_id),
            None => break,
        }
        out.extend(batch.into_iter().map(|r| {
            let assignment = Assignment {
                plan: r.plan,
                addons: r.addons,
                username: r.username,
            };
            (r.user_id, assignment)
        }));
        if !full {
            break;
        }
    }
    Ok(out)
}
