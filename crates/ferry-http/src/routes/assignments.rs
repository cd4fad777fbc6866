//! The licence half of a migration, part 2: the draft assignment — manual
//! bulk edit, CSV export and all-or-nothing CSV import with its error report.

use std::io::Seek;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use ferry_domain::Email;
use ferry_domain::Permission;
use ferry_domain::audit::AuditAction;
use ferry_domain::licensing::{
    BulkEdit, Draft, RuleViolation, apply_bulk_edit, write_assignment_csv, write_error_report_csv,
};
use ferry_store::{IdempotencyClaim, Idempotent, ImportRecord, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::extract::{idempotency_key_header, json_body, not_modified, parse_id, replay};
use crate::problem::{ApiError, Problem};
use crate::routes::audit;
use crate::routes::licensing::{load_catalogue, load_licensing, require_draft};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;
use crate::stream::{HashingReader, content_type_is, parse_streamed};

mod streamed;

/// The idempotency scope of a CSV import: per migration.
fn import_operation(migration_id: &str) -> String {
    format!("import:{migration_id}")
}

fn draft_etag(d: &Draft) -> String {
    format!("\"d{}\"", d.version)
}

fn draft_response(d: &Draft) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, draft_etag(d)))
        .json(d)
}

/// `If-Match` of draft edits: the draft's ETag (`"d<version>"`), or `*`
/// for "whatever it is now" (RFC 9110).
fn expected_draft_version(req: &HttpRequest, current: i64) -> Result<i64, ApiError> {
    Ok(if_match_version(req)?.unwrap_or(current))
}

/// The version `If-Match` names; `None` for `*`.
fn if_match_version(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let raw = req.headers().get(header::IF_MATCH).ok_or_else(|| {
        ApiError::BadHeader("If-Match with the draft's ETag is required to edit it".into())
    })?;
    let v = raw.to_str().unwrap_or_default().trim();
    if v == "*" {
        return Ok(None);
    }
    v.trim_start_matches("W/")
        .trim_matches('"')
        .trim_start_matches('d')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            ApiError::BadHeader("If-Match must be the draft's ETag, e.g. \"d3\", or *".into())
        })
}

fn stale(e: StoreError, expected: i64) -> ApiError {
    match e {
        StoreError::VersionMismatch { .. } => ApiError::PreconditionFailed(expected),
        other => other.into(),
    }
}

/// The draft assignment (users without an entry have no licence yet).
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = Draft, headers(("ETag" = String))),
        (status = 304, description = "unchanged"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/draft")]
pub async fn get_draft(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let draft = state.store.load_draft(&m.id).await?;
    if not_modified(&req, &draft_etag(&draft)) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, draft_etag(&draft)))
            .finish());
    }
    Ok(draft_response(&draft))
}

