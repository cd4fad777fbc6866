//! The satellites of a roster on their own: a CSV roster carries users only,
//! so a migrator who keeps the source in spreadsheets loads the remote
//! offices as a second file (JSON works too). The users stay as they are.

use actix_web::{HttpRequest, HttpResponse, put, web};
use ferry_domain::Permission;
use ferry_domain::licensing::{SatelliteInput, check_satellites, parse_satellites_csv};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::extract::json_body;
use crate::problem::{ApiError, Problem};
use crate::routes::licensing::{RosterSummary, require_draft, roster_csv_failure, roster_errors};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;
use crate::stream::{content_type_is, parse_streamed};
use ferry_app::records;

/// The satellites as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SatellitesUpload {
    pub satellites: Vec<SatelliteInput>,
}

/// Replace the roster's satellites: CSV (`text/csv`, columns `name` and
/// `active`, `active` defaulting to true) or JSON. The users and the draft
/// stay as they are; the migration must be a draft.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    request_body(content((SatellitesUpload = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, body = RosterSummary),
        (status = 400, description = "the body is not JSON or cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/migrations/{id}/roster/satellites")]
pub async fn put_satellites(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let m = visible_migration(&state, &caller, &id).await?;
    require_draft(&m)?;
    let limits = state.settings.csv_limits;
    let satellites = if content_type_is(&req, &["text/csv", "application/csv"]) {
        parse_streamed(payload, limits.max_bytes, move |r| {
            parse_satellites_csv(r, limits)
        })
        .await?
        .map_err(roster_csv_failure)?
    } else if content_type_is(&req, &["application/json"]) {
        let max = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
        let (upload, _) = json_body::<SatellitesUpload>(&req, payload, max).await?;
        if upload.satellites.len() as u64 > limits.max_rows {
            return Err(ApiError::LimitExceeded {
                name: "max_rows",
                limit: limits.max_rows,
            });
        }
        upload.satellites
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let satellites = check_satellites(&satellites).map_err(roster_errors)?;
    let actor = caller.key_id.as_str();
    let done = state
        .store
        .replace_satellites(&m.id, &satellites, |r| {
            records::roster_uploaded(actor, &m.id, r)
        })
        .await?;
    Ok(HttpResponse::Ok().json(RosterSummary::of(&done)))
}
