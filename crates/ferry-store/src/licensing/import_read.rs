//! The reads of the streamed CSV import that run beside its transaction, on
//! other pooled connections, so that the import can look up the users of
//! the next batch while its own connection is still writing the last one
//! (`ferry-http`'s `streamed.rs` pipelines the two).
//!
//! Reading outside the transaction is right because nothing it reads can
//! differ from what the transaction would see:
//! - the roster: `replace_roster` and every draft edit first lock the
//!   draft's `licensing` row (`bump_draft_version`), which the import holds
//!   until it ends, so no roster or draft change commits meanwhile (SQLite:
//!   the import holds the only write lock, and WAL readers see the last
//!   commit);
//! - the draft entries: the import only writes the entries of users whose
//!   row it has already checked. A user read here has no row yet, unless
//!   the file names the user twice, and a repeated row refuses the file
//!   whatever the entry says.

use ferry_domain::Email;
use ferry_domain::licensing::{Assignment, RosterUserInput, SourceUser, StoredUser};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, SeqAccess, Visitor};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection, Row};

use super::import::{batch_sql, decode, draft_of_r};
use super::json_read::SNAPSHOT_CHUNK_USERS;
use crate::{Backend, Result, Store, StoreError};

impl Store {
    /// The roster users with these ids (unknown ones left out), each with
    /// the draft entry as last committed.
    pub async fn import_users(&self, migration_id: &str, ids: &[&str]) -> Result<Vec<StoredUser>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The ids drive the join, one index probe per id into the roster
        // and one into the draft (a set of ids in `IN (…)` was planned as a
        // scan of the whole roster per batch on PostgreSQL). PostgreSQL gets
        // them joined by a separator no stored user id holds (control
        // characters are refused in ids), so an id from the file that
        // contains one finds nobody, as it should; SQLite as a JSON array,
        // `CROSS JOIN` keeping it the outer loop.
        let (roster, payload) = match self.backend {
            Backend::Postgres => (
                "unnest(string_to_array($2, E'\\x1f')) AS j(id) \
                 JOIN roster_users r ON r.migration_id = $1 AND r.user_id = j.id",
                ids.join("\u{1f}"),
            ),
            Backend::Sqlite => (
                "json_each($2) AS j \
                 CROSS JOIN roster_users r ON r.migration_id = $1 AND r.user_id = j.value",
                serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
        };
        let sql = batch_sql(self.backend, roster, "1 = 1");
        let mut conn = LargeRead::acquire(self).await?;
        let text: Option<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .bind(payload)
            .fetch_one(conn.get())
            .await?
            .try_get("batch")?;
        decode(text)
    }

    /// Whether the draft, as last committed, has no entry: then no stretch
    /// needs its users' entries looked up (a first import, which would
    /// otherwise probe the draft's index once per roster user for nothing).
    pub async fn import_draft_is_empty(&self, migration_id: &str) -> Result<bool> {
        let any: Option<i64> =
            sqlx::query("SELECT 1 AS one FROM draft_assignments WHERE migration_id = $1 LIMIT 1")
                .bind(migration_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("one"))
                .transpose()?;
        Ok(any.is_none())
    }

