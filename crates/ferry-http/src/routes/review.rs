//! The licence half of a migration, part 3: review the draft as a diff, run
//! the pre-flight checks, and commit (which requires a passing report).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use ferry_domain::Permission;
use ferry_domain::licensing::{PreflightInput, PreflightReport, Review, review, run_preflight};
use ferry_store::StoreError;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::routes::licensing::{Licensing, load_licensing};
use crate::state::AppState;
use crate::views::MigrationView;
use ferry_app::records;

/// The draft against the committed assignment: who changes, who loses
/// access ("no licence"), and which addresses are removed from other cards.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = Review),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/review")]
pub async fn get_review(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let l = load_licensing(&state, &caller, &id).await?;
    let committed = state.store.load_committed(&l.migration.id).await?;
    Ok(HttpResponse::Ok().json(review(&l.roster, &committed, &l.draft.assignments)))
}

/// Runs every check; the sources' reachability is the only I/O.
async fn preflight(state: &AppState, l: &Licensing) -> Result<PreflightReport, ApiError> {
    let t = state.settings.source_probe_timeout;
    let (db, archive) = tokio::join!(
        ferry_tenant::source::probe_source(&l.migration.database_url, t),
        ferry_tenant::source::probe_source(&l.migration.archive_url, t),
    );
    Ok(run_preflight(&PreflightInput {
        source_version: &l.migration.source_version,
        min_version: &state.settings.min_source_version,
        roster: &l.roster,
        catalogue: &l.catalogue,
        assignments: &l.draft.assignments,
        migrator_email: &l.migration.migrator_email,
        sources_reachable: vec![
            (l.migration.database_url.to_string(), db),
            (l.migration.archive_url.to_string(), archive),
        ],
    }))
}

/// Every pre-flight check of the current draft with pass/fail/warn and the
/// offending users or satellites.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = PreflightReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/preflight")]
pub async fn get_preflight(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let l = load_licensing(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(preflight(&state, &l).await?))
}

/// Commit the draft: `draft` → `ready`, only when the pre-flight report
/// passes (422 `preflight_failed` with the report otherwise). The draft
/// becomes the migration's assignment. Optional `If-Match`: the migration's
/// ETag.
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
        (status = 409, description = "not a draft; the problem names the state", body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "pre-flight fails; the report is in `preflight`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/migrations/{id}/commit")]
pub async fn commit_migration(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let l = load_licensing(&state, &caller, &id).await?;
    if let Some(expected) = crate::extract::if_match_version(&req)?
        && expected != l.migration.version
    {
        return Err(ApiError::PreconditionFailed(expected));
    }
    // The lifecycle answers first: committing a non-draft is a 409 naming
    // its state, whatever its checks would say.
    l.migration
        .state
        .apply(ferry_domain::LifecycleEvent::Commit)?;
    let report = preflight(&state, &l).await?;
    if !report.passed {
        // A refused commit changes nothing; its report is the only write.
        let event = records::preflight_checked(&caller.key_id, &l.migration.id, &report);
        if let Err(e) = state.store.audit(&event).await {
            tracing::error!(migration_id = %l.migration.id, error = %e, "audit record of a refused commit lost");
        }
        return Err(ApiError::PreflightFailed(Box::new(report)));
    }
    let basis = records::CommitBasis {
        before: &l.migration,
        roster: &l.roster,
        draft: &l.draft,
        report: &report,
    };
    let m = match state
        .store
        .commit_draft(&l.migration.id, l.draft.version, |m| {
            records::committed(&caller.key_id, basis, m)
        })
        .await
    {
        Err(StoreError::VersionMismatch { .. }) => return Err(ApiError::ConcurrentChange),
        other => other?,
    };
    tracing::info!(migration_id = %m.id, "draft committed; migration ready");
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", m.version)))
        .json(MigrationView::from(&m)))
}
