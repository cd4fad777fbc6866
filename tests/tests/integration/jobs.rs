//! The job round trip: API → queue (apalis-sqlite or apalis-redis) → worker
//! → job record in the database → `GET /v1/jobs/{id}`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::{Mode, assert_problem, both_modes, spawn_app};
use serde_json::Value;

both_modes!(
    start_runs_a_job_through_the_queue,
    idempotent_start,
    job_etags
);

async fn start_runs_a_job_through_the_queue(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    let not_ready = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let p = assert_problem(not_ready, 409, "illegal_transition").await;
    assert_eq!(p["current_state"], "draft");
    app.make_ready(id).await;
    // One document the archive lacks, so that a recovery has work to do.
    let manifest = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body("document_id,path,size\nlost,not/there.pdf,1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), 200);
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["migration"]["state"], "uploading");
    assert_eq!(started["migration"]["frozen"], true);
    assert_eq!(started["job"]["kind"], "upload");
    assert_eq!(started["job"]["state"], "queued");
    let job_id = started["job"]["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/jobs/{job_id}"));
    let job = app.wait_for_job(job_id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["attempts"], 1);
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    let m: Value = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["state"], "uploaded");
    // From uploaded, the service decides a recovery run.
    let again: Value = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["job"]["kind"], "recovery");
    assert_eq!(again["migration"]["state"], "recovering");
    let job = app
        .wait_for_job(
            again["job"]["id"].as_str().unwrap(),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(job["state"], "succeeded");
    let jobs: Value = app
        .get(&format!("/v1/migrations/{id}/jobs"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["items"].as_array().unwrap().len(), 2);
    let done: Value = app
        .post(&format!("/v1/migrations/{id}/complete"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["state"], "completed");
    assert_eq!(done["frozen"], false);
    app.stop().await;
}

async fn idempotent_start(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    app.make_ready(id).await;
    let start = || {
        app.post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
            .header("Idempotency-Key", "start-1")
            .send()
    };
    let first: Value = start().await.unwrap().json().await.unwrap();
    let replay = start().await.unwrap();
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed["job"]["id"], first["job"]["id"]);
    app.wait_for_job(
        first["job"]["id"].as_str().unwrap(),
        Duration::from_secs(30),
    )
    .await;
    let jobs: Value = app
        .get(&format!("/v1/migrations/{id}/jobs"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jobs["items"].as_array().unwrap().len(),
        1,
        "a replayed start enqueues nothing"
    );
    app.stop().await;
}

async fn job_etags(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap();
    app.make_ready(id).await;
    let started: Value = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = started["job"]["id"].as_str().unwrap();
    app.wait_for_job(job_id, Duration::from_secs(30)).await;
    let res = app
        .get(&format!("/v1/jobs/{job_id}"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .get(&format!("/v1/jobs/{job_id}"), &app.admin_key)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let other = app
        .get(&format!("/v1/jobs/{job_id}"), &app.admin_key)
        .header("If-None-Match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let unknown = app
        .get(
            &format!("/v1/jobs/{}", uuid::Uuid::new_v4()),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404, "not_found").await;
    app.stop().await;
}