    /// The stretch of the roster that holds position `at`: one snapshot
    /// chunk (migrations 0008, 0010), decoded from the text it is stored
    /// as, which costs a fraction of building a JSON object per user in the
    /// database, plus, with `entries`, the draft entries of its users
    /// (without, every user is read as having none, unless the caller
    /// attaches [`Store::import_stretch_entries`] read beforehand). A roster
    /// stored before snapshots existed is read from its rows with their
    /// entries, a chunk's worth. Empty past the end.
    pub async fn import_stretch(
        &self,
        migration_id: &str,
        at: usize,
        entries: bool,
    ) -> Result<Vec<StoredUser>> {
        let Some((from, to)) = self.snapshot_bounds(migration_id, at).await? else {
            // Rows with their entries, a chunk's worth from `at` on: a
            // roster from before migration 0008.
            let sql = batch_sql(self.backend, "roster_users r", "r.seq >= $2 AND r.seq < $3");
            let to = at + SNAPSHOT_CHUNK_USERS;
            return decode(self.seq_range_batch(sql, migration_id, at, to).await?);
        };
        // The entries are looked up on a connection of their own while the
        // chunk is fetched and decoded here: the database probes its index
        // while this thread parses.
        let (snapshot, entries) = tokio::join!(
            async {
                let mut conn = LargeRead::acquire(self).await?;
                let text: String = sqlx::query(
                    "SELECT users FROM roster_snapshot WHERE migration_id = $1 AND first_seq = $2",
                )
                .bind(migration_id)
                .bind(from as i64)
                .fetch_one(conn.get())
                .await?
                .try_get("users")?;
                decode_stretch(&text, from)
            },
            async {
                if entries {
                    self.stretch_entries(migration_id, from, to).await
                } else {
                    Ok(Vec::new())
                }
            }
        );
        let mut users = snapshot?;
        if users.len() > to - from || (to != LAST && users.len() != to - from) {
            return Err(StoreError::Corrupt(format!(
                "roster snapshot chunk at {from} holds {} users",
                users.len()
            )));
        }
        if at - from >= users.len() {
            return Ok(Vec::new()); // past the end of the last chunk
        }
        attach_entries(&mut users, entries?);
        Ok(users)
    }

    /// The draft entries, as (position, entry), of the users of the stretch
    /// [`Store::import_stretch`] reads for `at`; none for a roster without a
    /// snapshot, whose stretches come with their entries. The import reads
    /// the next stretch's entries this way while it checks the rows of the
    /// current one.
    pub async fn import_stretch_entries(
        &self,
        migration_id: &str,
        at: usize,
    ) -> Result<Vec<(usize, Assignment)>> {
        match self.snapshot_bounds(migration_id, at).await? {
            Some((from, to)) => self.stretch_entries(migration_id, from, to).await,
            None => Ok(Vec::new()),
        }
    }

    /// Where the snapshot chunk holding `at` starts and the next one starts
    /// ([`LAST`] after the last), by an index-only read: chunks differ in
    /// size between snapshots written before and after migration 0010.
    /// `None`: the roster has no snapshot.
    async fn snapshot_bounds(
        &self,
        migration_id: &str,
        at: usize,
    ) -> Result<Option<(usize, usize)>> {
        let bounds = sqlx::query(
            "SELECT (SELECT MAX(first_seq) FROM roster_snapshot \
                     WHERE migration_id = $1 AND first_seq <= $2) AS first, \
                    (SELECT MIN(first_seq) FROM roster_snapshot \
                     WHERE migration_id = $1 AND first_seq > $2) AS next",
        )
        .bind(migration_id)
        .bind(at as i64)
        .fetch_one(&self.pool)
        .await?;
        let first: Option<i64> = bounds.try_get("first")?;
        let next: Option<i64> = bounds.try_get("next")?;
        let Some(first) = first else {
            return Ok(None);
        };
        let from =
            usize::try_from(first).map_err(|_| StoreError::Corrupt("negative first_seq".into()))?;
        let to = next.map_or(LAST, |n| usize::try_from(n).unwrap_or(LAST));
        Ok(Some((from, to)))
    }

