//! The licence migration: roster upload, the assignment CSV round trip,
//! pre-flight and review.

use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{migration_path, refused};
use crate::client::args::RosterFormat;
use crate::client::exit::{Exit, Failure, Outcome};
use crate::client::http::{Api, CallError};
use crate::client::output::{Out, render};
use crate::client::report::part_path;
use crate::client::upload_body::{has_extension, with_file};

pub async fn roster(
    api: &Api,
    out: Out,
    id: &str,
    file: &Path,
    format: Option<RosterFormat>,
    report: Option<&Path>,
) -> Outcome {
    let format = format.unwrap_or(if has_extension(file, &["json"]) {
        RosterFormat::Json
    } else {
        RosterFormat::Csv
    });
    let ctype = match format {
        RosterFormat::Csv => "text/csv",
        RosterFormat::Json => "application/json",
    };
    let req = with_file(api.put(&migration_path(id, "/roster")), file, ctype).await?;
    match api.call(req, false).await {
        Ok(reply) => {
            let v = reply.json()?;
            out.result(&v, || {
                format!(
                    "roster loaded: {} users ({} active), {} satellites; draft version {}",
                    render::s(&v["users"]),
                    render::s(&v["active_users"]),
                    render::s(&v["satellites"]),
                    render::s(&v["draft_version"]),
                )
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) => refused(api, out, id, p, file, report).await,
        Err(CallError::Failure(f)) => Err(f),
    }
}

/// Streams the export into `file` (through `<file>.part`, so an interrupted
/// download never looks like a finished one), or to stdout for `-`.
pub async fn export(api: &Api, out: Out, id: &str, file: &Path) -> Outcome {
    let res = api
        .send(api.get(&migration_path(id, "/assignments.csv")), true)
        .await?;
    if !res.status().is_success() {
        return match api.read(res).await {
            Err(e) => Err(e.into()),
            Ok(r) => Err(Failure::new(
                Exit::Refused,
                format!("unexpected answer {} to the export", r.status),
            )),
        };
    }
    let version = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim_matches('"').trim_start_matches('d').to_owned())
        .and_then(|v| v.parse::<i64>().ok());
    let to_stdout = file.as_os_str() == "-";
    let tmp = part_path(file);
    let mut sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .map_err(|e| Failure::internal(format!("cannot write {}: {e}", tmp.display())))?,
        ))
    };
    let write_err = |e: std::io::Error| Failure::internal(format!("writing the export: {e}"));
    let mut stream = res.bytes_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Failure::new(Exit::Network, format!("the download broke off: {e}")))?;
        bytes += chunk.len() as u64;
        sink.write_all(&chunk).map_err(write_err)?;
    }
    sink.flush().map_err(write_err)?;
    drop(sink);
    if to_stdout {
        return Ok(Exit::Ok);
    }
    std::fs::rename(&tmp, file).map_err(write_err)?;
    let v = json!({"file": file.display().to_string(), "bytes": bytes, "draft_version": version});
    out.result(&v, || {
        let mut text = format!("exported to {} ({bytes} bytes)", file.display());
        if let Some(v) = version {
            text.push_str(&format!(
                "; draft version {v} (import with --draft-version {v} to refuse a concurrent edit)"
            ));
        }
        text
    });
    Ok(Exit::Ok)
}

pub async fn import(
    api: &Api,
    out: Out,
    id: &str,
    file: &Path,
    draft_version: Option<i64>,
    report: Option<&Path>,
) -> Outcome {
    let mut req = api.post(&migration_path(id, "/assignments.csv"));
    if let Some(v) = draft_version {
        req = req.header("If-Match", format!("\"d{v}\""));
    }
    let req = with_file(req, file, "text/csv").await?;
    match api.call(req, false).await {
        Ok(reply) => {
            let v = reply.json()?;
            out.result(&v, || {
                format!(
                    "imported: {} rows read, {} users changed; draft version {}",
                    render::s(&v["rows"]),
                    render::s(&v["changed"]),
                    render::s(&v["draft_version"]),
                )
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) => refused(api, out, id, p, file, report).await,
        Err(CallError::Failure(f)) => Err(f),
    }
}

pub async fn preflight(api: &Api, out: Out, id: &str) -> Outcome {
    let report = api.get_json(&migration_path(id, "/preflight")).await?;
    out.result(&report, || render::preflight(&report));
    Ok(passed(&report))
}

/// A failing report is a result, not an error: it prints, then exit 5.
pub fn passed(report: &Value) -> Exit {
    if report["passed"] == true {
        Exit::Ok
    } else {
        Exit::Invalid
    }
}

pub async fn review(api: &Api, out: Out, id: &str) -> Outcome {
    let r = api.get_json(&migration_path(id, "/review")).await?;
    out.result(&r, || render::review(&r));
    Ok(Exit::Ok)
}
