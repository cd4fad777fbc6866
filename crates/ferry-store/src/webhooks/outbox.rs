//! The event outbox: an event is recorded inside the transaction of the
//! change it announces, with one delivery per subscription that wants it.

use ferry_domain::WebhookEvent;
use serde_json::Value;
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::new_id;
use crate::{Result, now};

/// Records `event` of `tenant` with `data` in the outbox, inside the
/// transaction of the change it announces: one event row and one delivery
/// per subscription that wants it (none: nothing is written).
pub(crate) async fn record_event_in(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    event: WebhookEvent,
    data: Value,
) -> Result<()> {
    let rows = sqlx::query("SELECT id, events FROM webhooks WHERE tenant IS NULL OR tenant = $1")
        .bind(tenant)
        .fetch_all(&mut **tx)
        .await?;
    let mut subscribers = Vec::new();
    for row in &rows {
        let events: String = row.try_get("events")?;
        if events.split(',').any(|e| e == event.as_str()) {
            subscribers.push(row.try_get::<String, _>("id")?);
        }
    }
    if subscribers.is_empty() {
        return Ok(());
    }
    let id = new_id();
    let created_at = now();
    let body = json!({
        "id": id,
        "type": event.as_str(),
        "created_at": created_at,
        "tenant": tenant,
        "data": data,
    })
    .to_string();
    sqlx::query(
        "INSERT INTO webhook_events (id, tenant, event_type, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(tenant)
    .bind(event.as_str())
    .bind(&body)
    .bind(&created_at)
    .execute(&mut **tx)
    .await?;
    for webhook_id in subscribers {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)",
        )
        .bind(new_id())
        .bind(&webhook_id)
        .bind(&id)
        .bind(&created_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
