//! API keys. Only a SHA-256 of each key is stored: keys are 256-bit random
//! secrets, so a fast hash is enough (no dictionary to guard against) and a
//! lookup by hash is one indexed query per request.

use ferry_domain::Role;
use ferry_domain::audit::AuditAction;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEvent, append_all_in, append_in};
use crate::{Result, Store, now, parse_col};

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// When set, the key only sees this tenant's migrations.
    pub tenant: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub key_hash: String,
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord> {
    let role: String = row.try_get("role")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: parse_col(&role, "api_keys.role")?,
        tenant: row.try_get("tenant")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const KEY_COLUMNS: &str = "id, name, role, tenant, created_at, revoked_at";

impl Store {
    /// Inserts a key; `audit` makes its records from the stored key, in the
    /// insert's transaction.
    pub async fn insert_key(
        &self,
        key: &NewApiKey,
        audit: impl FnOnce(&ApiKeyRecord) -> Vec<AuditEvent> + Send,
    ) -> Result<ApiKeyRecord> {
        let created_at = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, name, role, tenant, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(key.tenant.as_deref())
        .bind(&key.key_hash)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        let record = ApiKeyRecord {
            id: key.id.clone(),
            name: key.name.clone(),
            role: key.role,
            tenant: key.tenant.clone(),
            created_at,
            revoked_at: None,
        };
        append_all_in(&mut tx, audit(&record)).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Inserts `key` only if no key exists yet: the bootstrap admin key of a
    /// first start. Returns whether it was inserted. Two processes starting at
    /// the same instant on an empty PostgreSQL database may each create one;
    /// both are printed and both are valid admin keys, which is harmless.
    pub async fn insert_first_key(&self, key: &NewApiKey) -> Result<bool> {
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if count > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO api_keys (id, name, role, tenant, key_hash, created_at) \
             VALUES ($1, $2, $3, NULL, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.key_hash)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        record_first_key_in(&mut tx, key).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The active key with this hash, if any.
    pub async fn find_active_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    /// Revokes a key; returns false when no active key has that id. The
    /// `audit` records are appended only when a key was revoked, in the
    /// revocation's transaction.
    pub async fn revoke_key(&self, id: &str, audit: Vec<AuditEvent>) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_all_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The records of key changes, made by whoever changes a key (the API,
/// the CLI, a first start).
impl AuditEvent {
    /// A key was created (by the API or `ferry keys create`).
    pub fn key_created(actor: Option<&str>, key: &ApiKeyRecord) -> Self {
        AuditEvent::new(AuditAction::KeyCreated, actor)
            .subject(&key.id)
            .after(json!({
                "name": key.name,
                "role": key.role.as_str(),
                "tenant": key.tenant,
            }))
    }

    /// A key was revoked.
    pub fn key_revoked(actor: Option<&str>, key_id: &str) -> Self {
        AuditEvent::new(AuditAction::KeyRevoked, actor)
            .subject(key_id)
            .before(json!({"revoked": false}))
            .after(json!({"revoked": true}))
    }
}

/// The bootstrap admin key of a first start, in its insert's transaction.
pub(crate) async fn record_first_key_in(
    tx: &mut Transaction<'static, Any>,
    key: &NewApiKey,
) -> Result<()> {
    let event = AuditEvent::new(AuditAction::KeyCreated, Some("bootstrap"))
        .subject(&key.id)
        .after(json!({"name": key.name, "role": key.role.as_str(), "tenant": key.tenant}));
    append_in(tx, &event).await?;
    Ok(())
}
