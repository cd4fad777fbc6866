//! The licence half of a migration, part 1: roster, catalogue, overview and
//! the user list. Every rule is in `ferry_domain::licensing`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, put, web};
use ferry_domain::licensing::{
    Catalogue, CatalogueInput, CsvFailure, Draft, Overview, Roster, RosterUserInput,
    SatelliteInput, check_satellites, overview_from, stream_roster_csv, validate_assignments,
};
use ferry_domain::{Email, MigrationState, Permission};
use ferry_store::MigrationRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::json_body;
use crate::problem::{ApiError, Problem};
use crate::routes::migrations::visible_migration;
use crate::state::AppState;
use crate::stream::{content_type_is, parse_streamed};
use ferry_app::records;

/// Everything the licence rules look at, loaded once per request.
pub(crate) struct Licensing {
    pub migration: MigrationRecord,
    pub roster: Arc<Roster>,
    pub catalogue: Catalogue,
    pub draft: Draft,
}

impl Licensing {
    /// The acting migrator: the migration's migrator contact, who must keep a
    /// licence (API keys carry a role, not a person).
    pub fn acting(&self) -> &Email {
        &self.migration.migrator_email
    }

    pub fn require_draft(&self) -> Result<(), ApiError> {
        require_draft(&self.migration)
    }
}

pub(crate) fn require_draft(m: &MigrationRecord) -> Result<(), ApiError> {
    if m.state == MigrationState::Draft {
        Ok(())
    } else {
        Err(ApiError::NotEditable(m.state))
    }
}

/// The migration's catalogue, or the default one until it is set.
pub(crate) async fn load_catalogue(
    state: &AppState,
    migration_id: &str,
) -> Result<Catalogue, ApiError> {
    Ok(state
        .store
        .get_catalogue(migration_id)
        .await?
        .unwrap_or_else(Catalogue::default_catalogue))
}

