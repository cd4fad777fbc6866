//! API keys. Only a SHA-256 of each key is stored: keys are 256-bit random
//! secrets, so a fast hash is enough (no dictionary to guard against) and a
//! lookup by hash is one indexed query per request.

use ferry_domain::Role;
use sqlx::Row;
use sqlx::any::AnyRow;

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
    pub async fn insert_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        let created_at = now();
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
        .execute(&self.pool)
        .await?;
        Ok(ApiKeyRecord {
            id: key.id.clone(),
            name: key.name.clone(),
            role: key.role,
            tenant: key.tenant.clone(),
            created_at,
            revoked_at: None,
        })
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
        crate::audit::record_first_key_in(&mut tx, key).await?;
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

    /// Revokes a key; returns false when no active key has that id.
    pub async fn revoke_key(&self, id: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now())
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