/// Bulk edit of chosen users: set plan, add-ons and/or user name. Needs
/// `If-Match` with the draft's ETag (412 when stale). Validated with the same
/// rules as the CSV import; on any violation nothing changes (422).
#[utoipa::path(
    tag = "licences",
    params(
        ("id" = String, Path, description = "Migration id (UUID)"),
        ("If-Match" = String, Header, pattern = r#"^(?:\*|(?:W/)*"*d*[+-]?[0-9]{1,18}"*)$"#, description = "The draft's ETag, e.g. `\"d3\"`, or `*` (412 when it changed since)"),
    ),
    request_body = BulkEdit,
    responses(
        (status = 200, body = Draft, headers(("ETag" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/migrations/{id}/draft")]
pub async fn edit_draft(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let l = load_licensing(&state, &caller, &id).await?;
    let expected = expected_draft_version(&req, l.draft.version)?;
    l.require_draft()?;
    let (edit, _) = json_body::<BulkEdit>(&req, payload, state.settings.max_body_bytes).await?;
    if expected != l.draft.version {
        return Err(ApiError::PreconditionFailed(expected));
    }
    let next = apply_bulk_edit(
        &l.roster,
        &l.catalogue,
        &l.draft.assignments,
        &edit,
        &l.acting()?,
    )
    .map_err(ApiError::InvalidAssignment)?;
    let version = state
        .store
        .save_draft(&l.migration.id, Some(expected), &next)
        .await
        .map_err(|e| stale(e, expected))?;
    audit::draft_changed(
        &state,
        &caller,
        AuditAction::DraftEdited,
        &l.migration.id,
        None,
        &l.draft,
        &next,
        version,
    )
    .await;
    Ok(draft_response(&Draft {
        assignments: next,
        version,
    }))
}

/// CSV of all active users: read-only columns plus `New License`,
/// `New Add-ons`, `Username`. Cells that a spreadsheet would run as a formula
/// are neutralised.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/assignments.csv")]
pub async fn export_csv(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let l = load_licensing(&state, &caller, &id).await?;
    let mut out = Vec::new();
    write_assignment_csv(&l.roster, &l.draft.assignments, &mut out)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}-assignments.csv\"",
                l.migration.tenant
            ),
        ))
        .insert_header((header::ETAG, draft_etag(&l.draft)))
        .body(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportApplied {
    pub import_id: String,
    /// Data rows read.
    pub rows: u64,
    /// Users whose assignment changed.
    pub changed: u64,
    /// The draft's new version (its ETag is `"d<version>"`). The draft itself
    /// is not echoed: for a large tenant it is tens of megabytes the client
    /// just sent; `GET …/draft` returns it.
    pub draft_version: i64,
}

/// Upload the edited CSV. Validated as a whole: when anything is invalid
/// nothing is applied and the answer (422 `invalid_csv`) lists every error;
/// the same list downloads from `…/imports/{import_id}/errors.csv`.
/// Accepts a BOM, CRLF and the `;` separator; headers match case- and
/// space-insensitively. `If-Match` (the draft's ETag) is optional here.
/// With an `Idempotency-Key`, repeating an applied import with the same body
/// answers the first answer again (`Idempotent-Replayed: true`) and applies
/// nothing; the same key with another body is 422. Rejected imports apply
/// nothing, so they are not recorded under the key.
#[utoipa::path(
    tag = "licences",
    params(
        ("id" = String, Path, description = "Migration id (UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(?:\*|(?:W/)*"*d*[+-]?[0-9]{1,18}"*)$"#, description = "The draft's ETag, e.g. `\"d3\"`, or `*` (412 when it changed since)"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = r"^[\t ]*[!-~](?:[\t -~]{0,253}[!-~])?[\t ]*$", description = "Makes retries safe: same key + same body → same answer"),
    ),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = ImportApplied),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/migrations/{id}/assignments.csv")]
pub async fn import_csv(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    if !content_type_is(&req, &["text/csv", "application/csv", "text/plain"]) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limits = state.settings.csv_limits;
    let idem_key = idempotency_key_header(&req)?;
    if let Some(key) = &idem_key {
        // A retry of an applied import: answered from the record, before
        // the draft's version (which the first call moved) is checked.
        let m = visible_migration(&state, &caller, &id).await?;
        if let Some(previous) = state
            .store
            .idempotency_record(&caller.key_id, &import_operation(&m.id), key)
            .await?
        {
            let hash = parse_streamed(payload, limits.max_bytes, |r| {
                HashingReader::new(r).finish()
            })
            .await?
            .map_err(|e| ApiError::BadBody(format!("cannot read the body: {e}")))?;
            return replay(previous, &hash);
        }
    }
    // Phase times go to the log line of an applied import: on a large
    // roster they show at once whether the database or the rules dominate.
    let started = std::time::Instant::now();
    let m = visible_migration(&state, &caller, &id).await?;
    require_draft(&m)?;
    let expected = if req.headers().contains_key(header::IF_MATCH) {
        if_match_version(&req)?
    } else {
        None
    };
    let job = streamed::ImportJob {
        rt: tokio::runtime::Handle::current(),
        store: state.store.clone(),
        migration_id: m.id.clone(),
        expected,
        catalogue: load_catalogue(&state, &m.id).await?,
        acting: Email::parse(&m.migrator_email).map_err(|e| ApiError::Internal(e.message))?,
        limits,
    };
    let migration_id = m.id.clone();
    // The body goes to a temporary file first, hashed on the way: the
    // import's transaction (on SQLite the database's one write lock) is then
    // held while the file is checked, not while a slow client sends 100 MB.
    let (spool, hash) = parse_streamed(payload, limits.max_bytes, |r| {
        let mut body = HashingReader::new(r);
        let mut file = tempfile::tempfile()?;
        std::io::copy(&mut body, &mut file)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        Ok::<_, std::io::Error>((file, body.finish()))
    })
    .await?
    .map_err(|e| ApiError::BadBody(format!("cannot read the body: {e}")))?;
    let verdict =
        tokio::task::spawn_blocking(move || streamed::run(&job, std::io::BufReader::new(spool)))
            .await
            .map_err(|e| ApiError::Internal(format!("import task: {e}")))?;
    let import_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let validated = started.elapsed();
    match verdict? {
        streamed::Verdict::Valid(import, summary) => {
            let hash = hash.map_err(|e| ApiError::BadBody(format!("cannot read the body: {e}")))?;
            let operation = import_operation(&migration_id);
            let idem = idem_key.as_deref().map(|key| Idempotent {
                api_key_id: &caller.key_id,
                operation: &operation,
                key,
                request_hash: &hash,
            });
            let (rows, changed) = (summary.rows, summary.changed());
            let answer = |version: i64| ImportApplied {
                import_id: import_id.clone(),
                rows,
                changed,
                draft_version: version,
            };
            let before_version = import.version() - 1;
            let claim = import
                .commit(&state.store, idem, |version| {
                    (
                        200,
                        serde_json::to_string(&answer(version)).unwrap_or_default(),
                    )
                })
                .await
                .map_err(|e| streamed::version_error(e, expected))?;
            let version = match claim {
                IdempotencyClaim::Fresh(version) => version,
                // The same key raced in concurrently and won.
                IdempotencyClaim::Replay(previous) => return replay(previous, &hash),
            };
            let saved = started.elapsed();
            record(&state, &import_id, &migration_id, true, &[]).await?;
            audit::draft_change_recorded(
                &state,
                &caller,
                AuditAction::DraftImported,
                &migration_id,
                Some(&import_id),
                summary.log.finish(before_version, version),
            )
            .await;
            tracing::info!(
                import_id = %import_id,
                migration_id = %migration_id,
                rows,
                changed,
                check_and_write_ms = validated.as_millis() as u64,
                commit_ms = (saved - validated).as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "csv import applied"
            );
            Ok(HttpResponse::Ok()
                .insert_header((header::ETAG, format!("\"d{version}\"")))
                .json(answer(version)))
        }
        streamed::Verdict::TooLarge { limit_name, limit } => Err(ApiError::LimitExceeded {
            name: limit_name,
            limit,
        }),
        streamed::Verdict::Invalid(violations) => {
            record(&state, &import_id, &migration_id, false, &violations).await?;
            Err(ApiError::InvalidCsv {
                violations,
                import_id,
            })
        }
    }
}

/// The error report as the CSV a migrator downloads, rendered once at import.
fn report_csv(errors: &[RuleViolation]) -> Result<String, ApiError> {
    let mut out = Vec::new();
    write_error_report_csv(errors, &mut out).map_err(|e| ApiError::Internal(e.to_string()))?;
    // The report quotes the offending values, which may hold a NUL byte:
    // PostgreSQL text cannot store one, and a reader is better served by a
    // visible replacement character anyway.
    let text = String::from_utf8_lossy(&out).replace('\0', "\u{FFFD}");
    Ok(text)
}

async fn record(
    state: &AppState,
    id: &str,
    migration_id: &str,
    applied: bool,
    errors: &[RuleViolation],
) -> Result<(), ApiError> {
    state
        .store
        .record_import(&ImportRecord {
            id: id.to_owned(),
            migration_id: migration_id.to_owned(),
            created_at: String::new(),
            applied,
            error_count: errors.len() as i64,
            report_csv: report_csv(errors)?,
        })
        .await?;
    Ok(())
}

/// The error report of an import attempt as CSV (row, column, value, code, message).
#[utoipa::path(
    tag = "licences",
    params(
        ("id" = String, Path, description = "Migration id (UUID)"),
        ("import_id" = String, Path, description = "Import id from the 422 answer"),
    ),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/imports/{import_id}/errors.csv")]
pub async fn import_errors(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (id, import_id) = path.into_inner();
    let m = visible_migration(&state, &caller, &id).await?;
    let import_id = parse_id(&import_id, "import")?;
    let record = match state.store.get_import(&import_id).await? {
        Some(r) if r.migration_id == m.id => r,
        _ => return Err(ApiError::NotFound("import")),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"import-{import_id}-errors.csv\""),
        ))
        .body(record.report_csv))
}
