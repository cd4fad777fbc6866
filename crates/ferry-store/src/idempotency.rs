//! `Idempotency-Key` records: the first answer to a creating call is stored in
//! the same transaction as the effect, so a replay can never disagree with what
//! was actually done.

use sqlx::{Any, Row, Transaction};

use crate::{Result, Store, now};

/// The identity of one idempotent call.
#[derive(Debug, Clone, Copy)]
pub struct Idempotent<'a> {
    /// Keys are scoped per caller: two clients may pick the same key.
    pub api_key_id: &'a str,
    /// And per operation, e.g. `create_migration` or `start:<id>`.
    pub operation: &'a str,
    pub key: &'a str,
    /// SHA-256 of the request body: the same key with another body is a
    /// client bug, answered 422.
    pub request_hash: &'a str,
}

/// A stored first answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    /// 0 while the first call is still in flight.
    pub status: u16,
    pub body: String,
}

/// Outcome of an idempotent operation.
#[derive(Debug)]
pub enum IdempotencyClaim<T> {
    /// The operation ran now.
    Fresh(T),
    /// The key was used before; here is what was answered then.
    Replay(IdempotencyRecord),
}

/// Claims `idem` inside `tx`. `None`: the claim is ours, go ahead. `Some`: the
/// key was used before. `ON CONFLICT DO NOTHING` makes a concurrent first call
/// wait for the other transaction (PostgreSQL) or the write lock (SQLite), so
/// the record read afterwards is the committed one.
pub(crate) async fn claim(
    tx: &mut Transaction<'static, Any>,
    idem: &Idempotent<'_>,
) -> Result<Option<IdempotencyRecord>> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (api_key_id, operation, idem_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, 0, '', $5) ON CONFLICT DO NOTHING",
    )
    .bind(idem.api_key_id)
    .bind(idem.operation)
    .bind(idem.key)
    .bind(idem.request_hash)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys \
         WHERE api_key_id = $1 AND operation = $2 AND idem_key = $3",
    )
    .bind(idem.api_key_id)
    .bind(idem.operation)
    .bind(idem.key)
    .fetch_one(&mut **tx)
    .await?;
    record_from_row(&row).map(Some)
}

/// Stores the answer of a claimed key, in the transaction of the effect.
pub(crate) async fn finish_claim(
    tx: &mut Transaction<'static, Any>,
    idem: &Idempotent<'_>,
    status: u16,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, body = $2 \
         WHERE api_key_id = $3 AND operation = $4 AND idem_key = $5",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(idem.api_key_id)
    .bind(idem.operation)
    .bind(idem.key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The record of an earlier call with this key, if any (read only): lets
    /// a streamed upload be answered from the record before it is parsed.
    pub async fn idempotency_record(
        &self,
        api_key_id: &str,
        operation: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT request_hash, status, body FROM idempotency_keys \
             WHERE api_key_id = $1 AND operation = $2 AND idem_key = $3",
        )
        .bind(api_key_id)
        .bind(operation)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| record_from_row(&r)).transpose()
    }
}

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<IdempotencyRecord> {
    let status: i64 = row.try_get("status")?;
    Ok(IdempotencyRecord {
        request_hash: row.try_get("request_hash")?,
        status: u16::try_from(status).unwrap_or(0),
        body: row.try_get("body")?,
    })
}
