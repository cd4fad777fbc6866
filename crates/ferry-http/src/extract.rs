//! Request parsing shared by handlers: bodies, ids, conditional and
//! idempotency headers. Each failure becomes a problem with its own code.

use actix_web::http::header;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use ferry_domain::FieldError;
use ferry_store::IdempotencyRecord;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

/// Reads a JSON body of at most `limit` bytes. Read by hand (not with
/// `web::Json`) so the raw bytes can be hashed for `Idempotency-Key` and every
/// failure is a problem document.
pub async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<(T, web::Bytes), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit as u64));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadJson(format!("cannot read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit as u64));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let value = serde_json::from_slice::<T>(&body).map_err(json_error)?;
    Ok((value, body))
}

/// Syntax errors are 400; a well-formed body of the wrong shape (missing or
/// unknown field, wrong type) is 422 naming where it went wrong.
fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::Validation(vec![FieldError::new(
            "body",
            "invalid_body",
            format!("{e}"),
        )]),
        _ => ApiError::BadJson(format!("the body is not valid JSON: {e}")),
    }
}

/// Ids are UUIDs; anything else cannot name a resource, so it is a 404 like
/// any other unknown id.
pub fn parse_id(raw: &str, what: &'static str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound(what))
}

/// The caller's `Idempotency-Key`, if sent, with a hash of the body.
pub fn idempotency_key(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<(String, String)>, ApiError> {
    Ok(idempotency_key_header(req)?.map(|key| (key, hex::encode(Sha256::digest(body)))))
}

/// The caller's `Idempotency-Key`, if sent (for streamed bodies, hashed as
/// they are read: see `stream::HashingReader`).
pub fn idempotency_key_header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadHeader("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        })?;
    Ok(Some(key.to_owned()))
}

/// The answer to a repeated `Idempotency-Key`: the stored first answer with
/// `Idempotent-Replayed: true`; 422 when the body differs, 409 while the
/// first call is still in flight.
pub fn replay(previous: IdempotencyRecord, request_hash: &str) -> Result<HttpResponse, ApiError> {
    if previous.request_hash != request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    if previous.status == 0 {
        return Err(ApiError::IdempotencyInProgress);
    }
    let status = actix_web::http::StatusCode::from_u16(previous.status)
        .map_err(|_| ApiError::Internal(format!("stored status {}", previous.status)))?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(previous.body))
}

/// `If-Match: "<version>"` (or `W/"<version>"`), as a version number.
pub fn if_match_version(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    // `*` matches any current version (RFC 9110 §13.1.1).
    if value.as_bytes() == b"*" {
        return Ok(None);
    }
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        // A migration's `GET` ETag is `"<version>-<progress>"` once it has a
        // job; only the version matters to a precondition.
        .and_then(|v| v.split('-').next().and_then(|v| v.parse::<i64>().ok()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadHeader("If-Match must be an ETag from a previous answer".into())
        })
}

/// Whether the client's `If-None-Match` already names `etag`.
pub fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}
