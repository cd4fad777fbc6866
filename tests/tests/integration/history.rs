//! Durable job history (issue 6 §6): a finished job and its ledger stay
//! queryable after the queue has vacuumed its own records, and a retention
//! removes them only for migrations closed longer ago than configured.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, ready_with_manifest};
use ferry_tests::{Mode, TestApp, both_modes, spawn_with};
use serde_json::Value;

both_modes!(history_outlives_the_queue_and_follows_the_retention);

/// An uploaded migration of `tenant` with two documents; its finished job.
async fn uploaded(app: &TestApp, src: &SourceArchive, tenant: &str) -> (String, Value) {
    let manifest = "document_id,path,size\na,a.txt,1\nb,b.txt,1\n";
    let id = ready_with_manifest(app, src, tenant, manifest).await;
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job = app
        .wait_for_job(
            started["job"]["id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    (id, job)
}

async fn ledger_rows(app: &TestApp, id: &str) -> usize {
    app.get_json(&format!("/v1/migrations/{id}/documents"))
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn history_outlives_the_queue_and_follows_the_retention(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.vacuum_interval_secs = 1;
        // The purge below runs beside the app, not through it: no rendered
        // job may outlive it in the API's short poll cache.
        s.job_view_cache_ms = 0;
        // One document per batch: the job is split (work that fits one
        // batch runs in the job itself), so the purge meets batch rows too.
        s.upload_batch_documents = 1;
    })
    .await;
    let src = SourceArchive::new(&app);
    src.write("a.txt", b"a");
    src.write("b.txt", b"b");
    let (closed, closed_job) = uploaded(&app, &src, "oldco").await;
    app.post_json(&format!("/v1/migrations/{closed}/complete"))
        .await;
    let (open, open_job) = uploaded(&app, &src, "liveco").await;

    // Several vacuum rounds later the queue has forgotten the jobs; the
    // history has not.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let job_path = format!("/v1/jobs/{}", closed_job["id"].as_str().unwrap());
    let again = app.get_json(&job_path).await;
    assert_eq!(again["state"], "succeeded");
    assert_eq!(again["progress"]["documents_uploaded"], 2);
    assert_eq!(ledger_rows(&app, &closed).await, 2);

    let store =
        ferry_store::Store::connect(&app.settings.database_url(), 2, Duration::from_secs(5))
            .await
            .unwrap();
    // A day's retention: closed a moment ago, so nothing goes.
    let kept = store
        .purge_history(&ferry_store::ago(Duration::from_secs(86_400)))
        .await
        .unwrap();
    assert_eq!(kept, ferry_store::Purged::default());
    assert_eq!(ledger_rows(&app, &closed).await, 2);

    // Past the retention: the closed migration's jobs and ledger go, the
    // migration itself and the open migration's history stay.
    let purged = store
        .purge_history(&ferry_store::ago(Duration::ZERO))
        .await
        .unwrap();
    // The job and its two batches (two documents, one per batch).
    assert_eq!(purged.jobs, 3, "{purged:?}");
    assert_eq!(purged.documents, 2, "{purged:?}");
    let res = app.get(&job_path, &app.admin_key).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(ledger_rows(&app, &closed).await, 0);
    let m = app.get_json(&format!("/v1/migrations/{closed}")).await;
    assert_eq!(m["state"], "completed");
    let live = app
        .get_json(&format!("/v1/jobs/{}", open_job["id"].as_str().unwrap()))
        .await;
    assert_eq!(live["state"], "succeeded");
    assert_eq!(ledger_rows(&app, &open).await, 2);
    app.stop().await;
}
