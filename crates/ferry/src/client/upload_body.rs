//! Files sent to the server are streamed, never read whole: a manifest may
//! be a gigabyte. A streamed body cannot be replayed, so uploads are not
//! retried (the server applies them all or nothing, so re-running the
//! command is always safe).

use std::path::Path;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, RequestBuilder};
use tokio_util::io::ReaderStream;

use super::exit::Failure;

/// `req` with the file (or stdin for `-`) as its body of `content_type`.
pub async fn with_file(
    req: RequestBuilder,
    path: &Path,
    content_type: &str,
) -> Result<RequestBuilder, Failure> {
    let req = req.header(CONTENT_TYPE, content_type);
    if path.as_os_str() == "-" {
        return Ok(req.body(Body::wrap_stream(ReaderStream::new(tokio::io::stdin()))));
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?
        .len();
    // The length up front lets the server refuse an oversized file (413)
    // before it is sent.
    Ok(req
        .header(CONTENT_LENGTH, len)
        .body(Body::wrap_stream(ReaderStream::new(file))))
}

/// Whether the file name ends with one of `exts` (case-insensitive).
pub fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}
