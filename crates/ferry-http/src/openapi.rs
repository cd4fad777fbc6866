//! The OpenAPI document, generated from the handlers. `ferry openapi` prints
//! it, `/openapi.json` serves it, and a test fails when the committed
//! `openapi/ferry.json` drifts from it.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::routes::{
    assignments, audit, documents, health, jobs, keys, licensing, me, migrations, precopy, review,
    satellites, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry",
        description = "Moves an on-premises CRM installation (database, documents, licences) into a cloud tenant. \
            Errors are RFC 9457 problem documents with a stable `code`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "migrations", description = "Open, prepare and drive migrations"),
        (name = "licences", description = "Roster, catalogue, assignment draft, CSV round trip, review and pre-flight"),
        (name = "documents", description = "Document manifest, per-document outcomes and the source's freeze"),
        (name = "jobs", description = "Long work run by workers; poll for progress"),
        (name = "keys", description = "API keys (admin)"),
        (name = "audit", description = "Hash-chained audit trail of every decision"),
        (name = "webhooks", description = "Signed event deliveries to subscribers (admin)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `ferry keys create` or `POST /v1/keys`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route of the API, registered once for both the server and the spec.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .map(crate::routes::ui::register) // `/ui`: a page, not in the document
        .service(
            scope::scope("/v1")
                .service(migrations::create_migration)
                .service(migrations::list_migrations)
                .service(migrations::get_migration)
                .service(migrations::cancel_migration)
                .service(review::commit_migration)
                .service(migrations::reopen_migration)
                .service(migrations::complete_migration)
                .service(migrations::start_migration)
                .service(precopy::start_precopy)
                .service(precopy::get_precopy)
                .service(migrations::list_migration_jobs)
                .service(licensing::put_roster)
                .service(satellites::put_satellites)
                .service(licensing::list_users)
                .service(licensing::get_catalogue)
                .service(licensing::put_catalogue)
                .service(licensing::get_overview)
                .service(assignments::get_draft)
                .service(assignments::edit_draft)
                .service(assignments::export_csv)
                .service(assignments::import_csv)
                .service(assignments::import_errors)
                .service(review::get_review)
                .service(review::get_preflight)
                .service(documents::manifest::put_manifest)
                .service(documents::list_documents)
                .service(documents::ledger_csv)
                .service(documents::ledger_ndjson)
                .service(documents::get_freeze)
                .service(jobs::get_job)
                .service(jobs::cancel_job)
                .service(me::get_me)
                .service(keys::create_key)
                .service(keys::list_keys)
                .service(keys::revoke_key)
                .service(audit::migration_audit)
                .service(audit::list_audit)
                .service(audit::verify_audit)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::delete_webhook)
                .service(webhooks::list_deliveries)
                .service(webhooks::redeliver),
        );
}

/// The document as the server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    doc
}

/// The document as committed in `openapi/ferry.json`.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
