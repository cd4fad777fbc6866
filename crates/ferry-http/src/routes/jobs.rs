//! `/v1/jobs/{id}`: what dashboards poll.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use ferry_domain::{JobState, Permission};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::extract::{not_modified, parse_id};
use crate::problem::{ApiError, Problem};
use crate::state::{AppState, CachedJob};
use crate::views::JobView;

/// Get a job. Supports `If-None-Match` (304 when unchanged), so polling a
/// job that has not moved costs no body.
#[utoipa::path(
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, body = JobView, headers(("ETag" = String))),
        (status = 304, description = "unchanged since the ETag in If-None-Match"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/jobs/{id}")]
pub async fn get_job(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = parse_id(&id, "job")?;
    let cached = match state.job_views.get(&id) {
        Some(c) => c,
        None => {
            let Some(job) = state.store.get_job(&id).await? else {
                return Err(ApiError::NotFound("job"));
            };
            let body = serde_json::to_vec(&JobView::from(&job))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
            let rendered = CachedJob {
                tenant: job.tenant.to_string(),
                body: body.into(),
                etag,
            };
            state.job_views.put(id.clone(), rendered.clone());
            rendered
        }
    };
    if !caller.sees(&cached.tenant) {
        return Err(ApiError::NotFound("job"));
    }
    if not_modified(&req, &cached.etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, cached.etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, cached.etag))
        .content_type("application/json")
        .body(cached.body))
}

/// Cancel a queued or running job: it ends `cancelled` at once and its
/// worker stops within about a second (in-flight copies are aborted, what
/// was uploaded stays recorded). The migration keeps its state and its
/// freeze, so `POST /v1/migrations/{id}/start` resumes the work. A job that
/// already ended answers 409 `job_ended`.
#[utoipa::path(
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses(
        (status = 200, body = JobView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the job already ended (`job_ended`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/jobs/{id}/cancel")]
pub async fn cancel_job(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let id = parse_id(&id, "job")?;
    let cancelled = ferry_app::cancel(&state.store, &id, &caller.key_id, |tenant| {
        caller.sees(tenant)
    })
    .await?;
    debug_assert_eq!(cancelled.state, JobState::Cancelled);
    state.job_views.evict(&cancelled.id);
    Ok(HttpResponse::Ok().json(JobView::from(&cancelled)))
}
