//! Webhook subscriptions (here), the event outbox (`outbox.rs`) and the
//! delivery log (`deliveries.rs`); see migration `0006_webhooks.sql`. What
//! each change announces is built beside the change (`migrations.rs`,
//! `jobs.rs`, `documents/progress.rs`) and recorded through the outbox.
//!
//! - An event is recorded by [`record_event_in`] inside the transaction of
//!   the change it announces, so it exists exactly when the change does: a
//!   rolled-back transition sends nothing, a committed one is never lost.
//!   It is stored once (the JSON body that is signed and sent) with one
//!   delivery per matching subscription; no subscriber, no rows.
//! - Workers claim due deliveries one conditional `UPDATE` at a time
//!   ([`Store::claim_due_deliveries`]): the claim token and a lease in
//!   `next_attempt_at`; the attempt's result is written only under that
//!   token ([`Store::finish_delivery_attempt`]).

use ferry_domain::WebhookEvent;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, now, parse_col};

mod deliveries;
mod outbox;

pub use deliveries::{AttemptResult, ClaimedDelivery, DeliveryRecord, DeliveryStatus};
pub(crate) use outbox::record_event_in;

/// A subscription, without its secret (that is only shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    /// `None`: events of every tenant.
    pub tenant: Option<String>,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_by: String,
    pub created_at: String,
}

/// A subscription to create.
#[derive(Clone)]
pub struct NewWebhook {
    pub id: String,
    pub tenant: Option<String>,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret: String,
    pub created_by: String,
}

const WEBHOOK_COLUMNS: &str = "id, tenant, url, events, created_by, created_at";

fn webhook_from_row(row: &AnyRow) -> Result<WebhookRecord> {
    let events: String = row.try_get("events")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        url: row.try_get("url")?,
        events: events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(|e| parse_col(e, "webhooks.events"))
            .collect::<Result<_>>()?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The time `d` from now, in the format of [`now`] (a due time).
pub fn after_now(d: std::time::Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    (chrono::Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

impl Store {
    pub async fn insert_webhook(&self, new: &NewWebhook) -> Result<WebhookRecord> {
        let created_at = now();
        let events = new
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(
            "INSERT INTO webhooks (id, tenant, url, events, secret, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&new.id)
        .bind(new.tenant.as_deref())
        .bind(&new.url)
        .bind(&events)
        .bind(&new.secret)
        .bind(&new.created_by)
        .bind(&created_at)
        .execute(&self.pool)
        .await?;
        Ok(WebhookRecord {
            id: new.id.clone(),
            tenant: new.tenant.clone(),
            url: new.url.clone(),
            events: new.events.clone(),
            created_by: new.created_by.clone(),
            created_at,
        })
    }

    /// Every subscription, or (with `tenant`) only that tenant's.
    pub async fn list_webhooks(&self, tenant: Option<&str>) -> Result<Vec<WebhookRecord>> {
        let rows = match tenant {
            Some(t) => {
                let sql =
                    format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant = $1 ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(t)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(webhook_from_row).collect()
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(webhook_from_row)
            .transpose()
    }

    /// Deletes a subscription and its delivery log (pending deliveries are
    /// not sent any more). False when there was none.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
