//! The roster: the source's users and satellites, replaced whole by an
//! upload streamed a batch at a time (with the draft entries of users no
//! longer in it dropped), and read back as the validated inputs. Nothing
//! here holds the whole roster: duplicate ids are found by the table's key.

use std::collections::HashMap;

use ferry_domain::licensing::{
    Assignments, RosterUserInput, RowError, SatelliteInput, duplicate_user_id,
};
use sqlx::{Any, Row, Transaction};

use super::json_read::SNAPSHOT_CHUNK_USERS;
use super::{
    bump_draft_version, insert_assignments, json, json_insert_sql, json_list, json_payload,
    json_read, tally,
};
use crate::audit::{AuditEvent, append_all_in};
use crate::{Backend, Result, Store, StoreError};

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

/// Checked users of a streamed roster upload, in upload order.
#[derive(Debug, Default)]
pub struct UserBatch {
    /// As they are stored (checked and normalised).
    pub users: Vec<RosterUserInput>,
    /// (CSV row, position in the upload) of each, to name it in errors.
    pub origins: Vec<(Option<u64>, usize)>,
    /// The roster position (`seq`) of the first: the users of the batches
    /// before it.
    pub first_seq: usize,
}

/// A batch as the texts its statements carry, made on the caller's
/// (blocking) thread by [`UserBatch::prepare`], so the task holding the
/// transaction only waits on the database.
pub struct PreparedBatch {
    first_seq: usize,
    rows: String,
    snapshot: String,
    ids: Vec<String>,
    origins: Vec<(Option<u64>, usize)>,
    active: usize,
}

impl UserBatch {
    pub fn prepare(self) -> Result<PreparedBatch> {
        let base = self.first_seq;
        let rows = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                Ok(RosterRow {
                    seq: (base + i) as i64,
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
        Ok(PreparedBatch {
            first_seq: base,
            rows: json_payload(rows.into_iter())?,
            snapshot: json(&self.users)?,
            active: self.users.iter().filter(|u| u.active).count(),
            ids: self.users.into_iter().map(|u| u.user_id).collect(),
            origins: self.origins,
        })
    }
}

/// A roster being replaced: one transaction that takes the users a batch
/// at a time (`write`) and ends with `finish`. The draft's `licensing` row
/// is locked from the start, as every draft edit locks it: an import in
/// progress (which reads the roster beside its transaction, see
/// `import_read`) thus ends before the roster goes.
pub struct RosterReplace {
    tx: Transaction<'static, Any>,
    backend: Backend,
    migration_id: String,
    version: i64,
    users_before: u64,
    next_seq: usize,
    active: usize,
    /// Where upload positions and rows stopped moving with `seq` (a row
    /// skipped as invalid): (first seq, row − seq, position − seq). A few
    /// entries, so the first of two equal ids can be named without keeping
    /// a row number per user.
    runs: Vec<(usize, Option<i64>, i64)>,
    duplicates: Vec<RowError>,
}

/// A roster that replaced the previous one.
#[derive(Debug, Clone)]
pub struct RosterReplaced {
    pub draft_version: i64,
    /// See `Store::roster_generation`.
    pub generation: i64,
    pub users: usize,
    pub active_users: usize,
    pub satellites: usize,
    pub users_before: u64,
    /// Users whose draft entry went with them.
    pub dropped: Vec<String>,
}

impl Store {
    /// Starts replacing the migration's roster (see [`RosterReplace`]).
    pub async fn begin_roster_replace(&self, migration_id: &str) -> Result<RosterReplace> {
        let mut tx = self.begin().await?;
        let version = bump_draft_version(&mut tx, migration_id, None).await?;
        let users_before: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM roster_users WHERE migration_id = $1")
                .bind(migration_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        for table in ["roster_users", "roster_snapshot"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE migration_id = $1"
            )))
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        }
        Ok(RosterReplace {
            tx,
            backend: self.backend,
            migration_id: migration_id.to_owned(),
            version,
            users_before: u64::try_from(users_before).unwrap_or(0),
            next_seq: 0,
            active: 0,
            runs: Vec::new(),
            duplicates: Vec::new(),
        })
    }

