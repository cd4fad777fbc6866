//! Pre-copy (issue 15): `POST …/precopy` copies the documents while the
//! source stays live, `GET …/precopy` shows the last one and what the
//! tenant store holds. The cutover is the ordinary `POST …/start`, which
//! then copies only what is not in the tenant store yet (docs/upload.md,
//! "Cutover").

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::routes::migrations::{StartKind, run_start, visible_migration};
use crate::state::AppState;
use crate::views::JobView;

/// The last pre-copy of a migration and what the tenant store holds now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrecopyView {
    /// The latest pre-copy job (`null`: none ran yet).
    pub job: Option<JobView>,
    /// Manifest documents already in the tenant store: the cutover will
    /// neither read nor write them.
    pub documents_in_store: i64,
    pub bytes_in_store: i64,
    /// Documents the cutover still has to copy (not in the tenant store, or
    /// changed since they were copied) and their bytes.
    pub documents_to_copy: i64,
    pub bytes_to_copy: i64,
    /// Copies in the tenant store the manifest no longer lists (or lists
    /// changed): the cutover removes them, at most 1,000 named here.
    pub to_remove: Vec<String>,
    /// What earlier cutovers removed, in path order (at most 1,000).
    pub removed: Vec<RemovedDocument>,
}

/// A document the cutover removed from the tenant store.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedDocument {
    pub path: String,
    pub removed_at: String,
}

/// Start a pre-copy: the documents of the manifest not in the tenant store
/// yet are copied and verified through the same engine as an upload (same
/// progress, ledger, cancel and batches), but the source is **not frozen**,
/// the database dump is not copied and the migration keeps its state. Only
/// while the migration is `draft` or `ready`; it may run again (each run
/// copies what is still missing). The answer is 202 with the job to poll.
/// While it runs, the cutover (`POST …/start`) and a manifest replacement
/// are refused with 409 `job_active`: cancel it (`POST /v1/jobs/{id}/cancel`)
/// to cut over at once; what it copied stays copied.
#[utoipa::path(
    tag = "migrations",
    params(
        ("id" = String, Path, description = "Migration id (UUID)"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = r"^[\t ]*[!-~](?:[\t -~]{0,253}[!-~])?[\t ]*$", description = "Makes retries safe"),
    ),
    responses(
        (status = 202, body = crate::views::StartView, headers(("Location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not `draft` or `ready` (`precopy_not_allowed`), a job still active (`job_active`), or every document already in the tenant store (`nothing_to_copy`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "the queue is unavailable; nothing was started", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/migrations/{id}/precopy")]
pub async fn start_precopy(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    run_start(&req, &caller, &state, &id, StartKind::Precopy).await
}

/// The last pre-copy, what the tenant store already holds, what the cutover
/// still has to copy and remove, and what cutovers removed.
#[utoipa::path(
    tag = "migrations",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = PrecopyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/precopy")]
pub async fn get_precopy(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let m = visible_migration(&state, &caller, &id).await?;
    let last = state.store.last_precopy(&m.id).await?;
    let delta = state
        .store
        .document_scope(&m.id, &ferry_store::DocumentStatus::TO_COPY)
        .await?;
    let held = state
        .store
        .document_scope(&m.id, &[ferry_store::DocumentStatus::Uploaded])
        .await?;
    let to_remove = state.store.pending_removals(&m.id, 1000).await?;
    let removed = state
        .store
        .list_removals(&m.id, 1000)
        .await?
        .into_iter()
        .map(|(path, removed_at)| RemovedDocument { path, removed_at })
        .collect();
    Ok(HttpResponse::Ok().json(PrecopyView {
        job: last.as_ref().map(JobView::from),
        documents_in_store: held.documents,
        bytes_in_store: held.bytes,
        documents_to_copy: delta.documents,
        bytes_to_copy: delta.bytes,
        to_remove,
        removed,
    }))
}
