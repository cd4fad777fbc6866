//! `ferry watch`: follows a job until it ends. Polls `GET /v1/jobs/{id}`
//! with `If-None-Match`, so an unchanged job costs the server no body, and
//! draws two bars (documents, bytes) with the server's own throughput and
//! ETA — the server measures since the job started, which is steadier than
//! anything derived from a few polls. The exit code tells a script how the
//! job ended (see `exit`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use reqwest::header::IF_NONE_MATCH;
use serde_json::Value;

use super::args::Poll;
use super::exit::{Exit, Failure, Outcome};
use super::http::migration_path;
use super::http::{Api, CallError};
use super::output::{Out, render};

/// How long the server may stay unreachable during a watch before the
/// command gives up: a job runs for hours, a restart of the API is normal.
const NETWORK_GRACE: Duration = Duration::from_secs(60);
/// Without a terminal, a line at most this often (and at each state change).
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The job's path: `id` is a job, or a migration whose latest job is meant.
async fn resolve(api: &Api, id: &str) -> Result<String, Failure> {
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let job_path = format!("/v1/jobs/{id}");
    match api.call(api.get(&job_path), true).await {
        Ok(_) => return Ok(job_path),
        Err(CallError::Problem(p)) if p.status == StatusCode::NOT_FOUND => {}
        Err(e) => return Err(e.into()),
    }
    let m = match api.call(api.get(&migration_path(&id, "")), true).await {
        Ok(reply) => reply.json()?,
        Err(CallError::Problem(p)) if p.status == StatusCode::NOT_FOUND => {
            return Err(Failure::new(
                Exit::Refused,
                format!("no job or migration {id} (or this key may not see it)"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match m["latest_job"]["id"].as_str() {
        Some(job) => Ok(format!("/v1/jobs/{job}")),
        None => Err(Failure::new(
            Exit::Refused,
            format!(
                "migration {id} is {} and has no job yet: start it with `ferry start {id}`",
                render::s(&m["state"])
            ),
        )),
    }
}

fn finished(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// How a finished job ends the command.
pub fn exit_for(job: &Value) -> Exit {
    let p = &job["progress"];
    let left =
        p["documents_missing"].as_i64().unwrap_or(0) + p["documents_failed"].as_i64().unwrap_or(0);
    match job["state"].as_str() {
        Some("succeeded") if left > 0 => Exit::DocumentsRemain,
        Some("succeeded") => Exit::Ok,
        Some("cancelled") => Exit::JobCancelled,
        _ => Exit::JobFailed,
    }
}

pub async fn watch(api: &Api, out: Out, id: &str, poll: Poll) -> Outcome {
    let path = resolve(api, id).await?;
    let interval = Duration::from_millis(poll.interval.max(100));
    let mut view = View::new();
    let mut etag: Option<String> = None;
    let mut job = Value::Null;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let mut req = api.get(&path);
        if let Some(tag) = &etag {
            req = req.header(IF_NONE_MATCH, tag);
        }
        match api.call(req, true).await {
            Ok(reply) => {
                unreachable_since = None;
                if reply.status != StatusCode::NOT_MODIFIED {
                    etag = reply.etag();
                    job = reply.json()?;
                    view.show(&job);
                }
            }
            Err(CallError::Failure(f)) if f.exit == Exit::Network => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > NETWORK_GRACE {
                    view.clear();
                    return Err(f);
                }
                view.note(&format!("{}; still trying", f.message));
            }
            Err(e) => {
                view.clear();
                return Err(e.into());
            }
        }
        if finished(&job) {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    view.clear();
    let exit = exit_for(&job);
    out.result(&job, || {
        let mut text = render::job_line(&job);
        match exit {
            Exit::DocumentsRemain => text.push_str(&format!(
                "\ndocuments remain: list them with `ferry documents list {} --status missing` (or failed), put them back, then `ferry start` again",
                render::s(&job["migration_id"])
            )),
            Exit::JobFailed => text.push_str("\nthe job FAILED"),
            Exit::JobCancelled => text.push_str("\nthe job was cancelled"),
            _ => {}
        }
        text
    });
    Ok(exit)
}

/// Bars on a terminal; otherwise (CI, logs, pipes) a line now and then.
struct View {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    last_line: Option<(Instant, String)>,
}

impl View {
    fn new() -> View {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::new();
            let style = |t: &str| {
                ProgressStyle::with_template(t)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ")
            };
            let docs = multi.add(
                ProgressBar::new(0)
                    .with_style(style("{prefix:>16} [{bar:32}] {pos}/{len} documents {msg}")),
            );
            let bytes = multi.add(ProgressBar::new(0).with_style(style(
                "{elapsed_precise:>16} [{bar:32}] {bytes}/{total_bytes} {msg}",
            )));
            (multi, docs, bytes)
        });
        View {
            bars,
            last_line: None,
        }
    }

    fn show(&mut self, job: &Value) {
        let p = &job["progress"];
        let n = |k: &str| p[k].as_u64().unwrap_or(0);
        let done = n("documents_uploaded") + n("documents_missing") + n("documents_failed");
        let mut rate = String::new();
        if let Some(t) = p["throughput_bytes_per_sec"].as_u64() {
            rate.push_str(&format!("{}/s", HumanBytes(t)));
        }
        if let Some(eta) = p["eta_seconds"].as_u64() {
            rate.push_str(&format!(
                ", ETA {}",
                HumanDuration(Duration::from_secs(eta))
            ));
        }
        let state = render::s(&job["state"]);
        match &self.bars {
            Some((_, docs, bytes)) => {
                docs.set_prefix(format!("{} {state}", render::s(&job["kind"])));
                docs.set_length(n("documents_total"));
                docs.set_position(done);
                docs.set_message(format!(
                    "({} missing, {} failed)",
                    n("documents_missing"),
                    n("documents_failed")
                ));
                bytes.set_length(n("bytes_total"));
                bytes.set_position(n("bytes_done"));
                bytes.set_message(rate);
            }
            None => {
                let now = Instant::now();
                let due = match &self.last_line {
                    None => true,
                    Some((at, last_state)) => {
                        *last_state != state || now.duration_since(*at) >= LOG_EVERY
                    }
                };
                if due {
                    eprintln!(
                        "{} {state}: {done}/{} documents ({} missing, {} failed), {}/{} {rate}",
                        render::s(&job["kind"]),
                        n("documents_total"),
                        n("documents_missing"),
                        n("documents_failed"),
                        HumanBytes(n("bytes_done")),
                        HumanBytes(n("bytes_total")),
                    );
                    self.last_line = Some((now, state));
                }
            }
        }
    }

    fn note(&self, text: &str) {
        match &self.bars {
            Some((multi, _, _)) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn clear(&self) {
        if let Some((multi, docs, bytes)) = &self.bars {
            docs.finish_and_clear();
            bytes.finish_and_clear();
            let _ = multi.clear();
        }
    }
}
