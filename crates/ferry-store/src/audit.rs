//! The audit trail's storage: appends to the hash chain and reads it. What a
//! record's hash is and whether a chain is intact is decided in
//! `ferry_domain::audit`; this module only makes appends safe.
//!
//! Serialisation: an append first bumps the single-row chain head
//! (`UPDATE audit_head SET seq = seq + 1`), which in PostgreSQL holds the
//! row lock until the transaction ends, so a concurrent append waits and
//! then reads the head its predecessor wrote; SQLite transactions are
//! `BEGIN IMMEDIATE` (one writer at a time). The new record's number and
//! predecessor come from that head, and `seq` is the primary key, so even a
//! mistake here would fail an append rather than fork the chain.

use ferry_domain::audit::{
    AuditAction, AuditEntry, AuditFields, ChainBreak, ChainSummary, ChainVerifier, canonical_json,
};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Page, Result, Store, now};

/// One decision to record. The store fills in the rest in the append's
/// transaction: the actor's key name and role (from `api_keys`), the
/// migration's tenant and acting migrator, the time and the chain fields.
/// Owned, so a change's records can be built from its outcome inside the
/// change's transaction (see `Store::transition` and the other mutations
/// that take an `audit` argument).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: AuditAction,
    /// An API key id; anything that is not a key id (`cli`,
    /// `recovery-sweep`) is recorded as the actor's name without a key.
    pub actor: Option<String>,
    pub migration_id: Option<String>,
    /// A job id, a key id.
    pub subject: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEvent {
    pub fn new(action: AuditAction, actor: Option<&str>) -> Self {
        AuditEvent {
            action,
            actor: actor.map(str::to_owned),
            migration_id: None,
            subject: None,
            before: None,
            after: None,
        }
    }

    pub fn migration(mut self, id: &str) -> Self {
        self.migration_id = Some(id.to_owned());
        self
    }

    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_owned());
        self
    }

    pub fn before(mut self, v: Value) -> Self {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: Value) -> Self {
        self.after = Some(v);
        self
    }
}

/// Filters of the audit lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub migration_id: Option<String>,
    pub tenant: Option<String>,
    /// Only records after this seq (the cursor of the previous page).
    pub after: Option<i64>,
    pub limit: u32,
}

const AUDIT_COLUMNS: &str = "seq, prev_hash, hash, at, action, actor_key_id, actor_name, actor_role, \
     acting_migrator, migration_id, tenant, subject, before_json, after_json";

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        fields: AuditFields {
            at: row.try_get("at")?,
            action: row.try_get("action")?,
            actor_key_id: row.try_get("actor_key_id")?,
            actor_name: row.try_get("actor_name")?,
            actor_role: row.try_get("actor_role")?,
            acting_migrator: row.try_get("acting_migrator")?,
            migration_id: row.try_get("migration_id")?,
            tenant: row.try_get("tenant")?,
            subject: row.try_get("subject")?,
            before: row.try_get("before_json")?,
            after: row.try_get("after_json")?,
        },
    })
}

/// Appends `event` inside `tx` (the transaction of the change it records,
/// or one of its own). Call it last in the transaction: it holds the chain
/// head until the commit.
pub(crate) async fn append_in(
    tx: &mut Transaction<'static, Any>,
    event: &AuditEvent,
) -> Result<AuditEntry> {
    let mut fields = AuditFields {
        at: String::new(),
        action: event.action.as_str().to_owned(),
        migration_id: event.migration_id.clone(),
        subject: event.subject.clone(),
        before: event.before.as_ref().map(canonical_json),
        after: event.after.as_ref().map(canonical_json),
        ..AuditFields::default()
    };
    if let Some(actor) = event.actor.as_deref() {
        let key = sqlx::query("SELECT name, role FROM api_keys WHERE id = $1")
            .bind(actor)
            .fetch_optional(&mut **tx)
            .await?;
        match key {
            Some(row) => {
                fields.actor_key_id = Some(actor.to_owned());
                fields.actor_name = row.try_get("name")?;
                fields.actor_role = row.try_get("role")?;
            }
            None => fields.actor_name = Some(actor.to_owned()),
        }
    }
    if let Some(id) = event.migration_id.as_deref()
        && let Some(row) =
            sqlx::query("SELECT tenant, migrator_email FROM migrations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
    {
        fields.tenant = row.try_get("tenant")?;
        fields.acting_migrator = row.try_get("migrator_email")?;
    }
    // Take the head (and, in PostgreSQL, its lock) before reading it.
    sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    // The time is read under the lock, so it never goes back along the chain.
    fields.at = now();
    let entry = AuditEntry::seal(seq, &prev_hash, fields);
    let f = &entry.fields;
    let sql = format!(
        "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(entry.seq)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .bind(&f.at)
        .bind(&f.action)
        .bind(f.actor_key_id.as_deref())
        .bind(f.actor_name.as_deref())
        .bind(f.actor_role.as_deref())
        .bind(f.acting_migrator.as_deref())
        .bind(f.migration_id.as_deref())
        .bind(f.tenant.as_deref())
        .bind(f.subject.as_deref())
        .bind(f.before.as_deref())
        .bind(f.after.as_deref())
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&entry.hash)
        .execute(&mut **tx)
        .await?;
    Ok(entry)
}

/// Appends a change's records, in order, inside the change's transaction.
pub(crate) async fn append_all_in(
    tx: &mut Transaction<'static, Any>,
    events: Vec<AuditEvent>,
) -> Result<()> {
    for event in &events {
        append_in(tx, event).await?;
    }
    Ok(())
}

/// Records read per round trip while verifying.
const VERIFY_PAGE: i64 = 1000;

impl Store {
    /// Appends one record in a transaction of its own: for a decision that
    /// changes nothing else (a refused commit's pre-flight report) and for
    /// tests.
    pub async fn audit(&self, event: &AuditEvent) -> Result<AuditEntry> {
        let mut tx = self.begin().await?;
        let entry = append_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Records in chain order, filtered, one page at a time.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Page<AuditEntry>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1");
        let mut n = 1;
        if filter.migration_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND migration_id = ${n}"));
        }
        if filter.tenant.is_some() {
            n += 1;
            sql.push_str(&format!(" AND tenant = ${n}"));
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", n + 1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.after.unwrap_or(0));
        if let Some(m) = &filter.migration_id {
            q = q.bind(m);
        }
        if let Some(t) = &filter.tenant {
            q = q.bind(t);
        }
        let limit = i64::from(filter.limit);
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(filter.limit as usize);
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The chain head: the last record's number and hash (0 and the
    /// genesis hash before the first record).
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((head.try_get("seq")?, head.try_get("hash")?))
    }

    /// Walks the whole chain from record 1 and compares its end with the
    /// chain head. `Ok(Err(_))` names the first record that does not verify.
    pub async fn verify_audit(&self) -> Result<std::result::Result<ChainSummary, ChainBreak>> {
        // Read the head first: records appended during the walk are past it
        // and are not read (`seq <= head`), so a busy log still verifies.
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let head_seq: i64 = head.try_get("seq")?;
        let head_hash: String = head.try_get("hash")?;
        let mut verifier = ChainVerifier::new();
        let mut after = 0i64;
        loop {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(head_seq)
                .bind(VERIFY_PAGE)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                if let Err(e) = verifier.push(&entry_from_row(row)?) {
                    return Ok(Err(e));
                }
            }
        }
        Ok(verifier.finish(Some((head_seq, &head_hash))))
    }
}
