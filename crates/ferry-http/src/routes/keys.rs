//! `/v1/keys`: API key management, admin only. The CLI (`ferry keys create`)
//! does the same against the database directly.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use ferry_domain::{FieldError, Permission, Role, TenantSlug};
use ferry_store::NewApiKey;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Caller, generate_key, hash_key};
use crate::extract::{json_body, parse_id};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::views::{CreatedKey, KeyList, KeyView};
use ferry_store::AuditEvent;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyInput {
    /// What the key is for, e.g. `sales-crm` or `grafana`: 1 to 100
    /// characters, no control characters.
    #[schema(value_type = ferry_domain::newtypes::schemas::KeyName)]
    pub name: String,
    pub role: Role,
    /// Limit the key to one tenant's migrations.
    #[schema(value_type = Option<TenantSlug>)]
    pub tenant: Option<String>,
}

/// Create an API key. The secret is in this answer only.
#[utoipa::path(
    tag = "keys",
    request_body = NewKeyInput,
    responses(
        (status = 201, body = CreatedKey),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/keys")]
pub async fn create_key(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageKeys)?;
    let (input, _) = json_body::<NewKeyInput>(&req, payload, state.settings.max_body_bytes).await?;
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "a key name has 1 to 100 printable characters",
        ));
    }
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
    let key = generate_key();
    let record = state
        .store
        .insert_key(
            &NewApiKey {
                id: uuid::Uuid::now_v7().hyphenated().to_string(),
                name: name.to_owned(),
                role: input.role,
                tenant,
                key_hash: hash_key(&key),
            },
            |k| vec![AuditEvent::key_created(Some(&caller.key_id), k)],
        )
        .await?;
    tracing::info!(key_id = %record.id, role = %record.role, by = %caller.key_id, "api key created");
    Ok(HttpResponse::Created().json(CreatedKey {
        meta: KeyView::from(&record),
        key,
    }))
}

/// List API keys (metadata only).
#[utoipa::path(
    tag = "keys",
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/keys")]
pub async fn list_keys(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageKeys)?;
    let keys = state.store.list_keys().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        items: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revoke an API key; it answers 401 from then on. A key cannot revoke
/// itself (409 `own_key`), so an admin cannot lock itself out by accident:
/// revoke an old admin key with its replacement.
#[utoipa::path(
    tag = "keys",
    params(("id" = String, Path, description = "Key id (UUID)")),
    responses(
        (status = 204, description = "revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the key used for this request (`own_key`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/keys/{id}")]
pub async fn revoke_key(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageKeys)?;
    let id = parse_id(&id, "key")?;
    if id == caller.key_id {
        return Err(ApiError::OwnKey);
    }
    let audit = vec![AuditEvent::key_revoked(Some(&caller.key_id), &id)];
    if state.store.revoke_key(&id, audit).await? {
        // Cached by key hash, not id: start over (other API processes
        // notice within the auth cache's TTL).
        state.callers.clear();
        tracing::info!(key_id = %id, by = %caller.key_id, "api key revoked");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("key"))
    }
}
