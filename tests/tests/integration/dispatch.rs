//! The job outbox (issue 18): a job reaches the queue only after its start
//! committed, a job whose queue message was lost still runs, and the
//! batches of a huge migration do not hold a small one back.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, ready_with_manifest, wait_for_some_progress};
use ferry_tests::{Mode, TestApp, both_modes, spawn_with};
use serde_json::Value;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

both_modes!(
    a_job_whose_queue_message_was_lost_still_runs,
    a_small_migration_is_not_queued_behind_a_huge_one,
    an_all_in_one_worker_is_woken_by_every_push
);

async fn start(app: &TestApp, id: &str) -> Value {
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res.json().await.unwrap()
}

/// Starts the upload of migration `id`; its job's id.
async fn start_job(app: &TestApp, id: &str) -> String {
    start(app, id).await["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Messages in the queue right now, and a way to delete them all: what an
/// operator flushing Redis (or a lost SQLite queue file) does.
async fn queue_messages(app: &TestApp, delete: bool) -> usize {
    let url = app.settings.queue_url();
    match app.mode {
        Mode::Embedded => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE status = 'Pending'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if delete {
                sqlx::query("DELETE FROM Jobs")
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            usize::try_from(n).unwrap()
        }
        Mode::Production => {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let pattern = format!("{}*", app.settings.queue_namespace);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            if delete && !keys.is_empty() {
                let _: () = redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            keys.len()
        }
    }
}

/// The queue's copy of a committed job is deleted before any worker saw
/// it; the job is still `queued`, so the dispatcher pushes it again after
/// the age limit and a worker started afterwards runs it.
async fn a_job_whose_queue_message_was_lost_still_runs(mode: Mode) {
    let app = spawn_with(mode, Parts::Api, |s| {
        s.dispatch_repush_secs = 1;
        s.dispatch_interval_ms = 200;
    })
    .await;
    let src = SourceArchive::new(&app);
    let manifest = src.write_many("lost", 3, 100);
    let id = ready_with_manifest(&app, &src, "lostmsg", &manifest).await;
    let job_id = start_job(&app, &id).await;
    // The start's own push lands in the queue (no worker runs to take it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while queue_messages(&app, false).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never pushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(queue_messages(&app, true).await > 0);
    assert_eq!(queue_messages(&app, false).await, 0, "the queue is empty");
    // A worker appears; nothing in the queue names the job but the push
    // the age rule makes.
    let worker = ferry::Application::build(app.settings.clone(), Parts::Worker)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker.run(stop.clone()));
    let job = app.wait_for_job(&job_id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_uploaded"], 3);
    stop.cancel();
    worker.await.unwrap().unwrap();
    app.stop().await;
}

/// One worker taking one job at a time; a migration of 16 batches starts
/// first and a migration of one batch second. With every batch of the
/// first pushed at once (first in, first out) the second finished last;
/// with one batch per migration in flight, it goes between two of them.
async fn a_small_migration_is_not_queued_behind_a_huge_one(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.worker_concurrency = 1;
        s.upload_batch_documents = 4;
        s.dispatch_batches_per_migration = 1;
        // 16 KiB per batch at 64 KiB/s: a quarter of a second each.
        s.transfer_max_bytes_per_sec = 64 * 1024;
    })
    .await;
    let src = SourceArchive::new(&app);
    let huge = src.write_many("huge", 64, 4096);
    let small = src.write_many("small", 2, 4096);
    let huge_id = ready_with_manifest(&app, &src, "hugeco", &huge).await;
    let small_id = ready_with_manifest(&app, &src, "smallco", &small).await;
    let huge_job = start_job(&app, &huge_id).await;
    // The huge one has split and its batches are copying.
    wait_for_some_progress(&app, &huge_job, Duration::from_secs(30)).await;
    let small_job = start_job(&app, &small_id).await;
    let small_done = app.wait_for_job(&small_job, Duration::from_secs(60)).await;
    assert_eq!(small_done["state"], "succeeded", "{small_done}");
    let huge_now = app.get_json(&format!("/v1/jobs/{huge_job}")).await;
    assert_eq!(
        huge_now["state"], "running",
        "the small migration finished while the huge one still copied: {huge_now}"
    );
    let huge_done = app.wait_for_job(&huge_job, Duration::from_secs(60)).await;
    assert_eq!(huge_done["state"], "succeeded", "{huge_done}");
    assert_eq!(huge_done["progress"]["documents_uploaded"], 64);
    app.stop().await;
}

/// In all-in-one the worker polls the queue only as a safety net
/// (`queue_poll_all_in_one_ms`): every job it runs must reach it through
/// its own dispatcher's push signal. Polling is set to an hour here, and
/// the queue heartbeat (whose beat also makes apalis fetch: a job then
/// starts within one beat) to a minute, so the split upload finishes in
/// time only if the start and every batch hand-over wake the worker; one
/// worker slot and one batch in flight make each of the five batches its
/// own push.
async fn an_all_in_one_worker_is_woken_by_every_push(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.queue_poll_all_in_one_ms = 3_600_000;
        s.queue_heartbeat_secs = 60;
        s.worker_concurrency = 1;
        s.upload_batch_documents = 4;
        s.dispatch_batches_per_migration = 1;
    })
    .await;
    let src = SourceArchive::new(&app);
    let manifest = src.write_many("woken", 20, 512);
    let id = ready_with_manifest(&app, &src, "wokenco", &manifest).await;
    let job_id = start_job(&app, &id).await;
    let done = app.wait_for_job(&job_id, Duration::from_secs(45)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["progress"]["documents_uploaded"], 20);
    app.stop().await;
}
