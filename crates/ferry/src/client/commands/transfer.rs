//! The upload half: the document manifest and the documents' outcomes.

use std::path::Path;

use serde_json::json;

use super::{migration_path, refused};
use crate::client::args::ManifestFormat;
use crate::client::exit::{Exit, Outcome};
use crate::client::http::{Api, CallError};
use crate::client::output::{Out, render};
use crate::client::upload_body::{has_extension, with_file};

pub async fn manifest(
    api: &Api,
    out: Out,
    id: &str,
    file: &Path,
    format: Option<ManifestFormat>,
    report: Option<&Path>,
) -> Outcome {
    let format = format.unwrap_or(if has_extension(file, &["ndjson", "jsonl"]) {
        ManifestFormat::Ndjson
    } else {
        ManifestFormat::Csv
    });
    let ctype = match format {
        ManifestFormat::Csv => "text/csv",
        ManifestFormat::Ndjson => "application/x-ndjson",
    };
    let req = with_file(api.put(&migration_path(id, "/manifest")), file, ctype).await?;
    match api.call(req, false).await {
        Ok(reply) => {
            let v = reply.json()?;
            out.result(&v, || {
                format!(
                    "manifest stored: {} documents, {}",
                    render::s(&v["documents"]),
                    indicatif::HumanBytes(v["bytes"].as_u64().unwrap_or(0)),
                )
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) => refused(api, out, id, p, file, report).await,
        Err(CallError::Failure(f)) => Err(f),
    }
}

/// Every page of `GET …/documents`, so the list is complete (e.g. all the
/// missing files to put back before a recovery).
pub async fn documents(api: &Api, out: Out, id: &str, status: Option<String>) -> Outcome {
    let items = api
        .all_pages(&migration_path(id, "/documents"), &[("status", status)])
        .await?;
    let all = json!({ "items": items });
    out.result(&all, || render::documents(&all));
    Ok(Exit::Ok)
}
