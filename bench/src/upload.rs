//! The API sequence of an upload (as `tests/tests/integration/upload.rs` drives it):
//! open a migration on a local source, make it `ready` (one-user roster, a
//! plan for the migrator, commit), load the manifest, start, poll the job.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::data::{MIGRATOR_EMAIL, MIGRATOR_NAME};
use crate::docs::Source;
use crate::server::Server;

pub const TENANT: &str = "bench-gmbh";

/// A `ready` migration of `source` with its manifest loaded; its id.
pub async fn prepare(server: &Server, source: &Source) -> Result<String> {
    let body = json!({
        "tenant": TENANT,
        "customer_name": "Bench GmbH",
        "source": {
            "version": "8.3 R05",
            "database_url": format!("file://{}", source.dump().display()),
            "archive_url": format!("file://{}/", source.documents_dir().display()),
        },
        "requested_by": { "name": "Sam Seller", "email": "sam@vendor.example" },
        "migrator": { "name": MIGRATOR_NAME, "email": MIGRATOR_EMAIL, "phone": "+49 30 1234567" },
    });
    let m = server
        .json(
            server.client.post(server.url("/migrations")).json(&body),
            "POST /v1/migrations",
        )
        .await?;
    let id = m["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no id in {m}"))?;
    let roster = json!({"users": [{
        "user_id": "u1", "full_name": MIGRATOR_NAME, "emails": [MIGRATOR_EMAIL],
        "group": "IT", "position": "Consultant", "is_admin": true, "old_license": "Admin"
    }]});
    let r = server
        .json(
            server
                .client
                .put(server.url(&format!("/migrations/{id}/roster")))
                .json(&roster),
            "PUT roster",
        )
        .await?;
    let version = r["draft_version"]
        .as_i64()
        .ok_or_else(|| anyhow!("no draft_version in {r}"))?;
    server
        .json(
            server
                .client
                .patch(server.url(&format!("/migrations/{id}/draft")))
                .header("If-Match", format!("\"d{version}\""))
                .json(&json!({"user_ids": ["u1"], "set_plan": "Admin"})),
            "PATCH draft",
        )
        .await?;
    server
        .json(
            server
                .client
                .post(server.url(&format!("/migrations/{id}/commit"))),
            "POST commit",
        )
        .await?;
    let stored = server
        .json(
            server
                .client
                .put(server.url(&format!("/migrations/{id}/manifest")))
                .header(CONTENT_TYPE, "text/csv")
                .body(source.manifest_csv()),
            "PUT manifest",
        )
        .await?;
    if stored["documents"].as_u64() != Some(source.docs.len() as u64) {
        bail!(
            "manifest stored {stored}, expected {} documents",
            source.docs.len()
        );
    }
    Ok(id)
}

/// `POST …/start`; the job's id.
pub async fn start(server: &Server, id: &str) -> Result<String> {
    let started = server
        .json(
            server
                .client
                .post(server.url(&format!("/migrations/{id}/start"))),
            "POST start",
        )
        .await?;
    started["job"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no job id in {started}"))
}

/// Polls `GET /v1/jobs/{id}` every `every` until the job is finished; the
/// job and the time from the call until the finished state was seen.
/// `on_poll` runs after each poll (e.g. to sample memory).
pub async fn wait(
    server: &Server,
    job_id: &str,
    every: Duration,
    timeout: Duration,
    mut on_poll: impl FnMut(),
) -> Result<(Value, Duration)> {
    let start = Instant::now();
    loop {
        let job = server
            .json(
                server.client.get(server.url(&format!("/jobs/{job_id}"))),
                "GET job",
            )
            .await?;
        on_poll();
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return Ok((job, start.elapsed()));
        }
        if start.elapsed() > timeout {
            bail!("job {job_id} not finished after {timeout:?}: {job}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Fails unless the job succeeded with every document uploaded (so every
/// checksum matched) and none missing or failed.
pub fn check_succeeded(job: &Value, source: &Source) -> Result<()> {
    let p = &job["progress"];
    let n = source.docs.len() as u64;
    if job["state"] != "succeeded"
        || p["documents_uploaded"].as_u64() != Some(n)
        || p["documents_failed"].as_u64() != Some(0)
        || p["documents_missing"].as_u64() != Some(0)
    {
        bail!("the upload did not copy all {n} documents: {job}");
    }
    Ok(())
}

/// The time between two of the job's own timestamps (`created_at`,
/// `started_at`, `finished_at`).
pub fn between(job: &Value, from: &str, to: &str) -> Option<Duration> {
    let at = |k: &str| {
        job[k]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    (at(to)? - at(from)?).to_std().ok()
}

/// The job's own `started_at` → `finished_at` (the worker's view).
pub fn server_side(job: &Value) -> Option<Duration> {
    between(job, "started_at", "finished_at")
}

/// `sent` → the job's own `finished_at`.
pub fn finished_since(job: &Value, sent: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let done = chrono::DateTime::parse_from_rfc3339(job["finished_at"].as_str()?).ok()?;
    (done.with_timezone(&chrono::Utc) - sent).to_std().ok()
}
