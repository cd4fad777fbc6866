//! The transfer half of a migration, as clients see it: the manifest upload
//! (in `manifest`), the per-document outcomes (list, CSV and NDJSON ledger)
//! and the freeze that the source's own services poll (SPEC §3.6, §3.8).

pub mod manifest;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use ferry_domain::licensing::neutralise;
use ferry_domain::{FieldError, Permission};
use ferry_store::{DocumentFilter, DocumentRecord, DocumentStatus, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::not_modified;
use crate::problem::{ApiError, Problem};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;

/// Where a document stands; every manifest row is in exactly one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatusView {
    /// Not tried yet.
    Pending,
    /// In the tenant store; `actual_sha256` is what was written.
    Uploaded,
    /// Not in the source archive; a recovery run tries again.
    Missing,
    /// Tried and failed; `reason` says why.
    Failed,
}

impl From<DocumentStatus> for DocumentStatusView {
    fn from(s: DocumentStatus) -> Self {
        match s {
            DocumentStatus::Pending => Self::Pending,
            DocumentStatus::Uploaded => Self::Uploaded,
            DocumentStatus::Missing => Self::Missing,
            DocumentStatus::Failed => Self::Failed,
        }
    }
}

/// One manifest row and its outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub document_id: String,
    /// Relative to the archive root and to `<tenant>/documents/`.
    pub path: String,
    pub size: i64,
    pub status: DocumentStatusView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The manifest's checksum, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_sha256: Option<String>,
    /// SHA-256 of what was written to the tenant store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_sha256: Option<String>,
    pub bytes: i64,
    /// Jobs that tried this document.
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<DocumentRecord> for DocumentView {
    fn from(d: DocumentRecord) -> Self {
        DocumentView {
            document_id: d.document_id,
            path: d.path,
            size: d.size,
            status: d.status.into(),
            reason: d.reason,
            expected_sha256: d.expected_sha256,
            actual_sha256: d.actual_sha256,
            bytes: d.bytes,
            attempts: d.attempts,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DocumentQuery {
    /// Only documents in this state.
    #[param(value_type = Option<DocumentStatusView>)]
    pub status: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn parse_query(q: DocumentQuery, max: u32) -> Result<DocumentFilter, ApiError> {
    let mut errors = Vec::new();
    let status = q.status.as_deref().and_then(|s| {
        s.parse::<DocumentStatus>()
            .map_err(|msg| errors.push(FieldError::new("status", "invalid_status", msg)))
            .ok()
    });
    let after_seq = q.cursor.as_deref().and_then(|c| {
        c.parse::<i64>().ok().filter(|n| *n >= 0).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "invalid_cursor",
                "use the next_cursor of a previous page",
            ));
            None
        })
    });
    let limit = q.limit.unwrap_or(50.min(max));
    if limit == 0 || limit > max {
        errors.push(FieldError::new(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ));
    }
    if errors.is_empty() {
        Ok(DocumentFilter {
            status,
            after_seq,
            limit,
        })
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The manifest's documents with their outcomes, in manifest order, with
/// cursor pagination; `?status=missing` lists what a recovery would try.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Migration id (UUID)"), DocumentQuery),
    responses(
        (status = 200, body = DocumentPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/documents")]
pub async fn list_documents(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let filter = parse_query(query.into_inner(), state.settings.max_page_size)?;
    let page = state.store.list_documents(&m.id, &filter).await?;
    Ok(HttpResponse::Ok().json(DocumentPage {
        items: page.items.into_iter().map(DocumentView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

const LEDGER_HEADER: &str = "document_id,path,size,status,reason,expected_sha256,actual_sha256,bytes,attempts,updated_at\r\n";
/// Rows read from the database per chunk of the streamed ledger.
const LEDGER_PAGE: u32 = 1000;

/// One CSV cell: neutralised against formula injection, quoted if needed.
fn cell(out: &mut String, value: &str) {
    let value = neutralise(value);
    if value.contains([',', '"', '\r', '\n', ';']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&value);
    }
}

fn ledger_rows(docs: &[DocumentRecord]) -> String {
    let mut out = String::with_capacity(docs.len() * 160);
    for d in docs {
        let fields = [
            d.document_id.as_str(),
            d.path.as_str(),
            &d.size.to_string(),
            d.status.as_str(),
            d.reason.as_deref().unwrap_or(""),
            d.expected_sha256.as_deref().unwrap_or(""),
            d.actual_sha256.as_deref().unwrap_or(""),
            &d.bytes.to_string(),
            &d.attempts.to_string(),
            d.updated_at.as_str(),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            cell(&mut out, f);
        }
        out.push_str("\r\n");
    }
    out
}

/// The outcome ledger as CSV: every manifest row, in manifest order, in
/// exactly one state. Streamed page by page, so its size does not matter.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/documents.csv")]
pub async fn ledger_csv(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let header = futures::stream::once(async {
        Ok::<_, ApiError>(Bytes::from_static(LEDGER_HEADER.as_bytes()))
    });
    let rows = ledger_pages(state.store.clone(), m.id.clone(), ledger_rows);
    use futures::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-documents.csv\"", m.tenant),
        ))
        .streaming(header.chain(rows)))
}

/// The whole ledger in manifest order, `LEDGER_PAGE` rows per database
/// round trip, each page rendered by `render`.
fn ledger_pages(
    store: Store,
    migration_id: String,
    render: fn(&[DocumentRecord]) -> String,
) -> impl futures::Stream<Item = Result<Bytes, ApiError>> {
    futures::stream::try_unfold(Some(-1i64), move |after| {
        let (store, migration_id) = (store.clone(), migration_id.clone());
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let filter = DocumentFilter {
                status: None,
                after_seq: Some(after),
                limit: LEDGER_PAGE,
            };
            let page = store.list_documents(&migration_id, &filter).await?;
            let next = page
                .items
                .last()
                .map(|d| d.seq)
                .filter(|_| page.next_cursor.is_some());
            Ok(Some((Bytes::from(render(&page.items)), next)))
        }
    })
}

/// One JSON object per line: the `GET …/documents` item of each row.
fn ledger_ndjson_rows(docs: &[DocumentRecord]) -> String {
    let mut out = String::with_capacity(docs.len() * 200);
    for d in docs {
        // A view of strings and integers always serialises.
        if let Ok(line) = serde_json::to_string(&DocumentView::from(d.clone())) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The outcome ledger as NDJSON: every manifest row, in manifest order, one
/// `DocumentView` object per line. Streamed page by page like the CSV.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = DocumentView, description = "one document per line"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/documents.ndjson")]
pub async fn ledger_ndjson(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let rows = ledger_pages(state.store.clone(), m.id.clone(), ledger_ndjson_rows);
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-documents.ndjson\"", m.tenant),
        ))
        .streaming(rows))
}

/// What the source's own services need to know (SPEC §3.8).
#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeView {
    /// True from the first start until the migration is completed or
    /// cancelled.
    pub frozen: bool,
    /// When the first start froze the source.
    #[schema(format = DateTime)]
    pub since: Option<String>,
    /// The API key id of the latest start.
    pub by: Option<String>,
    /// Why: `upload` or `recovery` (the latest start's job).
    pub reason: Option<String>,
    /// `blocked` while frozen: desktop and service clients must not log in.
    pub desktop_and_service_clients: ClientAccess,
    /// `read_only` while frozen: web clients may log in with a read-only warning.
    pub web_clients: WebAccess,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub lifted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    /// `completed` or `cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAccess {
    Blocked,
    Allowed,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebAccess {
    ReadOnly,
    Normal,
}

/// The freeze, for the source's services to poll. Supports `If-None-Match`
/// (304 when unchanged).
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = FreezeView, headers(("ETag" = String))),
        (status = 304, description = "unchanged since the ETag in If-None-Match"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/freeze")]
pub async fn get_freeze(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let m = visible_migration(&state, &caller, &id).await?;
    let record = state.store.get_freeze(&m.id).await?;
    let frozen = m.state.is_frozen();
    let mut view = FreezeView {
        frozen,
        since: None,
        by: None,
        reason: None,
        desktop_and_service_clients: if frozen {
            ClientAccess::Blocked
        } else {
            ClientAccess::Allowed
        },
        web_clients: if frozen {
            WebAccess::ReadOnly
        } else {
            WebAccess::Normal
        },
        lifted_at: None,
        lifted_by: None,
        lift_reason: None,
    };
    if let Some(r) = record {
        view.since = Some(r.frozen_at);
        view.by = r.frozen_by;
        view.reason = Some(r.reason);
        if !frozen {
            // The lifecycle lifted it; if the process died before noting
            // when, the terminal transition's time is that moment.
            view.lifted_at = r.lifted_at.or_else(|| Some(m.updated_at.clone()));
            view.lifted_by = r.lifted_by;
            view.lift_reason = r.lift_reason.or_else(|| Some(m.state.as_str().to_owned()));
        }
    }
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
