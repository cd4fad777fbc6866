//! The delivery log: what was sent to which subscription, claimed by
//! workers one conditional `UPDATE` at a time and finished under the
//! claim's token (see the parent module).

use std::fmt;
use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::new_id;
use crate::{Page, Result, Store, now, parse_col};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed; a redelivery may be requested.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status '{s}'"))
    }
}

/// One delivery of one event to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// While pending: when it is tried (again).
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// The delivery this one repeats (a redelivery on request).
    pub redelivery_of: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
}

/// A delivery a worker has claimed: everything it needs to send it.
#[derive(Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    pub secret: String,
    /// The exact bytes to send and sign.
    pub body: String,
    /// Attempts including this one.
    pub attempts: i64,
    /// The claim token: the result is written only under it.
    pub claim: String,
}

impl fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx.
    Delivered { status_code: i64 },
    /// Not delivered; try again at `at`.
    Retry {
        status_code: Option<i64>,
        error: String,
        at: String,
    },
    /// Not delivered, and no attempt is left.
    GaveUp {
        status_code: Option<i64>,
        error: String,
    },
}

const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, e.event_type, d.status, d.attempts, \
     d.next_attempt_at, d.last_status_code, d.last_error, d.redelivery_of, d.created_at, \
     d.updated_at, d.delivered_at";

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord> {
    let status: String = row.try_get("status")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        status: parse_col(&status, "webhook_deliveries.status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        redelivery_of: row.try_get("redelivery_of")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

impl Store {
    /// One page of a subscription's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Page<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT {}",
            u64::from(limit) + 1
        );
        // Every UUID sorts below "g".
        let mut items = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(before.unwrap_or("g"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|d| d.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn get_delivery(
        &self,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id WHERE d.webhook_id = $1 AND d.id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(delivery_from_row)
            .transpose()
    }

    /// Sends the event of a delivery again, as a new delivery (due now)
    /// that names the one it repeats; the log keeps both. `None` when the
    /// subscription has no such delivery.
    pub async fn redeliver(
        &self,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<Option<DeliveryRecord>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2",
        )
        .bind(webhook_id)
        .bind(delivery_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let event_id: String = row.try_get("event_id")?;
        let id = new_id();
        let now = now();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, \
             next_attempt_at, redelivery_of, created_at, updated_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4, $4)",
        )
        .bind(&id)
        .bind(webhook_id)
        .bind(&event_id)
        .bind(&now)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_delivery(webhook_id, &id).await
    }

    /// Claims up to `limit` deliveries due at `now` for the token `claim`,
    /// leasing each until `lease_until` (then it is due again, should this
    /// worker die mid-attempt). Each claim is a conditional `UPDATE`, so
    /// concurrent workers never claim the same delivery.
    pub async fn claim_due_deliveries(
        &self,
        claim: &str,
        lease_until: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = now();
        let sql = format!(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT {limit}"
        );
        let due = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&now)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::new();
        for row in &due {
            let id: String = row.try_get("id")?;
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET claim = $1, next_attempt_at = $2, \
                 attempts = attempts + 1, updated_at = $3 \
                 WHERE id = $4 AND status = 'pending' AND next_attempt_at <= $3",
            )
            .bind(claim)
            .bind(lease_until)
            .bind(&now)
            .bind(&id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query(
                "SELECT d.id, d.webhook_id, d.event_id, d.attempts, e.event_type, e.body, \
                 w.url, w.secret FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1 AND d.claim = $2",
            )
            .bind(&id)
            .bind(claim)
            .fetch_optional(&self.pool)
            .await?;
            // Gone with its subscription meanwhile.
            let Some(row) = row else { continue };
            claimed.push(ClaimedDelivery {
                id: row.try_get("id")?,
                webhook_id: row.try_get("webhook_id")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
                body: row.try_get("body")?,
                attempts: row.try_get("attempts")?,
                claim: claim.to_owned(),
            });
        }
        Ok(claimed)
    }

    /// Records the result of an attempt of a claimed delivery. Nothing
    /// changes when the claim was lost (the lease ran out and another worker
    /// took it).
    pub async fn finish_delivery_attempt(
        &self,
        delivery: &ClaimedDelivery,
        result: &AttemptResult,
    ) -> Result<bool> {
        let now = now();
        let (status, next, code, error, delivered_at) = match result {
            AttemptResult::Delivered { status_code } => (
                DeliveryStatus::Delivered,
                None,
                Some(*status_code),
                None,
                Some(now.clone()),
            ),
            AttemptResult::Retry {
                status_code,
                error,
                at,
            } => (
                DeliveryStatus::Pending,
                Some(at.clone()),
                *status_code,
                Some(error.clone()),
                None,
            ),
            AttemptResult::GaveUp { status_code, error } => (
                DeliveryStatus::Failed,
                None,
                *status_code,
                Some(error.clone()),
                None,
            ),
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
             last_status_code = $3, last_error = $4, delivered_at = $5, claim = NULL, \
             updated_at = $6 WHERE id = $7 AND claim = $8",
        )
        .bind(status.as_str())
        .bind(next)
        .bind(code)
        .bind(error)
        .bind(delivered_at)
        .bind(&now)
        .bind(&delivery.id)
        .bind(&delivery.claim)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