    /// Replaces the roster with `users` (already checked) and `satellites`
    /// and the draft with `draft`, in one go: for tests and tools that have
    /// them in memory.
    pub async fn replace_roster(
        &self,
        migration_id: &str,
        users: &[RosterUserInput],
        satellites: &[SatelliteInput],
        draft: &Assignments,
        audit: impl FnOnce(&RosterReplaced) -> Vec<AuditEvent> + Send,
    ) -> Result<RosterReplaced> {
        let mut replace = self.begin_roster_replace(migration_id).await?;
        for (k, part) in users.chunks(SNAPSHOT_CHUNK_USERS).enumerate() {
            let first = k * SNAPSHOT_CHUNK_USERS;
            let batch = UserBatch {
                users: part.to_vec(),
                origins: (first..first + part.len()).map(|i| (None, i)).collect(),
                first_seq: first,
            };
            replace.write(batch.prepare()?).await?;
        }
        replace
            .finish(self, Some(satellites), Some(draft), Vec::new(), audit)
            .await?
            .map_err(|e| StoreError::Corrupt(format!("{} invalid roster rows", e.len())))
    }
}

impl Store {
    /// Replaces only the satellites (checked); the users and the draft stay.
    /// The roster's generation moves, as with any roster change.
    pub async fn replace_satellites(
        &self,
        migration_id: &str,
        satellites: &[SatelliteInput],
        audit: impl FnOnce(&RosterReplaced) -> Vec<AuditEvent> + Send,
    ) -> Result<RosterReplaced> {
        let mut tx = self.begin().await?;
        let version = bump_draft_version(&mut tx, migration_id, None).await?;
        write_satellites(&mut tx, migration_id, satellites).await?;
        sqlx::query(
            "UPDATE licensing SET roster_loaded = roster_loaded + 1 WHERE migration_id = $1",
        )
        .bind(migration_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT roster_loaded, \
             (SELECT COUNT(*) FROM roster_users u WHERE u.migration_id = $1) AS users, \
             (SELECT COUNT(*) FROM roster_users u WHERE u.migration_id = $1 AND u.active <> 0) \
               AS active \
             FROM licensing WHERE migration_id = $1",
        )
        .bind(migration_id)
        .fetch_one(&mut *tx)
        .await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        let users = count(row.try_get("users")?);
        let done = RosterReplaced {
            draft_version: version,
            generation: row.try_get("roster_loaded")?,
            users,
            active_users: count(row.try_get("active")?),
            satellites: satellites.len(),
            users_before: users as u64,
            dropped: Vec::new(),
        };
        append_all_in(&mut tx, audit(&done)).await?;
        tx.commit().await?;
        Ok(done)
    }
}

