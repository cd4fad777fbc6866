//! The real binary as production runs it: `ferry serve` and `ferry worker` as
//! separate processes sharing PostgreSQL and Redis; `ferry all-in-one` on a
//! fresh data folder; graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::processes::{FerryProcess, ferry_bin, free_port};
use ferry_tests::{fresh_pg_database, migration_body, redis_url};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_worker_as_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = vec![
        ("FERRY_DATABASE_URL", fresh_pg_database().await),
        ("FERRY_QUEUE_URL", redis_url()),
        (
            "FERRY_QUEUE_NAMESPACE",
            format!("ferry-proc-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("FERRY_DATA_DIR", dir.path().display().to_string()),
        ("FERRY_BIND", format!("127.0.0.1:{port}")),
        ("FERRY_LOG_FORMAT", "json".to_owned()),
    ];
    // A key made by the CLI before anything runs.
    let out = std::process::Command::new(ferry_bin())
        .args([
            "keys",
            "create",
            "--role",
            "migrator",
            "--name",
            "proc-test",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("fry_"));

    let mut api = FerryProcess::start(&["serve"], &env, dir.path().join("api.log"));
    api.wait_for_output("ferry listening", Duration::from_secs(30))
        .await;
    let mut worker = FerryProcess::start(&["worker"], &env, dir.path().join("worker.log"));
    worker
        .wait_for_output("worker starting", Duration::from_secs(30))
        .await;

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    // A migrator key cannot open migrations; the bootstrap path is not used
    // here because a key already existed, so open it with an admin key made
    // by the CLI as well.
    let admin = std::process::Command::new(ferry_bin())
        .args(["keys", "create", "--role", "admin"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
    let m: Value = client
        .post(format!("{base}/v1/migrations"))
        .bearer_auth(&admin)
        .json(&migration_body("procs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = m["id"].as_str().unwrap();
    ferry_tests::prepare_draft(&client, &base, &key, id).await;
    let res = client
        .post(format!("{base}/v1/migrations/{id}/commit"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let started: Value = client
        .post(format!("{base}/v1/migrations/{id}/start"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let job: Value = client
            .get(format!("{base}/v1/jobs/{job_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["state"] == "succeeded" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never finished: {job}\n{}",
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The worker process ran it (the API process has no worker).
    let worker_log = worker.output();
    assert!(worker_log.contains(&job_id), "worker log names the job");
    assert!(!api.output().contains("job running"));
    // JSON logs carry the request id on request lines.
    let api_log = api.output();
    let request_line = api_log
        .lines()
        .find(|l| l.contains("\"request_id\""))
        .expect("a request log line");
    serde_json::from_str::<Value>(request_line).expect("log lines are JSON");

    assert!(
        api.terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "api exits 0 on SIGTERM"
    );
    assert!(
        worker
            .terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "worker exits 0 on SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_first_start_prints_a_working_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = vec![
        (
            "FERRY_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("FERRY_BIND", format!("127.0.0.1:{port}")),
    ];
    let mut app = FerryProcess::start(&["all-in-one"], &env, dir.path().join("app.log"));
    let out = app
        .wait_for_output("ferry listening", Duration::from_secs(30))
        .await;
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("fry_"))
        .expect("bootstrap key printed")
        .to_owned();
    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://127.0.0.1:{port}/v1/migrations"))
        .bearer_auth(&key)
        .json(&migration_body("embedded"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(dir.path().join("data/ferry.db").exists() && dir.path().join("data/queue.db").exists());
    assert!(
        app.terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success())
    );
    // A second start finds the key and prints none.
    let app2 = FerryProcess::start(&["all-in-one"], &env, dir.path().join("app2.log"));
    let out = app2
        .wait_for_output("ferry listening", Duration::from_secs(30))
        .await;
    assert!(
        !out.contains("fry_"),
        "the key is shown only on the first start"
    );
}