pub(crate) async fn load_licensing(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Licensing, ApiError> {
    let migration = visible_migration(state, caller, id).await?;
    let generation = state.store.roster_generation(&migration.id).await?;
    let roster = match state.rosters.get(&migration.id, generation) {
        Some(roster) => roster,
        None => {
            let started = std::time::Instant::now();
            let (users, sats) = state.store.load_roster(&migration.id).await?;
            let read = started.elapsed();
            let roster = Roster::from_inputs(&users, &sats).map_err(|e| {
                ApiError::Internal(format!("stored roster invalid: {} rows", e.len()))
            })?;
            drop(users);
            // A cache miss on a large roster costs seconds: worth a log line.
            tracing::info!(
                migration_id = %migration.id,
                users = roster.users().len(),
                read_ms = read.as_millis() as u64,
                build_ms = (started.elapsed() - read).as_millis() as u64,
                "roster loaded into the cache"
            );
            let roster = Arc::new(roster);
            state.rosters.put(&migration.id, generation, roster.clone());
            roster
        }
    };
    let catalogue = load_catalogue(state, &migration.id).await?;
    let draft = state.store.load_draft(&migration.id).await?;
    Ok(Licensing {
        migration,
        roster,
        catalogue,
        draft,
    })
}

/// A roster upload as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RosterUpload {
    pub users: Vec<RosterUserInput>,
    #[serde(default)]
    pub satellites: Vec<SatelliteInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RosterSummary {
    pub users: usize,
    pub active_users: usize,
    pub satellites: usize,
    /// The draft's new version (draft entries of removed users are dropped).
    pub draft_version: i64,
}

/// Load the source's users (and satellites): CSV (`text/csv`, columns
/// `user_id, full_name, emails, group, position, is_admin, old_license,
/// old_addons, on_travel, active`) or JSON. Replaces the roster while the
/// migration is a draft; a CSV upload keeps the satellites (they come as a
/// second CSV file: `PUT …/roster/satellites`). A card's addresses may be
/// missing or invalid: that is a fact about the source, so the roster
/// loads, and pre-flight names the users who need a user name written.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    request_body(content((RosterUpload = "application/json"), (String = "text/csv"))),
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
#[put("/migrations/{id}/roster")]
pub async fn put_roster(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    // Not `load_licensing`: the roster being replaced is never read whole.
    let m = visible_migration(&state, &caller, &id).await?;
    require_draft(&m)?;
    let limits = state.settings.csv_limits;
    let (mut feed, writer) = ferry_app::roster::start(&state.store, &m.id);
    let (satellites, errors) = if content_type_is(&req, &["text/csv", "application/csv"]) {
        let (read, mut errors) = parse_streamed(payload, limits.max_bytes, move |r| {
            let read = stream_roster_csv(r, limits, |u| feed.push(u));
            (read, feed.finish())
        })
        .await?;
        match read {
            Ok(()) => {}
            Err(CsvFailure::Invalid(mut rows)) => errors.append(&mut rows),
            Err(too_large) => return Err(roster_csv_failure(too_large)),
        }
        (None, errors)
    } else if content_type_is(&req, &["application/json"]) {
        let max = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
        let (upload, _) = json_body::<RosterUpload>(&req, payload, max).await?;
        if upload.users.len() as u64 > limits.max_rows {
            return Err(ApiError::LimitExceeded {
                name: "max_rows",
                limit: limits.max_rows,
            });
        }
        let (satellites, mut errors) = match check_satellites(&upload.satellites) {
            Ok(s) => (s, Vec::new()),
            Err(rows) => (Vec::new(), rows),
        };
        let users = upload.users;
        let mut refused = tokio::task::spawn_blocking(move || {
            users.into_iter().for_each(|u| feed.push(u));
            feed.finish()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("roster check stopped: {e}")))?;
        refused.append(&mut errors);
        (Some(satellites), refused)
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let end = ferry_app::roster::Ending {
        migration_id: &m.id,
        actor: &caller.key_id,
        satellites: satellites.as_deref(),
        errors,
    };
    let done = ferry_app::roster::finish(&state.store, writer, end)
        .await
        .map_err(roster_failure)?;
    Ok(HttpResponse::Ok().json(RosterSummary::of(&done)))
}

impl RosterSummary {
    pub(crate) fn of(r: &ferry_store::RosterReplaced) -> Self {
        Self {
            users: r.users,
            active_users: r.active_users,
            satellites: r.satellites,
            draft_version: r.draft_version,
        }
    }
}

pub(crate) fn roster_failure(e: ferry_app::RosterError) -> ApiError {
    match e {
        ferry_app::RosterError::Invalid(rows) => roster_errors(rows),
        ferry_app::RosterError::Store(s) => s.into(),
    }
}

/// A refused roster or satellites CSV: 413 for a limit, else its rows.
pub(crate) fn roster_csv_failure(f: CsvFailure<ferry_domain::licensing::RowError>) -> ApiError {
    match f {
        CsvFailure::TooLarge { limit_name, limit } => ApiError::LimitExceeded {
            name: limit_name,
            limit,
        },
        CsvFailure::Invalid(rows) => roster_errors(rows),
    }
}

pub(crate) fn roster_errors(rows: Vec<ferry_domain::licensing::RowError>) -> ApiError {
    ApiError::Validation(
        rows.into_iter()
            .map(|r| {
                let field = match r.row {
                    Some(row) => format!("row {row}: {}", r.field),
                    None => r.field.clone(),
                };
                ferry_domain::FieldError::new(
                    field,
                    r.code,
                    format!("{} (value '{}')", r.message, r.value),
                )
            })
            .collect(),
    )
}

/// The plans and add-ons of the target tenant with the contract's capacity.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = CatalogueInput),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/catalogue")]
pub async fn get_catalogue(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    // Only the catalogue: not the roster and draft the other licence
    // requests need (a million rows each for a large tenant).
    let m = visible_migration(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(load_catalogue(&state, &m.id).await?.to_input()))
}

/// Set the catalogue and contract (default: `Admin` and `Engage` carry
/// add-ons). The current draft must still fit it.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    request_body = CatalogueInput,
    responses(
        (status = 200, body = CatalogueInput),
        (status = 400, body = Problem, content_type = "application/problem+json"),
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
#[put("/migrations/{id}/catalogue")]
pub async fn put_catalogue(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::OperateMigration)?;
    let l = load_licensing(&state, &caller, &id).await?;
    l.require_draft()?;
    let (input, _) =
        json_body::<CatalogueInput>(&req, payload, state.settings.max_body_bytes).await?;
    let catalogue = Catalogue::parse(&input).map_err(|e| ApiError::Validation(e.0))?;
    state
        .store
        .put_catalogue(
            &l.migration.id,
            &catalogue,
            records::catalogue_changed(
                &caller.key_id,
                &l.migration.id,
                &l.catalogue.to_input(),
                &catalogue.to_input(),
            ),
        )
        .await?;
    Ok(HttpResponse::Ok().json(catalogue.to_input()))
}

/// Per plan and add-on: holders today, assigned in the draft, capacity, remaining.
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)")),
    responses(
        (status = 200, body = Overview),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/overview")]
pub async fn get_overview(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    // From the stored counts, not the roster and draft: a few rows however
    // many users there are.
    let m = visible_migration(&state, &caller, &id).await?;
    let catalogue = load_catalogue(&state, &m.id).await?;
    let (holdings, tally) = state.store.overview_counts(&m.id).await?;
    Ok(HttpResponse::Ok().json(overview_from(&holdings, &tally, &catalogue)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Free text over every field of the card: id, name, addresses, group,
    /// position, licence and add-ons held today (case-insensitive).
    pub q: Option<String>,
    /// Only users with this plan in the draft; `none` for users without one.
    pub plan: Option<String>,
    /// Only users with (true) or without (false) a problem.
    pub has_problems: Option<bool>,
    /// Only administrators of the source (true) or only the others (false).
    pub is_admin: Option<bool>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,9}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A source user with their draft assignment and problems.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub full_name: String,
    /// The addresses that can be a login (user name choices).
    pub emails: Vec<String>,
    /// The card's other addresses, as written: no mail system takes them as
    /// a login.
    pub unusable_emails: Vec<String>,
    pub group: String,
    pub position: String,
    pub is_admin: bool,
    pub active: bool,
    pub on_travel: bool,
    pub old_license: Option<String>,
    pub old_addons: Vec<String>,
    pub assignment: ferry_domain::licensing::Assignment,
    /// Rule codes broken by this user's assignment, plus `on_travel`, and
    /// `no_usable_email` for an active user whose card has no address that
    /// can be a login and who has no user name yet.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The roster's users with filters and cursor pagination (roster order).
#[utoipa::path(
    tag = "licences",
    params(("id" = String, Path, description = "Migration id (UUID)"), UserQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/migrations/{id}/users")]
pub async fn list_users(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let l = load_licensing(&state, &caller, &id).await?;
    let q = query.into_inner();
    let max = state.settings.max_page_size;
    let limit = q.limit.unwrap_or(50.min(max));
    if limit == 0 || limit > max {
        return Err(ApiError::field(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ));
    }
    let start = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            // A cursor past the end (the roster shrank) is an empty page.
            .map(|n| n.min(l.roster.users().len()))
            .ok_or_else(|| {
                ApiError::field(
                    "cursor",
                    "invalid_cursor",
                    "use the next_cursor of a previous page",
                )
            })?,
    };
    let violations =
        validate_assignments(&l.roster, &l.catalogue, &l.draft.assignments, l.acting());
    let needle = q.q.as_deref().map(str::to_lowercase);
    let none = Default::default();
    let mut items = Vec::new();
    let mut next_cursor = None;
    for (pos, user) in l.roster.users().iter().enumerate().skip(start) {
        let a: &ferry_domain::licensing::Assignment =
            l.draft.assignments.get(user.user_id()).unwrap_or(&none);
        let mut problems: Vec<String> = violations
            .iter()
            .filter(|v| v.user_id.as_deref() == Some(user.user_id()))
            .map(|v| v.code.to_owned())
            .collect();
        if user.on_travel() {
            problems.push("on_travel".to_owned());
        }
        if user.active() && user.emails().is_empty() && a.username.is_none() {
            problems.push(ferry_domain::licensing::codes::NO_USABLE_EMAIL.to_owned());
        }
        if let Some(n) = &needle {
            let hay = [
                user.user_id(),
                user.full_name().as_str(),
                user.group(),
                user.position(),
                user.old_license().unwrap_or(""),
            ];
            let hit = hay.iter().any(|h| h.to_lowercase().contains(n.as_str()))
                || user
                    .old_addons()
                    .iter()
                    .any(|a| a.to_lowercase().contains(n.as_str()))
                || user
                    .addresses_as_written()
                    .any(|e| e.to_lowercase().contains(n.as_str()));
            if !hit {
                continue;
            }
        }
        if q.is_admin.is_some_and(|want| want != user.is_admin()) {
            continue;
        }
        if let Some(p) = &q.plan {
            let matches = match &a.plan {
                Some(plan) => plan.eq_ignore_ascii_case(p),
                None => p.eq_ignore_ascii_case("none"),
            };
            if !matches {
                continue;
            }
        }
        if q.has_problems
            .is_some_and(|want| want == problems.is_empty())
        {
            continue;
        }
        if items.len() == limit as usize {
            next_cursor = Some(pos.to_string());
            break;
        }
        items.push(UserView {
            user_id: user.user_id().to_owned(),
            full_name: user.full_name().to_string(),
            emails: user.emails().iter().map(|e| e.to_string()).collect(),
            unusable_emails: user.unusable_emails().to_vec(),
            group: user.group().to_owned(),
            position: user.position().to_owned(),
            is_admin: user.is_admin(),
            active: user.active(),
            on_travel: user.on_travel(),
            old_license: user.old_license().map(str::to_owned),
            old_addons: user.old_addons().to_vec(),
            assignment: a.clone(),
            problems,
        });
    }
    Ok(HttpResponse::Ok().json(UserPage { items, next_cursor }))
}
