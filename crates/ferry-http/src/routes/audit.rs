//! The audit trail: reading it (`GET /v1/migrations/{id}/audit`,
//! `GET /v1/audit`) and verifying its hash chain (`GET /v1/audit/verify`).
//! What each decision records is made in `ferry_app::records` and appended
//! by the store in the decision's own transaction.

use actix_web::{HttpResponse, get, web};
use ferry_domain::audit::{AuditAction, AuditEntry};
use ferry_domain::{FieldError, Permission};
use ferry_store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;

/// Who decided.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// The API key; `null` for the command line (`name`: `cli`) or a
    /// worker (`recovery-sweep`).
    #[schema(format = Uuid)]
    pub key_id: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
}

/// One record of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordView {
    /// Position in the chain (1, 2, … without gaps); also the cursor.
    pub seq: i64,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(value_type = AuditAction)]
    pub action: String,
    pub actor: AuditActor,
    /// The migration's acting migrator (`migrator.email`) at the time.
    pub acting_migrator: Option<String>,
    #[schema(format = Uuid)]
    pub migration_id: Option<String>,
    pub tenant: Option<String>,
    /// What else the record is about: a job id, a key id, an import id.
    pub subject: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// Hash of the record before (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over the canonical serialisation of this record
    /// (docs/audit.md, "Hash chain").
    pub hash: String,
}

impl From<&AuditEntry> for AuditRecordView {
    fn from(e: &AuditEntry) -> Self {
        let f = &e.fields;
        let parse = |t: &Option<String>| t.as_deref().and_then(|t| serde_json::from_str(t).ok());
        AuditRecordView {
            seq: e.seq,
            at: f.at.clone(),
            action: f.action.clone(),
            actor: AuditActor {
                key_id: f.actor_key_id.clone(),
                name: f.actor_name.clone(),
                role: f.actor_role.clone(),
            },
            acting_migrator: f.acting_migrator.clone(),
            migration_id: f.migration_id.clone(),
            tenant: f.tenant.clone(),
            subject: f.subject.clone(),
            before: parse(&f.before),
            after: parse(&f.after),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecordView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The result of walking the whole chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerification {
    /// Every record matches its hash and links to the one before, and the
    /// chain ends where its head says.
    pub intact: bool,
    /// Records verified (up to the break).
    pub records: i64,
    /// Hash of the last record when intact.
    pub head_hash: Option<String>,
    /// The first sequence number that does not verify.
    pub broken_at: Option<i64>,
    /// Why it does not.
    pub problem: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn parse_query(q: &AuditQuery, max: u32) -> Result<(Option<i64>, u32), ApiError> {
    let mut errors = Vec::new();
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => match c.parse::<i64>() {
            Ok(n) if n >= 0 && c.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "cursor",
                    "invalid_cursor",
                    "use the next_cursor of a previous page",
                ));
                None
            }
        },
    };
    let limit = q.limit.unwrap_or(50.min(max));
    if limit == 0 || limit > max {
        errors.push(FieldError::new(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ));
    }
    if errors.is_empty() {
        Ok((after, limit))
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn page(state: &AppState, filter: AuditFilter) -> Result<HttpResponse, ApiError> {
    let page = state.store.list_audit(&filter).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: page.items.iter().map(AuditRecordView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The audit trail of one migration, oldest first: every decision with its
/// actor, time and before/after.
#[utoipa::path(
    tag = "audit",
    params(("id" = String, Path, description = "Migration id (UUID)"), AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/audit")]
pub async fn migration_audit(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let (after, limit) = parse_query(&query, state.settings.max_page_size)?;
    page(
        &state,
        AuditFilter {
            migration_id: Some(m.id),
            tenant: None,
            after,
            limit,
        },
    )
    .await
}

/// The whole audit trail, oldest first, including API key events (admin).
/// A tenant-limited admin key sees only its tenant's records.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
pub async fn list_audit(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageKeys)?;
    let (after, limit) = parse_query(&query, state.settings.max_page_size)?;
    page(
        &state,
        AuditFilter {
            migration_id: None,
            tenant: caller.tenant.clone(),
            after,
            limit,
        },
    )
    .await
}

/// Walk the whole hash chain (admin): 200 either way, `intact: false` names
/// the first record that does not verify. `ferry audit verify` does the same
/// against the database directly.
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, body = AuditVerification),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit/verify")]
pub async fn verify_audit(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageKeys)?;
    let view = match state.store.verify_audit().await? {
        Ok(s) => AuditVerification {
            intact: true,
            records: s.records,
            head_hash: Some(s.head_hash),
            broken_at: None,
            problem: None,
        },
        Err(b) => AuditVerification {
            intact: false,
            records: b.seq - 1,
            head_hash: None,
            broken_at: Some(b.seq),
            problem: Some(b.to_string()),
        },
    };
    Ok(HttpResponse::Ok().json(view))
}
