//! Dependencies going away and coming back while Ferry runs: `/readyz` goes
//! red naming the dependency and green again by itself.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_tests::processes::free_port;
use ferry_tests::{Mode, assert_problem, spawn_with};
use secrecy::SecretString;
use serde_json::Value;

fn start_redis(port: u16) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on PATH")
}

async fn wait_ready(client: &reqwest::Client, url: &str, want: u16) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let res = client.get(url).send().await.unwrap();
        if res.status().as_u16() == want {
            return res;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_redis_down_and_up() {
    let port = free_port();
    let mut redis = start_redis(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = spawn_with(Mode::Production, ferry::Parts::Api, |s| {
        s.queue_url = Some(SecretString::from(format!("redis://127.0.0.1:{port}")));
        s.queue_timeout_secs = 1;
        s.readiness_timeout_secs = 1;
    })
    .await;
    let readyz = app.url("/readyz");
    wait_ready(&app.client, &readyz, 200).await;
    redis.kill().unwrap();
    redis.wait().unwrap();
    let started = tokio::time::Instant::now();
    let res = wait_ready(&app.client, &readyz, 503).await;
    let problem = assert_problem(res, 503, "service_unavailable").await;
    assert_eq!(problem["dependency"], "queue");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang past the timeout"
    );
    // Starting a migration while the queue is down: 503, and nothing changes.
    let m = app.create_migration("faulty").await;
    let id = m["id"].as_str().unwrap();
    app.make_ready(id).await;
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 503, "service_unavailable").await;
    assert_eq!(problem["dependency"], "queue");
    let after: Value = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["state"], "ready",
        "a refused start leaves the migration as it was"
    );
    let mut redis = start_redis(port);
    wait_ready(&app.client, &readyz, 200).await;
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        202,
        "the same process starts jobs again without a restart"
    );
    app.stop().await;
    let _ = redis.kill();
    let _ = redis.wait();
}

/// The worker outlives a Redis restart: jobs started afterwards still run,
/// in the same process, without anybody restarting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_survives_a_redis_restart() {
    let port = free_port();
    let mut redis = start_redis(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = spawn_with(Mode::Production, ferry::Parts::AllInOne, |s| {
        s.queue_url = Some(SecretString::from(format!("redis://127.0.0.1:{port}")));
        s.queue_timeout_secs = 1;
        s.queue_heartbeat_secs = 1;
    })
    .await;
    let readyz = app.url("/readyz");
    wait_ready(&app.client, &readyz, 200).await;
    redis.kill().unwrap();
    redis.wait().unwrap();
    wait_ready(&app.client, &readyz, 503).await;
    // Down long enough for the worker's polls and heartbeats to fail.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut redis = start_redis(port);
    wait_ready(&app.client, &readyz, 200).await;
    let m = app.create_migration("phoenix").await;
    let id = m["id"].as_str().unwrap();
    app.make_ready(id).await;
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    let job = app
        .wait_for_job(
            started["job"]["id"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    app.stop().await;
    let _ = redis.kill();
    let _ = redis.wait();
}
