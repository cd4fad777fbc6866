//! Lifecycle steps: commit, start, complete, cancel, reopen.

use super::{idempotency_key, migration_path, text};
use crate::client::args::{Lifecycle, Start};
use crate::client::exit::{Exit, Outcome};
use crate::client::http::{Api, CallError};
use crate::client::output::{Out, render};
use crate::client::watch;

fn with_expectation(req: reqwest::RequestBuilder, l: &Lifecycle) -> reqwest::RequestBuilder {
    match l.expect_version {
        Some(v) => req.header("If-Match", format!("\"{v}\"")),
        None => req,
    }
}

/// A failing pre-flight is the answer a migrator needs to read: the report
/// prints like `ferry preflight` and the command ends with exit 5.
pub async fn commit(api: &Api, out: Out, l: &Lifecycle) -> Outcome {
    let req = with_expectation(api.post(&migration_path(&l.id, "/commit")), l);
    match api.call(req, false).await {
        Ok(reply) => {
            let m = reply.json()?;
            out.result(&m, || {
                format!(
                    "committed: migration {} is {}",
                    text(&m["id"]),
                    text(&m["state"])
                )
            });
            Ok(Exit::Ok)
        }
        Err(CallError::Problem(p)) if p.code() == "preflight_failed" => {
            let report = p.body["preflight"].clone();
            out.result(&p.body, || {
                format!("not committed:\n{}", render::preflight(&report))
            });
            Ok(Exit::Invalid)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/{action}` for complete, cancel and reopen.
pub async fn simple(api: &Api, out: Out, l: &Lifecycle, action: &str) -> Outcome {
    let req = with_expectation(api.post(&migration_path(&l.id, &format!("/{action}"))), l);
    let m = api.call(req, false).await?.json()?;
    out.result(&m, || {
        format!(
            "{action}: migration {} is {}{}",
            text(&m["id"]),
            text(&m["state"]),
            if m["frozen"] == false && action != "reopen" {
                "; the source is no longer frozen"
            } else {
                ""
            }
        )
    });
    Ok(Exit::Ok)
}

/// A start (the server decides upload or recovery) or, with `precopy`, a
/// pre-copy; the answer names the job.
pub async fn start(api: &Api, out: Out, s: &Start, precopy: bool) -> Outcome {
    let (path, source) = if precopy {
        ("/precopy", "the source stays live")
    } else {
        ("/start", "the source is frozen")
    };
    let req = api
        .post(&migration_path(&s.id, path))
        .header("Idempotency-Key", idempotency_key(&s.idempotency_key));
    let started = api.call(req, true).await?.json()?;
    let job_id = text(&started["job"]["id"]);
    if s.watch {
        // Under --json only the watched job's end is printed: one document.
        if !out.json {
            println!(
                "started {} job {job_id}; {source}",
                text(&started["job"]["kind"])
            );
        }
        return watch::watch(api, out, &job_id, s.poll).await;
    }
    out.result(&started, || {
        format!(
            "started {} job {job_id}; migration {} is {} and {source}\nfollow it with: ferry watch {job_id}",
            text(&started["job"]["kind"]),
            text(&started["migration"]["id"]),
            text(&started["migration"]["state"]),
        )
    });
    Ok(Exit::Ok)
}
