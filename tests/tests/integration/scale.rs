//! Scale out (issue 4): one migration's documents split into batches that
//! are separate queue jobs (`FERRY_UPLOAD_BATCH_DOCUMENTS`), so two `ferry
//! worker` processes share one archive; the last batch to finish reconciles
//! the counts and moves the migration to `uploaded`. The job the client
//! polls is the one the start returned, and its progress covers every batch.

#![allow(clippy::unwrap_used)]

use crate::cluster;

use std::time::Duration;

use cluster::{Cluster, generate, wait_job};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_one_migration() {
    let mut c = Cluster::start(&[
        ("FERRY_UPLOAD_BATCH_DOCUMENTS", "10"),
        ("FERRY_WORKER_CONCURRENCY", "2"),
        // Per batch: a batch takes long enough that both workers get some.
        ("FERRY_TRANSFER_MAX_BYTES_PER_SEC", "20000000"),
        // No worker is killed here: the default orphan window.
        ("FERRY_QUEUE_HEARTBEAT_SECS", "5"),
        ("FERRY_QUEUE_MISSED_HEARTBEATS", "3"),
    ])
    .await;
    let mut w1 = c.worker().await;
    let mut w2 = c.worker().await;
    let docs = generate(240, 40);
    let (migration_id, started) = c.start_upload("scaleco", &docs).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let mut last = 0;
    let job = wait_job(&c, &job_id, Duration::from_secs(120), |job| {
        let now = job["progress"]["documents_uploaded"].as_i64().unwrap();
        assert!(now >= last, "progress went backwards: {last} then {now}");
        last = now;
    })
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    c.verify("scaleco", &migration_id, &job_id, &docs).await;

    // Both processes ran batches of this job; only the parent is listed.
    let (log1, log2) = (w1.output(), w2.output());
    let batches = |log: &str| log.lines().filter(|l| l.contains("batch running")).count();
    assert!(
        batches(&log1) > 0 && batches(&log2) > 0,
        "both workers took part: {} and {} batches\n{log1}\n{log2}",
        batches(&log1),
        batches(&log2)
    );
    assert_eq!(
        batches(&log1) + batches(&log2),
        24,
        "24 batches of 10, each run once"
    );
    assert!(log1.contains("job split into batches") || log2.contains("job split into batches"));
    let finished_last = |log: &str| log.contains("it was the last: job finished");
    assert!(
        finished_last(&log1) ^ finished_last(&log2),
        "one last batch"
    );
    let jobs = c.get(&format!("/v1/migrations/{migration_id}/jobs")).await;
    let listed: Vec<&str> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [job_id.as_str()]);
    let m = c.get(&format!("/v1/migrations/{migration_id}")).await;
    assert_eq!(m["latest_job"]["id"], job_id.as_str());
    for w in [&mut w1, &mut w2] {
        assert!(w.terminate(Duration::from_secs(15)).is_some());
    }
}

/// The batches on the embedded mode's SQLite state and queue: one process,
/// several batches at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_on_the_embedded_mode() {
    let c = Cluster::start_embedded(&[
        ("FERRY_UPLOAD_BATCH_DOCUMENTS", "7"),
        ("FERRY_WORKER_CONCURRENCY", "3"),
    ])
    .await;
    let docs = generate(100, 40);
    let (migration_id, started) = c.start_upload("embedco", &docs).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let job = wait_job(&c, &job_id, Duration::from_secs(120), |_| {}).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", c.api.output());
    c.verify("embedco", &migration_id, &job_id, &docs).await;
    let log = c.api.output();
    assert!(log.contains("job split into batches"), "{log}");
    assert!(log.lines().filter(|l| l.contains("batch running")).count() >= 15);
}
