//! `/v1/migrations`: open, read, list and move migrations through their
//! lifecycle. Handlers parse, call the store and the domain, and map.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use ferry_domain::{
    FieldError, LifecycleEvent, MigrationState, NewMigrationInput, Permission, TenantSlug,
};
use ferry_store::{
    DocumentStatus, IdempotencyClaim, Idempotent, MigrationFilter, MigrationRecord, StartRequest,
    StoreError,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::extract::{
    idempotency_key, if_match_version, json_body, not_modified, parse_id, replay,
};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::views::{JobList, JobView, MigrationPage, MigrationView, StartView, UploadEstimate};
use ferry_app::records;

/// Loads a migration the caller may see; others' are 404 like unknown ids.
pub(crate) async fn visible_migration(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<MigrationRecord, ApiError> {
    let id = parse_id(raw_id, "migration")?;
    match state.store.get_migration(&id).await? {
        Some(m) if caller.sees(&m.tenant) => Ok(m),
        _ => Err(ApiError::NotFound("migration")),
    }
}

fn etag(m: &MigrationRecord) -> String {
    format!("\"{}\"", m.version)
}

fn migration_response(status: actix_web::http::StatusCode, m: &MigrationRecord) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(m)))
        .json(MigrationView::from(m))
}

/// Open a migration request.
///
/// With an `Idempotency-Key` header, repeating the call with the same body
/// returns the first answer (`Idempotent-Replayed: true`) instead of opening a
/// second migration; the same key with another body is 422.
#[utoipa::path(
    tag = "migrations",
    request_body = NewMigrationInput,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = r"^[\t ]*[!-~](?:[\t -~]{0,253}[!-~])?[\t ]*$", description = "Makes retries safe: same key + same body → same answer")),
    responses(
        (status = 201, body = MigrationView, headers(("ETag" = String), ("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the tenant already has an open migration", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/migrations")]
pub async fn create_migration(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::CreateMigration)?;
    let (input, raw) =
        json_body::<NewMigrationInput>(&req, payload, state.settings.max_body_bytes).await?;
    let idem = idempotency_key(&req, &raw)?;
    let new = input.validate().map_err(|e| ApiError::Validation(e.0))?;
    if !caller.sees(new.tenant.as_str()) {
        return Err(ApiError::TenantForbidden(
            caller.tenant.clone().unwrap_or_default(),
        ));
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let idem_ref = idem.as_ref().map(|(key, hash)| Idempotent {
        api_key_id: &caller.key_id,
        operation: "create_migration",
        key,
        request_hash: hash,
    });
    let claim = state
        .store
        .create_migration(
            &id,
            &new,
            idem_ref,
            |m| {
                (
                    201,
                    serde_json::to_string(&MigrationView::from(m)).unwrap_or_default(),
                )
            },
            |m| records::migration_created(&caller.key_id, m),
        )
        .await?;
    match claim {
        IdempotencyClaim::Fresh(m) => {
            tracing::info!(migration_id = %m.id, tenant = %m.tenant, "migration opened");
            let mut res = migration_response(actix_web::http::StatusCode::CREATED, &m);
            res.headers_mut().insert(
                header::LOCATION,
                header::HeaderValue::from_str(&format!("/v1/migrations/{}", m.id))
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            Ok(res)
        }
        IdempotencyClaim::Replay(previous) => replay(
            previous,
            idem.as_ref().map(|(_, h)| h.as_str()).unwrap_or(""),
        ),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only migrations in this state.
    #[param(value_type = Option<MigrationState>)]
    pub state: Option<String>,
    /// Only migrations of this tenant.
    #[param(
        pattern = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
        min_length = 2,
        max_length = 63
    )]
    pub tenant: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// List migrations, oldest first, with cursor pagination.
#[utoipa::path(
    tag = "migrations",
    params(ListQuery),
    responses(
        (status = 200, body = MigrationPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations")]
pub async fn list_migrations(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let filter_state = match q.state.as_deref() {
        None => None,
        Some(s) => match s.parse::<MigrationState>() {
            Ok(st) => Some(st),
            Err(msg) => {
                errors.push(FieldError::new("state", "invalid_state", msg));
                None
            }
        },
    };
    let tenant = match q.tenant.as_deref() {
        None => None,
        Some(t) => match TenantSlug::parse(t) {
            Ok(t) => Some(t.to_string()),
            Err(e) => {
                errors.push(e.at("tenant"));
                None
            }
        },
    };
    let after = match q.cursor.as_deref() {
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
    // A tenant-limited key lists only its tenant, whatever it asked for.
    let tenant = match (&caller.tenant, tenant) {
        (Some(own), Some(asked)) if *own != asked => {
            return Ok(HttpResponse::Ok().json(MigrationPage {
                items: vec![],
                next_cursor: None,
            }));
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    let page = state
        .store
        .list_migrations(&MigrationFilter {
            state: filter_state,
            tenant,
            after,
            limit,
        })
        .await?;
    Ok(HttpResponse::Ok().json(MigrationPage {
        items: page.items.iter().map(MigrationView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get one migration. Supports `If-None-Match` (304 when unchanged).
#[utoipa::path(
    tag = "migrations",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = MigrationView, headers(("ETag" = String))),
        (status = 304, description = "unchanged since the ETag in If-None-Match"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}")]
pub async fn get_migration(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let job = state.store.latest_job(&m.id).await?;
    let estimate = upload_estimate(&state, &m).await?;
    let moving = job.is_some() || estimate.is_some();
    let view = MigrationView::from(&m)
        .with_latest_job(job.as_ref())
        .with_upload_estimate(estimate);
    let body = serde_json::to_vec(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    // The job's progress and the estimate move without the migration's
    // version: with either, the ETag is `"<version>-<hash of the view>"`
    // (If-Match reads the version).
    let tag = if moving {
        format!(
            "\"{}-{}\"",
            m.version,
            &hex::encode(Sha256::digest(&body))[..12]
        )
    } else {
        etag(&m)
    };
    if not_modified(&req, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, tag))
        .content_type("application/json")
        .body(body))
}

/// The estimate of the next start's copy, while a start is possible and
/// there is something to copy.
async fn upload_estimate(
    state: &AppState,
    m: &MigrationRecord,
) -> Result<Option<UploadEstimate>, ApiError> {
    let statuses: &[DocumentStatus] = match m.state {
        MigrationState::Draft | MigrationState::Ready => &DocumentStatus::TO_COPY,
        MigrationState::Uploaded => &[DocumentStatus::Missing, DocumentStatus::Failed],
        _ => return Ok(None),
    };
    let scope = state.store.document_scope(&m.id, statuses).await?;
    if scope.documents == 0 {
        return Ok(None);
    }
    let finished = state.store.recent_finished_transfers(20).await?;
    Ok(Some(UploadEstimate::new(
        scope.bytes,
        scope.documents,
        &finished,
        state.settings.default_throughput_bytes_per_sec,
    )))
}

/// Applies a lifecycle event after the permission and visibility checks.
async fn lifecycle(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    id: &str,
    event: LifecycleEvent,
    permission: Permission,
) -> Result<HttpResponse, ApiError> {
    caller.require(permission)?;
    let m = visible_migration(state, caller, id).await?;
    if let Some(expected) = if_match_version(req)?
        && expected != m.version
    {
        return Err(ApiError::PreconditionFailed(expected));
    }
    let updated = match state
        .store
        .transition(&m.id, event, |after| {
            records::lifecycle(&caller.key_id, event, &m, after)
        })
        .await
    {
        Err(StoreError::VersionMismatch { .. }) => return Err(ApiError::ConcurrentChange),
        other => other?,
    };
    tracing::info!(migration_id = %updated.id, event = event.as_str(), state = %updated.state, "migration moved");
    if m.state.is_frozen() && !updated.state.is_frozen() {
        // The state already says "not frozen"; this only notes who lifted it
        // (the freeze view falls back to the transition's time without it).
        let lifted = state
            .store
            .lift_freeze(&updated.id, &caller.key_id, updated.state.as_str())
            .await;
        if let Err(e) = lifted {
            tracing::warn!(migration_id = %updated.id, error = %e, "recording the freeze's lift failed");
        }
    }
    Ok(migration_response(
        actix_web::http::StatusCode::OK,
        &updated,
    ))
}

macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $event:expr, $perm:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "migrations",
            params(
                ("id" = String, Path, description = "Migration id (UUID)"),
                ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(?:\*|(?:W/)*"*\+?[0-9]{1,18}(?:"*|-[\t -~]*))$"#, description = "ETag of the migration as the caller saw it (412 when it changed since)"),
            ),
            responses(
                (status = 200, body = MigrationView, headers(("ETag" = String))),
                (status = 400, body = Problem, content_type = "application/problem+json"),
                (status = 401, body = Problem, content_type = "application/problem+json"),
                (status = 403, body = Problem, content_type = "application/problem+json"),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "not allowed from the current state, which the problem names", body = Problem, content_type = "application/problem+json"),
                (status = 412, body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        #[post($path)]
        pub async fn $name(
            req: HttpRequest,
            caller: Caller,
            state: web::Data<AppState>,
            id: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            lifecycle(&req, &caller, &state, &id, $event, $perm).await
        }
    };
}

lifecycle_route!(
    cancel_migration,
    "/migrations/{id}/cancel",
    LifecycleEvent::Cancel,
    Permission::CancelMigration,
    "Cancel a migration (any state before `completed`); lifts the freeze."
);
lifecycle_route!(
    reopen_migration,
    "/migrations/{id}/reopen",
    LifecycleEvent::Reopen,
    Permission::OperateMigration,
    "Go back to editing a committed draft: `ready` → `draft`."
);
lifecycle_route!(
    complete_migration,
    "/migrations/{id}/complete",
    LifecycleEvent::Complete,
    Permission::OperateMigration,
    "Close an uploaded migration: `uploaded` → `completed`; lifts the freeze."
);

/// Start the upload (from `ready`) or a recovery (from `uploaded`).
///
/// The service decides which; the answer is 202 with the job to poll. The
/// start freezes the source (`GET …/freeze`). A recovery needs a missing or
/// failed document: without one the answer is 409 `nothing_to_do`. After a
/// job failed or was cancelled (`POST /v1/jobs/{id}/cancel`) the migration
/// stays `uploading`/`recovering` and starting again resumes that work;
/// while a job is queued or running the answer is 409 `job_active`.
#[utoipa::path(
    tag = "migrations",
    params(
        ("id" = String, Path, description = "Migration id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = r"^[\t ]*[!-~](?:[\t -~]{0,253}[!-~])?[\t ]*$", description = "Makes retries safe"),
    ),
    responses(
        (status = 202, body = StartView, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not startable from the current state (`illegal_transition`), a job still active (`job_active`), or nothing left to recover (`nothing_to_do`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the queue is unavailable; nothing was started", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/migrations/{id}/start")]
pub async fn start_migration(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    run_start(&req, &caller, &state, &id, StartKind::Start).await
}

/// Which use case a start-like call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartKind {
    /// `POST …/start`: upload (the cutover) or recovery.
    Start,
    /// `POST …/precopy`.
    Precopy,
}

/// A start or a pre-copy: the same checks, idempotency and answer (202 with
/// the job to poll).
pub(crate) async fn run_start(
    req: &HttpRequest,
    caller: &Caller,
    state: &AppState,
    id: &str,
    kind: StartKind,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let m = visible_migration(state, caller, id).await?;
    let idem = idempotency_key(req, m.id.as_bytes())?;
    let operation = match kind {
        StartKind::Start => format!("start:{}", m.id),
        StartKind::Precopy => format!("precopy:{}", m.id),
    };
    let idem_ref = idem.as_ref().map(|(key, hash)| Idempotent {
        api_key_id: &caller.key_id,
        operation: &operation,
        key,
        request_hash: hash,
    });
    let job_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let req = StartRequest {
        migration_id: &m.id,
        job_id: &job_id,
        started_by: Some(&caller.key_id),
        idem: idem_ref,
        only: None,
    };
    let render = |s: &ferry_store::Started| {
        let view = StartView {
            migration: MigrationView::from(&s.migration),
            job: JobView::from(&s.job),
        };
        (202, serde_json::to_string(&view).unwrap_or_default())
    };
    let claim = match kind {
        StartKind::Start => ferry_app::start(&state.dispatcher, req, render).await?,
        StartKind::Precopy => ferry_app::precopy(&state.dispatcher, req, render).await?,
    };
    match claim {
        IdempotencyClaim::Fresh(s) => Ok(HttpResponse::Accepted()
            .insert_header((header::LOCATION, format!("/v1/jobs/{}", s.job.id)))
            .json(StartView {
                migration: MigrationView::from(&s.migration),
                job: JobView::from(&s.job),
            })),
        IdempotencyClaim::Replay(previous) => replay(
            previous,
            idem.as_ref().map(|(_, h)| h.as_str()).unwrap_or(""),
        ),
    }
}

/// The jobs of a migration, oldest first.
#[utoipa::path(
    tag = "jobs",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = JobList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/jobs")]
pub async fn list_migration_jobs(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let jobs = state.store.list_jobs(&m.id).await?;
    Ok(HttpResponse::Ok().json(JobList {
        items: jobs.iter().map(JobView::from).collect(),
    }))
}
