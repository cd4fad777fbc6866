//! `/v1/webhooks`: signed event deliveries to subscribers' URLs (admin
//! keys; a tenant-limited admin key manages its tenant's subscriptions
//! only). Events are recorded by the store in the transaction of the change
//! they announce and sent by workers (`ferry-worker/src/webhooks.rs`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use ferry_domain::webhook::{WebhookSecret, WebhookUrl};
use ferry_domain::{FieldError, Permission, TenantSlug, WebhookEvent};
use ferry_store::{DeliveryRecord, NewWebhook, WebhookRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{json_body, parse_id};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookInput {
    /// Where deliveries are POSTed.
    #[schema(value_type = WebhookUrl)]
    pub url: String,
    /// The events to deliver (at least one; repeats are ignored).
    #[schema(value_type = Vec<WebhookEvent>, min_items = 1)]
    pub events: Vec<String>,
    /// The signing secret; left out, one is generated. Either way it is
    /// shown in this answer only.
    #[schema(value_type = Option<WebhookSecret>)]
    pub secret: Option<String>,
    /// Only this tenant's events; left out, every tenant's (a
    /// tenant-limited key: its own tenant, always).
    #[schema(value_type = Option<TenantSlug>)]
    pub tenant: Option<String>,
}

/// A webhook subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(format = Uuid)]
    pub id: String,
    /// Only this tenant's events; absent: every tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// The API key that created it.
    #[schema(format = Uuid)]
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&WebhookRecord> for WebhookView {
    fn from(w: &WebhookRecord) -> Self {
        Self {
            id: w.id.clone(),
            tenant: w.tenant.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            created_by: w.created_by.clone(),
            created_at: w.created_at.clone(),
        }
    }
}

/// A new subscription with its signing secret, which is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of the `Ferry-Signature` header.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusView {
    /// Not delivered yet; tried (again) at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed; `POST …/redeliver` sends it again.
    Failed,
}

/// One delivery of one event to the subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `Ferry-Delivery` header.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub webhook_id: String,
    /// The event's `id` in the body; the same for every delivery of it.
    #[schema(format = Uuid)]
    pub event_id: String,
    pub event: WebhookEvent,
    pub status: DeliveryStatusView,
    /// Attempts made so far.
    pub attempts: i64,
    /// HTTP status of the last attempt's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// While pending: when it is tried (again).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The delivery this one repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub redelivery_of: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