    /// The `batch` text of `sql` over roster positions `$2..$3` of migration
    /// `$1`.
    async fn seq_range_batch(
        &self,
        sql: String,
        migration_id: &str,
        from: usize,
        to: usize,
    ) -> Result<Option<String>> {
        let mut conn = LargeRead::acquire(self).await?;
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(migration_id)
            .bind(from as i64)
            .bind(to as i64)
            .fetch_one(conn.get())
            .await?
            .try_get("batch")?)
    }

    /// The draft entries of the users at positions `from..to`, as (position,
    /// entry); one index probe per roster user (`draft_of_r`).
    async fn stretch_entries(
        &self,
        migration_id: &str,
        from: usize,
        to: usize,
    ) -> Result<Vec<(usize, Assignment)>> {
        let join = format!(
            "FROM roster_users r JOIN {} WHERE r.migration_id = $1 AND r.seq >= $2 AND r.seq < $3",
            draft_of_r(self.backend)
        );
        let sql = match self.backend {
            Backend::Postgres => format!(
                "SELECT json_agg(json_build_object('seq', r.seq, 'plan', d.plan, \
                 'addons', d.addons::json, 'username', d.username))::text AS batch {join}"
            ),
            Backend::Sqlite => format!(
                "SELECT json_group_array(json_object('seq', r.seq, 'plan', d.plan, \
                 'addons', json(d.addons), 'username', d.username)) AS batch {join}"
            ),
        };
        let Some(text) = self.seq_range_batch(sql, migration_id, from, to).await? else {
            return Ok(Vec::new());
        };
        #[derive(Deserialize)]
        struct Entry {
            seq: i64,
            plan: Option<String>,
            addons: Vec<String>,
            username: Option<Email>,
        }
        let rows: Vec<Entry> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("draft entries: {e}")))?;
        rows.into_iter()
            .map(|e| {
                let pos = usize::try_from(e.seq)
                    .map_err(|_| StoreError::Corrupt("negative roster seq".into()))?;
                let entry = Assignment {
                    plan: e.plan,
                    addons: e.addons,
                    username: e.username,
                };
                Ok((pos, entry))
            })
            .collect()
    }
}

/// The end of the last snapshot chunk: no position reaches it (and it still
/// binds as a database integer).
const LAST: usize = i64::MAX as usize;

/// Gives the users of a stretch their entries, as (position, entry) from
/// [`Store::import_stretch_entries`]; entries of other positions are left
/// out.
pub fn attach_entries(users: &mut [StoredUser], entries: Vec<(usize, Assignment)>) {
    let Some(from) = users.first().map(|u| u.pos) else {
        return;
    };
    for (pos, entry) in entries {
        if let Some(u) = pos.checked_sub(from).and_then(|i| users.get_mut(i)) {
            u.entry = Some(entry);
        }
    }
}

/// A pooled connection for a read of megabytes (a stretch, a batch), whose
/// buffers shrink back when it returns to the pool. A connection keeps the
/// largest message it ever read, and the pool hands out its idle
/// connections in turn: without this, after one large import every
/// connection of the pool would hold a stretch's worth of buffer (several
/// megabytes each) for the rest of the process's life.
struct LargeRead(PoolConnection<Any>);

impl LargeRead {
    async fn acquire(store: &Store) -> Result<Self> {
        Ok(Self(store.pool.acquire().await?))
    }

    fn get(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}

impl Drop for LargeRead {
    fn drop(&mut self) {
        self.0.shrink_buffers();
    }
}

/// The users of the snapshot chunk `text`, whose first is at `from`.
fn decode_stretch(text: &str, from: usize) -> Result<Vec<StoredUser>> {
    let mut de = serde_json::Deserializer::from_str(text);
    Stretch { from }
        .deserialize(&mut de)
        .and_then(|users| de.end().map(|()| users))
        .map_err(|e| StoreError::Corrupt(format!("roster snapshot: {e}")))
}

/// Decodes a snapshot chunk (a JSON array of `RosterUserInput`) straight
/// into checked users, one element at a time: the chunk's inputs are never
/// all held beside the users they become.
struct Stretch {
    from: usize,
}

impl<'de> DeserializeSeed<'de> for Stretch {
    type Value = Vec<StoredUser>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Stretch {
    type Value = Vec<StoredUser>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of roster users")
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut users = Vec::with_capacity(SNAPSHOT_CHUNK_USERS);
        while let Some(input) = seq.next_element::<RosterUserInput>()? {
            let user = SourceUser::checked(&input).map_err(|e| {
                A::Error::custom(format!(
                    "stored roster user '{}' fails its checks: {} errors",
                    input.user_id,
                    e.len()
                ))
            })?;
            users.push(StoredUser {
                pos: self.from + users.len(),
                user,
                entry: None,
            });
        }
        Ok(users)
    }
}
