//! `PUT /v1/migrations/{id}/manifest`: the document manifest, streamed.
//!
//! Two passes, so that the database is only touched by a manifest known to
//! be good, and at disk speed rather than the client's network speed (an open
//! replacement transaction holds SQLite's single write lock, and a slow
//! upload must not stall every job's progress writes):
//!
//! 1. the body is checked on a blocking thread as it arrives
//!    (`parse_streamed` + `ManifestRows`) and spooled to a temporary file;
//!    any bad row or limit answers 413/422 and nothing is stored;
//! 2. the spooled file is read again and written, in batches, into one
//!    replacement transaction.
//!
//! Memory stays flat: a few batches in flight plus the parser's
//! duplicate-id fingerprints.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use actix_web::{HttpRequest, HttpResponse, put, web};
use ferry_domain::manifest::{
    ManifestError, ManifestFormat, ManifestLimits, ManifestRow, ManifestRows, codes,
};
use ferry_domain::{FieldError, MigrationState, Permission};
use ferry_store::{ManifestOpen, ManifestWriter, StoreError};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;
use crate::stream::parse_streamed;

/// Rows handed from the parser to the database writer at a time.
const BATCH_ROWS: usize = 1000;
/// Bad rows listed in a 422; the rest are counted. A broken export can have
/// millions, and nobody reads past the first screens.
const LISTED_ERRORS: usize = 100;
/// Largest document: S3's object size limit (5 TiB). It also keeps sizes and
/// their sums inside the databases' 64-bit signed integers.
const MAX_DOCUMENT_BYTES: u64 = 5 << 40;

/// What a manifest upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestSummaryView {
    /// Documents in the manifest, all `pending`.
    pub documents: i64,
    /// Sum of their sizes.
    pub bytes: i64,
}

/// Upload the document manifest: CSV (`text/csv`, header
/// `document_id,path,size,sha256` with `sha256` optional) or NDJSON
/// (`application/x-ndjson`, one object per line with those keys).
///
/// Replaces the previous manifest while the migration is `draft` or
/// `ready`. Every path must stay below the archive root: `..`, absolute paths,
/// backslashes, percent-encoded separators or dots and control characters are
/// rejected. Any bad row answers 422 listing the rows (`line N: field`, code),
/// more rows than the limit 413; either way nothing is stored.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson"))),
    responses(
        (status = 200, body = ManifestSummaryView),
        (status = 400, description = "the body cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the migration is past `ready`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "too many rows or bytes; the problem names the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad rows, each named by line, field and code", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/migrations/{id}/manifest")]
pub async fn put_manifest(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let m = visible_migration(&state, &caller, &id).await?;
    if !matches!(m.state, MigrationState::Draft | MigrationState::Ready) {
        return Err(ApiError::ManifestLocked(m.state));
    }
    let format = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(ManifestFormat::from_content_type)
        .ok_or(ApiError::UnsupportedMediaType)?;
    let limits = state.settings.manifest_limits;
    let (spool, file) = Spool::create().map_err(|e| ApiError::Internal(format!("spool: {e}")))?;
    let (report, file) = parse_streamed(payload, state.settings.manifest_max_bytes, move |r| {
        let mut tee = Tee {
            inner: r,
            out: BufWriter::new(file),
            failed: None,
        };
        let report = check_manifest(format, &mut tee, limits);
        let file = match tee.failed {
            Some(e) => Err(e),
            None => tee.out.into_inner().map_err(|e| e.into_error()),
        };
        (report, file)
    })
    .await?;
    let file = file.map_err(|e| ApiError::Internal(format!("spooling the manifest: {e}")))?;
    report.into_result()?;

    let writer = match state.store.open_manifest(&m.id).await? {
        ManifestOpen::Open(w) => w,
        ManifestOpen::Locked(now) => return Err(ApiError::ManifestLocked(now)),
    };
    let (tx, rx) = mpsc::channel::<Vec<ManifestRow>>(4);
    let reread = tokio::task::spawn_blocking(move || load_rows(format, file, limits, tx));
    let (reread, (writer, written)) = tokio::join!(reread, write_batches(writer, rx));
    drop(spool);
    let outcome = match (reread, written) {
        (Err(e), _) => Err(ApiError::Internal(format!("manifest reader: {e}"))),
        (Ok(Err(e)), _) => Err(ApiError::Internal(format!("re-reading the manifest: {e}"))),
        (Ok(Ok(())), Err(e)) => Err(e.into()),
        (Ok(Ok(())), Ok(())) => Ok(()),
    };
    if let Err(e) = outcome {
        // Dropping would roll back too; an explicit rollback frees the
        // connection (and SQLite's write lock) at once.
        if let Err(rb) = writer.rollback().await {
            tracing::warn!(error = %rb, "rolling back a rejected manifest failed");
        }
        return Err(e);
    }
    let summary = writer.commit().await?;
    tracing::info!(migration_id = %m.id, documents = summary.documents, bytes = summary.bytes, "manifest stored");
    Ok(HttpResponse::Ok().json(ManifestSummaryView {
        documents: summary.documents,
        bytes: summary.bytes,
    }))
}

