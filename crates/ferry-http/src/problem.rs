//! One error type for the whole API, rendered as RFC 9457
//! `application/problem+json` with a stable machine `code`. Internal causes
//! are logged with their chain and never sent to clients.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use ferry_domain::licensing::{PreflightReport, RuleViolation};
use ferry_domain::{FieldError, IllegalTransition, MigrationState};
use ferry_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI of the problem type: `urn:ferry:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; clients switch on this, not on text.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Every invalid field, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The migration's state, for `illegal_transition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<MigrationState>,
    /// The failing dependency (`database`, `queue`, `tenant_store`), for 503s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency: Option<String>,
    /// The limit that was exceeded, for 413s and limit-related 422s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Which limit, e.g. `max_rows`, for 413s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_name: Option<String>,
    /// Every broken licence rule (row, column, value, rule code, message),
    /// for `invalid_assignment` and `invalid_csv`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<RuleViolation>,
    /// The import attempt whose error report downloads as CSV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    /// The failing pre-flight report, for `preflight_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightReport>,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed Authorization header: use 'Bearer <api key>'")]
    Unauthenticated,
    #[error("the API key is unknown or revoked")]
    BadKey,
    #[error("the role '{0}' may not do this")]
    Forbidden(ferry_domain::Role),
    #[error("this key is limited to tenant '{0}'")]
    TenantForbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no such route")]
    NoRoute,
    #[error("method {0} is not allowed here; see the Allow header")]
    MethodNotAllowed(String),
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    BadBody(String),
    #[error("{0}")]
    BadHeader(String),
    #[error("the request body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the upload exceeds the limit {name} = {limit}")]
    LimitExceeded { name: &'static str, limit: u64 },
    #[error("the assignment breaks {} rule(s); nothing was changed", .0.len())]
    InvalidAssignment(Vec<RuleViolation>),
    #[error("the CSV file has {} error(s); nothing was applied", .violations.len())]
    InvalidCsv {
        violations: Vec<RuleViolation>,
        import_id: String,
    },
    #[error("the pre-flight checks fail; fix the listed items first")]
    PreflightFailed(Box<PreflightReport>),
    #[error("the migration is {0}: its licences can only change while it is a draft")]
    NotEditable(MigrationState),
    #[error(
        "the migration is {0}: its document manifest can only change while it is draft or ready"
    )]
    ManifestLocked(MigrationState),
    #[error("nothing to do: no document is missing or failed")]
    NothingToDo,
    #[error("nothing to copy: every manifest document is in the tenant store already")]
    NothingToCopy,
    #[error(
        "a pre-copy runs while the migration is draft or ready; it is {0} (start it to cut over)"
    )]
    PrecopyNotAllowed(MigrationState),
    #[error("job {0} is still queued or running; cancel it or wait for it to end")]
    JobActive(String),
    #[error("job {0} has already ended")]
    JobEnded(String),
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Transition(#[from] IllegalTransition),
    #[error("tenant '{0}' already has an open migration")]
    TenantTaken(String),
    #[error("the migration changed concurrently; reload and retry")]
    ConcurrentChange,
    #[error("the resource changed since version {0} (If-Match)")]
    PreconditionFailed(i64),
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error("a key cannot revoke itself: revoke it with another admin key")]
    OwnKey,
    #[error("{dependency} is unavailable")]
    Unavailable {
        dependency: &'static str,
        cause: String,
    },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated | ApiError::BadKey => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TenantForbidden(_) => "tenant_forbidden",
            ApiError::NotFound(_) | ApiError::NoRoute => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadJson(_) => "invalid_json",
            ApiError::BadBody(_) => "unreadable_body",
            ApiError::BadQuery(_) => "invalid_query",
            ApiError::BadHeader(_) => "invalid_header",
            ApiError::TooLarge(_) | ApiError::LimitExceeded { .. } => "payload_too_large",
            ApiError::InvalidAssignment(_) => "invalid_assignment",
            ApiError::InvalidCsv { .. } => "invalid_csv",
            ApiError::PreflightFailed(_) => "preflight_failed",
            ApiError::NotEditable(_) => "not_editable",
            ApiError::ManifestLocked(_) => "manifest_locked",
            ApiError::NothingToDo => "nothing_to_do",
            ApiError::NothingToCopy => "nothing_to_copy",
            ApiError::PrecopyNotAllowed(_) => "precopy_not_allowed",
            ApiError::JobActive(_) => "job_active",
            ApiError::JobEnded(_) => "job_ended",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Transition(_) => "illegal_transition",
            ApiError::TenantTaken(_) => "tenant_taken",
            ApiError::ConcurrentChange => "concurrent_change",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::IdempotencyInProgress => "idempotency_in_progress",
            ApiError::OwnKey => "own_key",
            ApiError::Unavailable { .. } => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let mut p = Problem {
            type_uri: format!("urn:ferry:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            errors: Vec::new(),
            current_state: None,
            dependency: None,
            limit: None,
            limit_name: None,
            violations: Vec::new(),
            import_id: None,
            preflight: None,
        };
        match self {
            ApiError::Validation(errors) => p.errors = errors.clone(),
            ApiError::Transition(t) => p.current_state = Some(t.from),
            ApiError::Unavailable { dependency, .. } => {
                p.dependency = Some((*dependency).to_owned())
            }
            ApiError::TooLarge(limit) => p.limit = Some(*limit),
            ApiError::LimitExceeded { name, limit } => {
                p.limit = Some(*limit);
                p.limit_name = Some((*name).to_owned());
            }
            ApiError::InvalidAssignment(v) => p.violations = v.clone(),
            ApiError::InvalidCsv {
                violations,
                import_id,
            } => {
                p.violations = violations.clone();
                p.import_id = Some(import_id.clone());
            }
            ApiError::PreflightFailed(report) => p.preflight = Some((**report).clone()),
            ApiError::NotEditable(state) | ApiError::ManifestLocked(state) => {
                p.current_state = Some(*state)
            }
            _ => {}
        }
        p
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }

    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::BadKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::TenantForbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::OwnKey => StatusCode::CONFLICT,
            ApiError::Validation(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::InvalidAssignment(_)
            | ApiError::InvalidCsv { .. }
            | ApiError::PreflightFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadJson(_)
            | ApiError::BadBody(_)
            | ApiError::BadQuery(_)
            | ApiError::BadHeader(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) | ApiError::LimitExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Transition(_)
            | ApiError::TenantTaken(_)
            | ApiError::ConcurrentChange
            | ApiError::NotEditable(_)
            | ApiError::ManifestLocked(_)
            | ApiError::NothingToDo
            | ApiError::NothingToCopy
            | ApiError::PrecopyNotAllowed(_)
            | ApiError::JobActive(_)
            | ApiError::JobEnded(_)
            | ApiError::IdempotencyInProgress => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(code = self.code(), cause = %cause, "request failed")
            }
            ApiError::Unavailable { dependency, cause } => {
                tracing::warn!(code = self.code(), dependency, cause = %cause, "dependency unavailable")
            }
            _ => tracing::info!(code = self.code(), detail = %self, "request rejected"),
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthenticated | ApiError::BadKey) {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ferry\""),
            ));
        }
        if matches!(self, ApiError::Unavailable { .. }) {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        res.json(self.problem())
    }
}

