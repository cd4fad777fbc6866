//! `/v1/jobs/{id}`: what dashboards poll.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use ferry_domain::Permission;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::extract::{not_modified, parse_id};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
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
    let job = match state.store.get_job(&id).await? {
        Some(j) if caller.sees(&j.tenant) => j,
        _ => return Err(ApiError::NotFound("job")),
    };
    let view = JobView::from(&job);
    let body = serde_json::to_vec(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
    if not_modified(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(body))
}