async fn write_satellites(
    tx: &mut Transaction<'static, Any>,
    migration_id: &str,
    satellites: &[SatelliteInput],
) -> Result<()> {
    sqlx::query("DELETE FROM roster_satellites WHERE migration_id = $1")
        .bind(migration_id)
        .execute(&mut **tx)
        .await?;
    for s in satellites {
        sqlx::query(
            "INSERT INTO roster_satellites (migration_id, name, active) VALUES ($1, $2, $3)",
        )
        .bind(migration_id)
        .bind(s.name.as_str())
        .bind(i64::from(s.active))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl RosterReplace {
    /// Writes a batch (and its snapshot chunk). A user whose id an earlier
    /// one has is not written; it is reported by `finish`.
    pub async fn write(&mut self, batch: PreparedBatch) -> Result<()> {
        let base = self.next_seq;
        if batch.first_seq != base {
            return Err(StoreError::Corrupt(format!(
                "roster batch from {} after {base} users",
                batch.first_seq
            )));
        }
        for (i, (row, pos)) in batch.origins.iter().enumerate() {
            let seq = (base + i) as i64;
            let run = (row.map(|r| r as i64 - seq), *pos as i64 - seq);
            if self.runs.last().is_none_or(|l| (l.1, l.2) != run) {
                self.runs.push((base + i, run.0, run.1));
            }
        }
        let sql = json_insert_sql(self.backend, "roster_users", &ROSTER_COLUMNS, true);
        let written = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.migration_id)
            .bind(batch.rows)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if written < batch.ids.len() as u64 {
            self.name_duplicates(base, &batch.ids, &batch.origins)
                .await?;
        }
        json_read::write_snapshot_chunk(&mut self.tx, &self.migration_id, base, batch.snapshot)
            .await?;
        self.active += batch.active;
        self.next_seq += batch.ids.len();
        Ok(())
    }

    /// The users of a batch that were not written: each id's stored row is
    /// an earlier user's.
    async fn name_duplicates(
        &mut self,
        base: usize,
        ids: &[String],
        origins: &[(Option<u64>, usize)],
    ) -> Result<()> {
        let list = json_list(self.backend);
        let stored: HashMap<String, i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT user_id, seq FROM roster_users WHERE migration_id = $1 AND user_id IN ({list})"
        )))
        .bind(&self.migration_id)
        .bind(json(&ids)?)
        .fetch_all(&mut *self.tx)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("seq")?)))
        .collect::<Result<_>>()?;
        for (i, id) in ids.iter().enumerate() {
            let Some(&first) = stored.get(id) else {
                continue;
            };
            if first != (base + i) as i64 {
                let first = usize::try_from(first).unwrap_or(0);
                self.duplicates
                    .push(duplicate_user_id(id, origins[i], self.origin(first)));
            }
        }
        Ok(())
    }

    /// (CSV row, upload position) of the user written at `seq`.
    fn origin(&self, seq: usize) -> (Option<u64>, usize) {
        let at = self.runs.partition_point(|r| r.0 <= seq).saturating_sub(1);
        let (_, row, pos) = self.runs.get(at).copied().unwrap_or((0, None, 0));
        let seq = seq as i64;
        (
            row.and_then(|d| u64::try_from(seq + d).ok()),
            usize::try_from(seq + pos).unwrap_or(0),
        )
    }

    /// Ends the upload. With `errors` (the rows the caller refused) or a
    /// duplicate id, nothing changes and every error comes back, in upload
    /// order. Otherwise: `satellites` replace the old ones (`None` keeps
    /// them), the draft becomes `draft` or (`None`) loses the entries of
    /// users no longer in the roster, the overview's counts are redone and
    /// the records `audit` makes are appended; one commit.
    pub async fn finish(
        mut self,
        store: &Store,
        satellites: Option<&[SatelliteInput]>,
        draft: Option<&Assignments>,
        mut errors: Vec<RowError>,
        audit: impl FnOnce(&RosterReplaced) -> Vec<AuditEvent> + Send,
    ) -> Result<std::result::Result<RosterReplaced, Vec<RowError>>> {
        if !errors.is_empty() || !self.duplicates.is_empty() {
            errors.append(&mut self.duplicates);
            // Rows first, in order; JSON paths (no row) after, as found.
            errors.sort_by_key(|e| e.row.unwrap_or(u64::MAX));
            self.tx.rollback().await?;
            return Ok(Err(errors));
        }
        let (tx, id) = (&mut self.tx, self.migration_id.as_str());
        if let Some(satellites) = satellites {
            write_satellites(tx, id, satellites).await?;
        }
        let mut dropped: Vec<String> = match draft {
            Some(draft) => {
                sqlx::query("DELETE FROM draft_assignments WHERE migration_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                insert_assignments(tx, self.backend, "draft_assignments", id, draft).await?;
                Vec::new()
            }
            None => sqlx::query(
                "DELETE FROM draft_assignments WHERE migration_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM roster_users r WHERE r.migration_id = draft_assignments.migration_id \
                  AND r.user_id = draft_assignments.user_id) RETURNING user_id",
            )
            .bind(id)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|r| r.try_get("user_id"))
            .collect::<std::result::Result<_, _>>()?,
        };
        dropped.sort_unstable();
        tally::recount_roster(tx, id).await?;
        tally::recount_draft(tx, id).await?;
        // A generation, not a flag: API processes cache the validated roster
        // per (migration, generation) — see `roster_generation`.
        sqlx::query(
            "UPDATE licensing SET roster_loaded = roster_loaded + 1 WHERE migration_id = $1",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        let row = sqlx::query(
            "SELECT roster_loaded, \
             (SELECT COUNT(*) FROM roster_satellites s WHERE s.migration_id = $1) AS satellites \
             FROM licensing WHERE migration_id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let done = RosterReplaced {
            draft_version: self.version,
            generation: row.try_get("roster_loaded")?,
            users: self.next_seq,
            active_users: self.active,
            satellites: usize::try_from(row.try_get::<i64, _>("satellites")?).unwrap_or(0),
            users_before: self.users_before,
            dropped,
        };
        append_all_in(tx, audit(&done)).await?;
        self.tx.commit().await?;
        store.analyze_soon("roster_users", done.users);
        Ok(Ok(done))
    }
}

impl Store {
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