impl ApiError {
    /// The problem response with an `Allow` header (405).
    pub fn error_response_with_allow(&self, allow: &str) -> HttpResponse {
        let mut res = self.error_response();
        if let Ok(v) = HeaderValue::from_str(allow) {
            res.headers_mut().insert(header::ALLOW, v);
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ApiError::Unavailable {
                dependency: "database",
                cause: e.to_string(),
            };
        }
        match e {
            StoreError::TenantTaken(t) => ApiError::TenantTaken(t),
            StoreError::Transition(t) => ApiError::Transition(t),
            StoreError::JobActive(id) => ApiError::JobActive(id),
            StoreError::NothingToDo => ApiError::NothingToDo,
            StoreError::NothingToCopy => ApiError::NothingToCopy,
            StoreError::PrecopyNotAllowed(s) => ApiError::PrecopyNotAllowed(s),
            StoreError::NotFound => ApiError::NotFound("migration"),
            StoreError::VersionMismatch { .. } => ApiError::ConcurrentChange,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ferry_app::StartError> for ApiError {
    fn from(e: ferry_app::StartError) -> Self {
        match e {
            ferry_app::StartError::QueueUnavailable(q) => q.into(),
            ferry_app::StartError::Store(s) => s.into(),
        }
    }
}

impl From<ferry_app::CancelError> for ApiError {
    fn from(e: ferry_app::CancelError) -> Self {
        match e {
            ferry_app::CancelError::NotFound => ApiError::NotFound("job"),
            ferry_app::CancelError::Ended(id) => ApiError::JobEnded(id),
            ferry_app::CancelError::Store(s) => s.into(),
        }
    }
}

impl From<ferry_app::ImportError> for ApiError {
    fn from(e: ferry_app::ImportError) -> Self {
        use ferry_app::ImportError as E;
        match e {
            E::Stale(v) => ApiError::PreconditionFailed(v),
            E::Invalid {
                import_id,
                violations,
            } => ApiError::InvalidCsv {
                violations,
                import_id,
            },
            E::TooLarge { limit_name, limit } => ApiError::LimitExceeded {
                name: limit_name,
                limit,
            },
            E::Store(s) => s.into(),
            E::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ferry_queue::QueueError> for ApiError {
    fn from(e: ferry_queue::QueueError) -> Self {
        ApiError::Unavailable {
            dependency: "queue",
            cause: e.to_string(),
        }
    }
}