impl DeliveryView {
    fn try_from(d: &DeliveryRecord) -> Result<Self, ApiError> {
        use ferry_store::DeliveryStatus as S;
        Ok(Self {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            event: d
                .event_type
                .parse()
                .map_err(|e: String| ApiError::Internal(e))?,
            status: match d.status {
                S::Pending => DeliveryStatusView::Pending,
                S::Delivered => DeliveryStatusView::Delivered,
                S::Failed => DeliveryStatusView::Failed,
            },
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at.clone(),
            redelivery_of: d.redelivery_of.clone(),
            created_at: d.created_at.clone(),
            updated_at: d.updated_at.clone(),
            delivered_at: d.delivered_at.clone(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Whether `caller` may see subscription `w`: an unrestricted key sees
/// all, a tenant-limited key its tenant's (not the all-tenant ones).
fn sees(caller: &Caller, w: &WebhookRecord) -> bool {
    match (&caller.tenant, &w.tenant) {
        (None, _) => true,
        (Some(own), Some(t)) => own == t,
        (Some(_), None) => false,
    }
}

async fn visible_webhook(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<WebhookRecord, ApiError> {
    let id = parse_id(raw_id, "webhook")?;
    match state.store.get_webhook(&id).await? {
        Some(w) if sees(caller, &w) => Ok(w),
        _ => Err(ApiError::NotFound("webhook")),
    }
}

/// A generated signing secret: `whsec_` + 256 random bits in hex.
fn generate_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Subscribe a URL to events. Deliveries are POSTed as JSON and signed:
/// `Ferry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<body>")>`, with `Ferry-Event` (the event type) and
/// `Ferry-Delivery` (the delivery id). A 2xx answer counts as delivered;
/// anything else is retried with exponential back-off. The secret is in this
/// answer only.
#[utoipa::path(
    tag = "webhooks",
    request_body = NewWebhookInput,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let (input, _) =
        json_body::<NewWebhookInput>(&req, payload, state.settings.max_body_bytes).await?;
    let mut errors = Vec::new();
    let url = match WebhookUrl::parse(&input.url) {
        Ok(u) => Some(u),
        Err(e) => {
            errors.push(e.at("url"));
            None
        }
    };
    let mut events: Vec<WebhookEvent> = Vec::new();
    if input.events.is_empty() {
        errors.push(FieldError::new(
            "events",
            "no_events",
            "subscribe to at least one event",
        ));
    }
    for (i, raw) in input.events.iter().enumerate() {
        match raw.parse::<WebhookEvent>() {
            Ok(e) if !events.contains(&e) => events.push(e),
            Ok(_) => {}
            Err(msg) => errors.push(FieldError::new(
                format!("events[{i}]"),
                "unknown_event",
                msg,
            )),
        }
    }
    let secret = match input.secret.as_deref().map(WebhookSecret::parse) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            errors.push(e.at("secret"));
            None
        }
    };
    let tenant = match input.tenant.as_deref().map(TenantSlug::parse) {
        None => None,
        Some(Ok(t)) => Some(t.to_string()),
        Some(Err(e)) => {
            errors.push(e.at("tenant"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let Some(url) = url else {
        return Err(ApiError::Internal("url checked above".into()));
    };
    let tenant = match (&caller.tenant, tenant) {
        (Some(own), Some(asked)) if *own != asked => {
            return Err(ApiError::TenantForbidden(own.clone()));
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    let secret = secret
        .map(|s| s.expose().to_owned())
        .unwrap_or_else(generate_secret);
    let record = state
        .store
        .insert_webhook(&NewWebhook {
            id: uuid::Uuid::now_v7().hyphenated().to_string(),
            tenant,
            url: url.as_str().to_owned(),
            events,
            secret: secret.clone(),
            created_by: caller.key_id.clone(),
        })
        .await?;
    tracing::info!(webhook_id = %record.id, by = %caller.key_id, "webhook created");
    Ok(HttpResponse::Created().json(CreatedWebhook {
        webhook: WebhookView::from(&record),
        secret,
    }))
}

/// List webhook subscriptions (without their secrets).
#[utoipa::path(
    tag = "webhooks",
    responses(
        (status = 200, body = WebhookList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let hooks = state.store.list_webhooks(caller.tenant.as_deref()).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        items: hooks.iter().map(WebhookView::from).collect(),
    }))
}

/// Delete a subscription with its delivery log; pending deliveries are not
/// sent.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (UUID)")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let hook = visible_webhook(&state, &caller, &id).await?;
    if state.store.delete_webhook(&hook.id).await? {
        tracing::info!(webhook_id = %hook.id, by = %caller.key_id, "webhook deleted");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("webhook"))
    }
}

/// The subscription's delivery log, newest first: status, attempts, the
/// last answer's status code or error, the next attempt.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (UUID)"), DeliveryQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let hook = visible_webhook(&state, &caller, &id).await?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => match uuid::Uuid::parse_str(c) {
            Ok(u) => Some(u.hyphenated().to_string()),
            Err(_) => {
                errors.push(FieldError::new(
                    "cursor",
                    "invalid_cursor",
                    "use the next_cursor of a previous page",
                ));
                None
            }
        },
    };
    let max = state.settings.max_page_size;
    let limit = q.limit.unwrap_or(50.min(max));
    if limit == 0 || limit > max {
        errors.push(FieldError::new(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = state
        .store
        .list_deliveries(&hook.id, before.as_deref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryPage {
        items: page
            .items
            .iter()
            .map(DeliveryView::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Send a delivery's event again, now: a new delivery (same event id and
/// body, new `Ferry-Delivery` id and signature) that names the one it
/// repeats; the log keeps both.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Webhook id (UUID)"),
        ("delivery_id" = String, Path, description = "Delivery id (UUID)"),
    ),
    responses(
        (status = 202, body = DeliveryView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageWebhooks)?;
    let (id, delivery_id) = path.into_inner();
    let hook = visible_webhook(&state, &caller, &id).await?;
    let delivery_id = parse_id(&delivery_id, "delivery")?;
    let Some(delivery) = state.store.redeliver(&hook.id, &delivery_id).await? else {
        return Err(ApiError::NotFound("delivery"));
    };
    tracing::info!(webhook_id = %hook.id, delivery_id = %delivery.id, of = %delivery_id, by = %caller.key_id, "webhook redelivery requested");
    Ok(HttpResponse::Accepted().json(DeliveryView::try_from(&delivery)?))
}
