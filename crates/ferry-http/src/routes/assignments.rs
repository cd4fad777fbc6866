//! The licence half of a migration, part 2: the draft assignment — manual
//! bulk edit, CSV export and all-or-nothing CSV import with its error report.

use std::io::Seek;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use ferry_domain::Permission;
use ferry_domain::licensing::{BulkEdit, Draft, apply_bulk_edit, write_assignment_csv};
use ferry_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::extract::{idempotency_key_header, json_body, not_modified, parse_id, replay};
use crate::problem::{ApiError, Problem};
use crate::routes::licensing::{load_catalogue, load_licensing, require_draft};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;
use crate::stream::{HashingReader, content_type_is, parse_streamed};
use ferry_app::import::{self, CsvImport, ImportKey, Imported};
use ferry_app::records;

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
        l.acting(),
    )
    .map_err(ApiError::InvalidAssignment)?;
    let version = state
        .store
        .save_draft(&l.migration.id, Some(expected), &next, |version| {
            records::draft_edited(&caller.key_id, &l.migration.id, &l.draft, &next, version)
        })
        .await
        .map_err(|e| stale(e, expected))?;
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

impl From<&import::Applied> for ImportApplied {
    fn from(a: &import::Applied) -> Self {
        ImportApplied {
            import_id: a.import_id.clone(),
            rows: a.rows,
            changed: a.changed,
            draft_version: a.draft_version,
        }
    }
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
            .idempotency_record(&caller.key_id, &import::operation(&m.id), key)
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
    let m = visible_migration(&state, &caller, &id).await?;
    require_draft(&m)?;
    let expected = if req.headers().contains_key(header::IF_MATCH) {
        if_match_version(&req)?
    } else {
        None
    };
    let job = CsvImport {
        store: state.store.clone(),
        migration_id: m.id.clone(),
        expected,
        catalogue: load_catalogue(&state, &m.id).await?,
        acting: m.migrator_email.clone(),
        limits,
        actor: caller.key_id.clone(),
    };
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
    // The hash is only needed (and a read error only matters) once the
    // file applied under a key; a refused file answers its violations.
    let hash = hash.map_err(|e| e.to_string());
    let key = match (&idem_key, &hash) {
        (Some(key), Ok(h)) => Some(ImportKey {
            key,
            request_hash: h,
        }),
        (Some(_), Err(e)) => return Err(ApiError::BadBody(format!("cannot read the body: {e}"))),
        (None, _) => None,
    };
    let outcome = import::import_csv(job, spool, key, |applied| {
        (
            200,
            serde_json::to_string(&ImportApplied::from(applied)).unwrap_or_default(),
        )
    })
    .await?;
    match outcome {
        Imported::Applied(applied) => Ok(HttpResponse::Ok()
            .insert_header((header::ETAG, format!("\"d{}\"", applied.draft_version)))
            .json(ImportApplied::from(&applied))),
        Imported::Replayed(previous) => replay(
            previous,
            hash.as_deref().map_err(|e| ApiError::BadBody(e.clone()))?,
        ),
    }
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
