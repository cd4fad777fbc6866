//! A job that failed or was cancelled (SPEC §3.6 "Cancel stops a running job
//! cleanly; the migration can be started again"): the migration keeps its
//! state and freeze, a second start resumes the same kind of work, and two
//! jobs never run for one migration at once. On both run modes, for a job
//! run whole and for one split into batches.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{
    SourceArchive, file_sha256, ledger, ok_json, ready_with_manifest, wait_for_some_progress,
};
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_with};
use serde_json::Value;

both_modes!(
    failed_job_leaves_the_migration_startable,
    cancelled_job_stops_and_resumes,
    cancelled_split_job_stops_every_batch
);

const WAIT: Duration = Duration::from_secs(90);
const DOCS: usize = 24;
const DOC_LEN: usize = 64 * 1024;

/// A ready migration of `DOCS` documents of `DOC_LEN` bytes, manifest loaded.
async fn ready(app: &TestApp, tenant: &str) -> (SourceArchive, String) {
    let src = SourceArchive::new(app);
    let manifest = src.write_many("d", DOCS, DOC_LEN);
    let id = ready_with_manifest(app, &src, tenant, &manifest).await;
    (src, id)
}

async fn start(app: &TestApp, id: &str) -> Value {
    app.post_json(&format!("/v1/migrations/{id}/start")).await
}

async fn cancel(app: &TestApp, job_id: &str) -> reqwest::Response {
    app.post(&format!("/v1/jobs/{job_id}/cancel"), &app.admin_key)
        .send()
        .await
        .unwrap()
}

/// Every document uploaded once in the ledger and byte-identical in the
/// tenant store.
async fn assert_all_uploaded(app: &TestApp, src: &SourceArchive, id: &str, tenant: &str) {
    let rows = ledger(app, id).await;
    assert_eq!(rows.len(), DOCS, "{rows:?}");
    assert!(rows.iter().all(|r| &r[3] == "uploaded"), "{rows:?}");
    let stored = app.data_dir().join(format!("tenants/{tenant}/documents/d"));
    for i in 0..DOCS {
        let rel = format!("{i:03}.bin");
        assert_eq!(
            file_sha256(&stored.join(&rel)),
            file_sha256(&src.docs().join("d").join(&rel)),
            "{rel}"
        );
    }
}

/// The dump vanished after pre-flight: the job fails with the reason, the
/// migration stays `uploading` and frozen, and once the dump is back a second
/// start resumes the upload to the end.
async fn failed_job_leaves_the_migration_startable(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |_| {}).await;
    let (src, id) = ready(&app, "failco").await;
    let dump = std::fs::read(src.dump()).unwrap();
    std::fs::remove_file(src.dump()).unwrap();
    let first = start(&app, &id).await;
    let job = app
        .wait_for_job(first["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["last_error"].as_str().unwrap().contains("dump"),
        "{job}"
    );
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(m["state"], "uploading");
    let freeze = app.get_json(&format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(
        freeze["frozen"], true,
        "a failed job keeps the source frozen"
    );
    // Cancelling a job that ended is refused and changes nothing.
    let p = assert_problem(
        cancel(&app, first["job"]["id"].as_str().unwrap()).await,
        409,
        "job_ended",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("ended"));

    std::fs::write(src.dump(), dump).unwrap();
    let second = start(&app, &id).await;
    assert_eq!(second["job"]["kind"], "upload");
    assert_ne!(second["job"]["id"], first["job"]["id"]);
    let job = app
        .wait_for_job(second["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        app.get_json(&format!("/v1/migrations/{id}")).await["state"],
        "uploaded"
    );
    assert_all_uploaded(&app, &src, &id, "failco").await;
    let jobs = app.get_json(&format!("/v1/migrations/{id}/jobs")).await;
    let states: Vec<&str> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "succeeded"]);
    app.stop().await;
}

/// Cancel mid-copy: 200 with the job `cancelled`, its worker stops (the
/// counters stand still), a start while a job is active is 409 `job_active`,
/// and a start after the cancel resumes and uploads every document once.
async fn cancelled_job_stops_and_resumes(mode: Mode) {
    // 24 × 64 KiB at 256 KiB/s: about six seconds of copying.
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.transfer_max_bytes_per_sec = 256 * 1024;
        s.transfer_concurrency = 2;
        s.upload_batch_documents = 0;
    })
    .await;
    let (src, id) = ready(&app, "stopco").await;
    let first = start(&app, &id).await;
    let job_id = first["job"]["id"].as_str().unwrap().to_owned();
    wait_for_some_progress(&app, &job_id, WAIT).await;

    let busy = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let p = assert_problem(busy, 409, "job_active").await;
    assert!(p["detail"].as_str().unwrap().contains(&job_id));

    let res = cancel(&app, &job_id).await;
    let cancelled = ok_json(res).await;
    assert_eq!(cancelled["state"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    // The worker notices within its one-second tick; after that nothing moves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = app.get_json(&format!("/v1/jobs/{job_id}")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = app.get_json(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(settled["progress"], later["progress"], "the job stopped");
    assert_eq!(later["state"], "cancelled");
    let done_before = later["progress"]["documents_uploaded"].as_u64().unwrap();
    assert!(done_before < DOCS as u64, "cancelled mid-copy: {later}");
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(
        m["state"], "uploading",
        "the migration can be started again"
    );

    let second = start(&app, &id).await;
    assert_eq!(second["job"]["kind"], "upload");
    let job = app
        .wait_for_job(second["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_all_uploaded(&app, &src, &id, "stopco").await;
    assert_eq!(
        app.get_json(&format!("/v1/migrations/{id}")).await["state"],
        "uploaded"
    );
    app.stop().await;
}

/// The same with the job split into batches of 4 documents: cancelling the
/// job the client polls ends all its batches, and a restart finishes.
async fn cancelled_split_job_stops_every_batch(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.transfer_max_bytes_per_sec = 256 * 1024;
        s.transfer_concurrency = 1;
        s.upload_batch_documents = 4;
        s.worker_concurrency = 2;
    })
    .await;
    let (src, id) = ready(&app, "splitco").await;
    let first = start(&app, &id).await;
    let job_id = first["job"]["id"].as_str().unwrap().to_owned();
    wait_for_some_progress(&app, &job_id, WAIT).await;
    ok_json(cancel(&app, &job_id).await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = app.get_json(&format!("/v1/jobs/{job_id}")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = app.get_json(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(
        settled["progress"], later["progress"],
        "every batch stopped"
    );
    assert_eq!(later["state"], "cancelled");
    assert!(later["progress"]["documents_uploaded"].as_u64().unwrap() < DOCS as u64);
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(m["state"], "uploading", "{m}");

    let second = start(&app, &id).await;
    let job = app
        .wait_for_job(second["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_all_uploaded(&app, &src, &id, "splitco").await;
    app.stop().await;
}
