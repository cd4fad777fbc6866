//! One function per command; this file routes and holds what several share:
//! reading a refused upload (table + saved report, exit 5).

mod licence_step;
mod licences;
mod lifecycle;
mod migrations;
mod transfer;

use std::path::Path;

use serde_json::Value;

use super::args::{
    AssignmentsCommand, CatalogueCommand, ClientCommand, DocumentsCommand, DraftCommand,
    ManifestCommand, MigrationsCommand, RosterCommand, UsersCommand,
};
use super::exit::{Exit, Outcome};
pub use super::http::migration_path;
use super::http::{Api, Problem};
use super::output::{Out, render};
use super::{report, watch};

pub async fn dispatch(api: &Api, out: Out, command: ClientCommand) -> Outcome {
    match command {
        ClientCommand::Migrations(c) => match c {
            MigrationsCommand::Create(args) => migrations::create(api, out, *args).await,
            MigrationsCommand::List { state, tenant } => {
                migrations::list(api, out, state, tenant).await
            }
            MigrationsCommand::Show { id } => migrations::show(api, out, &id).await,
        },
        ClientCommand::Roster(RosterCommand::Upload {
            id,
            file,
            format,
            report,
        }) => licences::roster(api, out, &id, &file, format, report.as_deref()).await,
        ClientCommand::Assignments(c) => match c {
            AssignmentsCommand::Export { id, file } => licences::export(api, out, &id, &file).await,
            AssignmentsCommand::Import {
                id,
                file,
                draft_version,
                report,
            } => licences::import(api, out, &id, &file, draft_version, report.as_deref()).await,
        },
        ClientCommand::Catalogue(CatalogueCommand::Get { id }) => {
            licence_step::catalogue_get(api, out, &id).await
        }
        ClientCommand::Catalogue(CatalogueCommand::Set { id, file }) => {
            licence_step::catalogue_set(api, out, &id, &file).await
        }
        ClientCommand::Overview { id } => licence_step::overview(api, out, &id).await,
        ClientCommand::Users(UsersCommand::List {
            id,
            q,
            plan,
            problems,
        }) => licence_step::users(api, out, &id, q, plan, problems).await,
        ClientCommand::Draft(DraftCommand::Edit(edit)) => {
            licence_step::draft_edit(api, out, &edit).await
        }
        ClientCommand::Preflight { id } => licences::preflight(api, out, &id).await,
        ClientCommand::Review { id } => licences::review(api, out, &id).await,
        ClientCommand::Commit(l) => lifecycle::commit(api, out, &l).await,
        ClientCommand::Manifest(ManifestCommand::Upload {
            id,
            file,
            format,
            report,
        }) => transfer::manifest(api, out, &id, &file, format, report.as_deref()).await,
        ClientCommand::Documents(DocumentsCommand::List { id, status }) => {
            transfer::documents(api, out, &id, status).await
        }
        ClientCommand::Start(s) => lifecycle::start(api, out, &s, false).await,
        ClientCommand::Precopy(s) => lifecycle::start(api, out, &s, true).await,
        ClientCommand::Watch(w) => watch::watch(api, out, &w.id, w.poll).await,
        ClientCommand::Complete(l) => lifecycle::simple(api, out, &l, "complete").await,
        ClientCommand::Cancel(l) => lifecycle::simple(api, out, &l, "cancel").await,
        ClientCommand::Reopen(l) => lifecycle::simple(api, out, &l, "reopen").await,
        // Routed before a key is asked for (`client::run`).
        ClientCommand::Receipt(_) => Err(super::exit::Failure::internal(
            "receipt commands read the tenant store, not the server",
        )),
    }
}

/// Reads a refused upload of `input`. Validation problems print their list
/// (as a table, or the problem under `--json`), save the report and end the
/// command with exit 5; anything else is a plain failure.
pub async fn refused(
    api: &Api,
    out: Out,
    migration_id: &str,
    problem: Problem,
    input: &Path,
    report_to: Option<&Path>,
) -> Outcome {
    let body = &problem.body;
    let list = |k: &str| body[k].as_array().cloned().unwrap_or_default();
    let (table, saved) = match problem.code() {
        "invalid_csv" | "invalid_assignment" => {
            let violations = list("violations");
            // The server keeps the report of a refused import; downloading
            // it keeps one format whoever renders it.
            let saved = match body["import_id"].as_str() {
                Some(import) => {
                    let path =
                        migration_path(migration_id, &format!("/imports/{import}/errors.csv"));
                    let reply = api.call(api.get(&path), true).await?;
                    Some(reply.body.to_vec())
                }
                None => None,
            };
            (render::violations(&violations), saved)
        }
        "validation_failed" => {
            let errors = list("errors");
            (
                render::field_errors(&errors),
                Some(report::field_errors_csv(&errors)?),
            )
        }
        _ => return Err(problem.into()),
    };
    out.result(body, || {
        format!(
            "{}\n{table}",
            body["detail"].as_str().unwrap_or("the file was refused")
        )
    });
    if let Some(bytes) = saved {
        let path = report_to
            .map(Path::to_path_buf)
            .unwrap_or_else(|| report::default_path(input));
        report::write_atomically(&path, &bytes)?;
        out.note(&format!("error report saved to {}", path.display()));
    }
    Ok(Exit::Invalid)
}

/// An `Idempotency-Key` for this run when the user gave none.
pub fn idempotency_key(given: &Option<String>) -> String {
    given
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string())
}

/// A value's string, for messages.
pub fn text(v: &Value) -> String {
    render::s(v)
}