async fn write_batches(
    mut writer: ManifestWriter,
    mut rx: mpsc::Receiver<Vec<ManifestRow>>,
) -> (ManifestWriter, Result<(), StoreError>) {
    while let Some(batch) = rx.recv().await {
        if let Err(e) = writer.insert(&batch).await {
            // Dropping `rx` stops the parser at its next batch.
            return (writer, Err(e));
        }
    }
    (writer, Ok(()))
}

/// Everything wrong with a manifest, as far as it was read.
#[derive(Default)]
struct Report {
    listed: Vec<FieldError>,
    bad_rows: u64,
    fatal: Option<ManifestError>,
}

impl Report {
    fn bad_row(&mut self, line: u64, error: FieldError) {
        self.bad_rows += 1;
        if self.listed.len() < LISTED_ERRORS {
            self.listed.push(FieldError::new(
                format!("line {line}: {}", error.field),
                error.code,
                error.message,
            ));
        }
    }

    fn into_result(mut self) -> Result<(), ApiError> {
        match self.fatal.take() {
            Some(ManifestError::TooManyRows { limit }) => {
                return Err(ApiError::LimitExceeded {
                    name: "max_rows",
                    limit,
                });
            }
            Some(ManifestError::Malformed {
                line,
                code,
                message,
            }) => self
                .listed
                .push(FieldError::new(format!("line {line}"), code, message)),
            Some(ManifestError::Row { line, error }) => self.bad_row(line, error),
            None => {}
        }
        let unlisted = self.bad_rows.saturating_sub(LISTED_ERRORS as u64);
        if unlisted > 0 {
            self.listed.push(FieldError::new(
                "manifest",
                "more_errors",
                format!("{unlisted} more bad row(s) are not listed"),
            ));
        }
        if self.listed.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.listed))
        }
    }
}

/// Pass 1, on the blocking thread: reads every row and collects every
/// error (the reader spools what it reads).
fn check_manifest(format: ManifestFormat, reader: impl Read, limits: ManifestLimits) -> Report {
    let mut report = Report::default();
    for item in ManifestRows::new(format, reader, limits) {
        match item {
            Ok(row) if row.size > MAX_DOCUMENT_BYTES => report.bad_row(row.line, too_large()),
            Ok(_) => {}
            Err(ManifestError::Row { line, error }) => report.bad_row(line, error),
            Err(fatal) => {
                report.fatal = Some(fatal);
                break;
            }
        }
    }
    report
}

fn too_large() -> FieldError {
    FieldError::new(
        "size",
        codes::INVALID_SIZE,
        format!("a document has at most {MAX_DOCUMENT_BYTES} bytes (5 TiB)"),
    )
}

/// Pass 2, on a blocking thread: the spooled manifest, known to be good, in
/// batches to the writer.
fn load_rows(
    format: ManifestFormat,
    mut file: File,
    limits: ManifestLimits,
    tx: mpsc::Sender<Vec<ManifestRow>>,
) -> Result<(), String> {
    file.rewind().map_err(|e| e.to_string())?;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for item in ManifestRows::new(format, BufReader::new(file), limits) {
        let row = item.map_err(|e| e.to_string())?;
        if row.size > MAX_DOCUMENT_BYTES {
            return Err(format!("line {}: size over the limit", row.line));
        }
        batch.push(row);
        if batch.len() == BATCH_ROWS && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
            // The writer failed; its error is the answer.
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

/// A `Read` that copies what it reads to `out` (the spool file). A write
/// error ends the reading and is kept, to answer 500 rather than blame the
/// manifest.
struct Tee<R> {
    inner: R,
    out: BufWriter<File>,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let kind = e.kind();
            self.failed = Some(e);
            return Err(io::Error::new(kind, "cannot spool the manifest"));
        }
        Ok(n)
    }
}

/// A temporary file for the spooled manifest, removed when dropped.
struct Spool {
    path: PathBuf,
}

impl Spool {
    fn create() -> io::Result<(Spool, File)> {
        let path = std::env::temp_dir().join(format!(
            "ferry-manifest-{}.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((Spool { path }, file))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
