//! Signed webhooks (issue 6 item 3), on both run modes, against a real
//! HTTP receiver started here on a free port: the events of a real flow
//! arrive signed (checked with `openssl dgst -hmac`, an implementation
//! independent of Ferry's), a failed delivery is retried with back-off, one
//! that keeps failing ends `failed` and can be redelivered, and
//! subscriptions are validated and admin-only.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, content, ok_json};
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app, spawn_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_modes!(
    a_real_flow_sends_signed_events,
    failed_deliveries_are_retried_then_given_up_and_redelivered,
    subscriptions_are_validated_and_admin_only,
    a_split_job_announces_itself_once
);

const WAIT: Duration = Duration::from_secs(60);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A tiny HTTP/1.1 server: records every request and answers the next
/// scripted status (200 once the script is used up, or `fallback`).
#[derive(Clone)]
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    fallback: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            requests: Arc::default(),
            script: Arc::default(),
            fallback: Arc::new(Mutex::new(200)),
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move { me.serve(sock).await });
            }
        });
        r
    }

    async fn serve(&self, mut sock: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        // Head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        let status = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(*self.fallback.lock().unwrap());
        self.requests.lock().unwrap().push(Received {
            path,
            headers,
            body,
        });
        let answer =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        let _ = sock.write_all(answer.as_bytes()).await;
        let _ = sock.shutdown().await;
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the requests so far.
    async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.requests();
            if pred(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: got {:#?}",
                got.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// HMAC-SHA256 by OpenSSL's command line, independent of Ferry's code.
fn openssl_hmac(secret: &str, text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    line.trim().rsplit(' ').next().unwrap().to_owned()
}

/// Checks `Ferry-Signature`, `Ferry-Event` and `Ferry-Delivery` of `r`.
fn assert_signed(r: &Received, secret: &str) {
    let sig = r.header("ferry-signature");
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header: {sig:?}"));
    let t: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - t).abs() < 300, "timestamp {t} vs now {now}");
    assert_eq!(
        v1,
        openssl_hmac(secret, &format!("{t}.{}", r.body)),
        "signature of {}",
        r.body
    );
    assert_ne!(
        v1,
        openssl_hmac("another secret!!", &format!("{t}.{}", r.body))
    );
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("ferry-event"), r.json()["type"].as_str().unwrap());
    assert!(
        uuid::Uuid::parse_str(r.header("ferry-delivery")).is_ok(),
        "{:?}",
        r.headers
    );
    assert_eq!(r.path, "/hook");
}

async fn subscribe(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post("/v1/webhooks", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/webhooks/{hook}/deliveries?limit=200"))
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until every delivery of `hook` satisfies `pred` (and there are `n`).
async fn wait_for_log(
    app: &TestApp,
    hook: &str,
    n: usize,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = deliveries(app, hook).await;
        if log.len() == n && log.iter().all(&pred) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery log of {hook}: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SECRET: &str = "s3cr3t-for-the-webhook-test";

/// create → make_ready → start → job finished with a document missing:
/// every event arrives once, signed, and in the delivery log; another
/// tenant's subscription hears none of it; a redelivery sends the same event
/// again under a new delivery id.
async fn a_real_flow_sends_signed_events(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| s.webhook_poll_ms = 100).await;
    let rx = Receiver::start().await;
    let other = Receiver::start().await;
    let res = subscribe(
        &app,
        &app.admin_key,
        json!({"url": rx.url, "events": [
            "migration.state_changed", "job.progress", "job.finished", "job.failed",
            "job.cancelled", "documents.missing"
        ], "secret": SECRET, "tenant": "hookco"}),
    )
    .await;
    let hook = ok_json(res).await;
    assert_eq!(hook["secret"], SECRET);
    assert_eq!(hook["tenant"], "hookco");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let res = subscribe(
        &app,
        &app.admin_key,
        json!({"url": other.url, "events": ["migration.state_changed", "job.finished"],
               "tenant": "elsewhere"}),
    )
    .await;
    let other_hook = ok_json(res).await;
    assert!(other_hook["secret"].as_str().unwrap().starts_with("whsec_"));

    // Four documents present, one missing.
    let src = SourceArchive::new(&app);
    let mut manifest = String::from("document_id,path,size\n");
    for i in 0..4u8 {
        src.write(&format!("d/{i}.bin"), &content(i, 1024));
        manifest.push_str(&format!("doc{i},d/{i}.bin,1024\n"));
    }
    manifest.push_str("gone,d/gone.bin,10\n");
    let m = app.create_migration_from(&src.body("hookco")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body(manifest)
        .send()
        .await
        .unwrap();
    ok_json(res).await;
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&job_id, WAIT).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // draft→ready, ready→uploading, uploading→uploaded; 25/50/75 %;
    // job.finished; documents.missing.
    let got = rx.wait_for("8 events", |r| r.len() >= 8).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = rx.requests();
    assert_eq!(got_all.len(), 8, "exactly once each: {got:#?}");
    for r in &got_all {
        assert_signed(r, SECRET);
        let body = r.json();
        assert_eq!(body["tenant"], "hookco");
        assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    }
    let of = |t: &str| -> Vec<Value> {
        got_all
            .iter()
            .map(Received::json)
            .filter(|b| b["type"] == t)
            .collect()
    };
    let mut transitions: Vec<(String, String)> = of("migration.state_changed")
        .iter()
        .map(|b| {
            assert_eq!(b["data"]["migration_id"], id.as_str());
            (
                b["data"]["from"].as_str().unwrap().to_owned(),
                b["data"]["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    transitions.sort();
    assert_eq!(
        transitions,
        vec![
            ("draft".to_owned(), "ready".to_owned()),
            ("ready".to_owned(), "uploading".to_owned()),
            ("uploading".to_owned(), "uploaded".to_owned()),
        ]
    );
    let mut percents: Vec<i64> = of("job.progress")
        .iter()
        .map(|b| {
            assert_eq!(b["data"]["job_id"], job_id.as_str());
            assert_eq!(b["data"]["documents_total"], 5);
            b["data"]["percent"].as_i64().unwrap()
        })
        .collect();
    percents.sort();
    assert_eq!(percents, vec![25, 50, 75]);
    let finished = of("job.finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["data"]["job_id"], job_id.as_str());
    assert_eq!(finished[0]["data"]["state"], "succeeded");
    assert_eq!(finished[0]["data"]["documents_uploaded"], 4);
    assert_eq!(finished[0]["data"]["documents_missing"], 1);
    let missing = of("documents.missing");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["data"]["migration_id"], id.as_str());
    assert_eq!(missing[0]["data"]["documents_missing"], 1);
    assert!(other.requests().is_empty(), "another tenant's subscription");

    // The log: every delivery delivered at the first attempt, under the id
    // its request carried.
    let log = wait_for_log(&app, &hook_id, 8, |d| d["status"] == "delivered").await;
    for d in &log {
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["last_status_code"], 200, "{d}");
        assert!(d.get("next_attempt_at").is_none(), "{d}");
        assert!(
            got_all
                .iter()
                .any(|r| r.header("ferry-delivery") == d["id"].as_str().unwrap()
                    && r.json()["id"] == d["event_id"]
                    && r.json()["type"] == d["event"]),
            "{d}"
        );
    }

    // Redelivery on request: same event, new delivery id, logged with the
    // one it repeats.
    let first = log
        .iter()
        .find(|d| d["event"] == "job.finished")
        .unwrap()
        .clone();
    let again = app
        .post_json(&format!(
            "/v1/webhooks/{hook_id}/deliveries/{}/redeliver",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again["redelivery_of"], first["id"]);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_ne!(again["id"], first["id"]);
    let got = rx.wait_for("the redelivery", |r| r.len() >= 9).await;
    let last = &got[8];
    assert_signed(last, SECRET);
    assert_eq!(last.header("ferry-delivery"), again["id"].as_str().unwrap());
    assert_eq!(last.json()["id"], first["event_id"]);
    assert_eq!(last.header("ferry-event"), "job.finished");
    wait_for_log(&app, &hook_id, 9, |d| d["status"] == "delivered").await;
    app.stop().await;
}

/// The receiver answers 500 once, then 200: the delivery shows 2 attempts,
/// delivered. A receiver that always fails gets `webhook_max_attempts`
/// attempts, then the delivery is `failed` with the last answer; once it
/// works again, a redelivery gets through.
async fn failed_deliveries_are_retried_then_given_up_and_redelivered(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.webhook_poll_ms = 100;
        s.webhook_backoff_base_ms = 200;
        s.webhook_max_attempts = 3;
    })
    .await;
    let flaky = Receiver::start().await;
    flaky.script.lock().unwrap().push_back(500);
    let broken = Receiver::start().await;
    *broken.fallback.lock().unwrap() = 503;
    let flaky_hook = ok_json(
        subscribe(
            &app,
            &app.admin_key,
            json!({"url": flaky.url, "events": ["migration.state_changed"], "secret": SECRET}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let broken_hook = ok_json(
        subscribe(
            &app,
            &app.admin_key,
            json!({"url": broken.url, "events": ["migration.state_changed"], "secret": SECRET}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = app.create_migration("retryco").await;
    let id = m["id"].as_str().unwrap();
    app.post_json(&format!("/v1/migrations/{id}/cancel")).await;

    let got = flaky.wait_for("two attempts", |r| r.len() >= 2).await;
    for r in &got {
        assert_signed(r, SECRET);
    }
    assert_eq!(got[0].body, got[1].body, "the same event");
    assert_eq!(
        got[0].header("ferry-delivery"),
        got[1].header("ferry-delivery"),
        "the same delivery"
    );
    assert_eq!(got[0].json()["data"]["to"], "cancelled");
    let log = wait_for_log(&app, &flaky_hook, 1, |d| d["status"] == "delivered").await;
    assert_eq!(log[0]["attempts"], 2, "{log:#?}");
    assert_eq!(log[0]["last_status_code"], 200);

    let log = wait_for_log(&app, &broken_hook, 1, |d| d["status"] == "failed").await;
    assert_eq!(log[0]["attempts"], 3, "{log:#?}");
    assert_eq!(log[0]["last_status_code"], 503);
    assert!(
        log[0]["last_error"].as_str().unwrap().contains("503"),
        "{log:#?}"
    );
    assert!(log[0].get("next_attempt_at").is_none());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(broken.requests().len(), 3, "no attempt after giving up");

    *broken.fallback.lock().unwrap() = 204;
    let again = app
        .post(
            &format!(
                "/v1/webhooks/{broken_hook}/deliveries/{}/redeliver",
                log[0]["id"].as_str().unwrap()
            ),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let log = wait_for_log(&app, &broken_hook, 2, |d| {
        d["status"] == "delivered" || d["status"] == "failed"
    })
    .await;
    let redelivered = log.iter().find(|d| d["status"] == "delivered").unwrap();
    assert_eq!(redelivered["redelivery_of"], log[1]["id"], "{log:#?}");
    assert_eq!(redelivered["attempts"], 1);
    assert_eq!(redelivered["last_status_code"], 204);
    assert_eq!(broken.requests().len(), 4);
    app.stop().await;
}

/// 422 for a bad URL, unknown or no events, a short secret; 403 for every
/// role but admin; a tenant-limited admin key subscribes to its own tenant
/// only and sees only its tenant's subscriptions; delete.
async fn subscriptions_are_validated_and_admin_only(mode: Mode) {
    let app = spawn_app(mode).await;
    let key = &app.admin_key;
    let ok = json!({"url": "https://hooks.example.com/ferry", "events": ["job.finished"]});

    let p = assert_problem(
        subscribe(
            &app,
            key,
            json!({"url": "ftp://hooks.example.com/", "events": ["job.finished"]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "url", "{p}");
    assert_eq!(p["errors"][0]["code"], "invalid_url", "{p}");
    for url in [
        "https://",
        "https://user@x.example/",
        "https://x.example/a b",
        "javascript:alert(1)",
    ] {
        let res = subscribe(&app, key, json!({"url": url, "events": ["job.finished"]})).await;
        assert_problem(res, 422, "validation_failed").await;
    }
    let p = assert_problem(
        subscribe(
            &app,
            key,
            json!({"url": "https://x.example/", "events": ["job.finished", "job.exploded"]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "events[1]", "{p}");
    assert_eq!(p["errors"][0]["code"], "unknown_event", "{p}");
    let p = assert_problem(
        subscribe(
            &app,
            key,
            json!({"url": "https://x.example/", "events": []}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "no_events", "{p}");
    let p = assert_problem(
        subscribe(
            &app,
            key,
            json!({"url": "https://x.example/", "events": ["job.failed"], "secret": "short"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "invalid_secret", "{p}");

    for role in ["sales", "migrator", "ops"] {
        let k = app.key(role, None).await;
        assert_problem(subscribe(&app, &k, ok.clone()).await, 403, "forbidden").await;
        let res = app.get("/v1/webhooks", &k).send().await.unwrap();
        assert_problem(res, 403, "forbidden").await;
    }

    // Unrestricted admin: every tenant; repeats are dropped.
    let all = ok_json(
        subscribe(
            &app,
            key,
            json!({"url": "http://127.0.0.1:9/x", "events": ["job.finished", "job.finished", "job.failed"]}),
        )
        .await,
    )
    .await;
    assert!(all.get("tenant").is_none(), "{all}");
    assert_eq!(all["events"], json!(["job.finished", "job.failed"]));
    assert!(all["secret"].as_str().unwrap().starts_with("whsec_"));

    // A key limited to acme: its own tenant, whatever it leaves out.
    let acme = app.key("admin", Some("acme")).await;
    let own = ok_json(subscribe(&app, &acme, ok.clone()).await).await;
    assert_eq!(own["tenant"], "acme");
    let mut other = ok.clone();
    other["tenant"] = json!("globex");
    assert_problem(subscribe(&app, &acme, other).await, 403, "tenant_forbidden").await;
    let listed = app
        .get("/v1/webhooks", &acme)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![own["id"].as_str().unwrap()]);
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");
    let listed = app.get_json("/v1/webhooks").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains("whsec_"),
        "secrets are shown once"
    );
    // The all-tenant subscription is not acme's to read or delete.
    let all_id = all["id"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/webhooks/{all_id}/deliveries"), &acme)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/webhooks/{all_id}")))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(
            &format!("/v1/webhooks/{all_id}/deliveries?cursor=nope"),
            key,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // Delete: gone from the list, a second delete is 404.
    for _ in 0..2 {
        let res = app
            .client
            .delete(app.url(&format!("/v1/webhooks/{all_id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if res.status() != 204 {
            assert_problem(res, 404, "not_found").await;
        }
    }
    let listed = app.get_json("/v1/webhooks").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// A job split into batches (several queue messages, maybe several
/// workers) is announced as the one job the client polls: each progress
/// milestone once, one `job.finished` naming the parent.
async fn a_split_job_announces_itself_once(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.webhook_poll_ms = 100;
        s.upload_batch_documents = 2;
    })
    .await;
    let rx = Receiver::start().await;
    ok_json(
        subscribe(
            &app,
            &app.admin_key,
            json!({"url": rx.url, "events": ["job.progress", "job.finished", "job.failed"],
                   "secret": SECRET}),
        )
        .await,
    )
    .await;
    let src = SourceArchive::new(&app);
    let mut manifest = String::from("document_id,path,size\n");
    for i in 0..8u8 {
        src.write(&format!("d/{i}.bin"), &content(i, 512));
        manifest.push_str(&format!("doc{i},d/{i}.bin,512\n"));
    }
    let m = app.create_migration_from(&src.body("splitco")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body(manifest)
        .send()
        .await
        .unwrap();
    ok_json(res).await;
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&job_id, WAIT).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    rx.wait_for("job.finished", |r| {
        r.iter().any(|r| r.header("ferry-event") == "job.finished")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.requests();
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    let finished: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["type"] == "job.finished")
        .collect();
    assert_eq!(finished.len(), 1, "{bodies:#?}");
    assert_eq!(finished[0]["data"]["job_id"], job_id.as_str());
    assert_eq!(finished[0]["data"]["documents_uploaded"], 8);
    let mut percents: Vec<i64> = bodies
        .iter()
        .filter(|b| b["type"] == "job.progress")
        .map(|b| {
            assert_eq!(b["data"]["job_id"], job_id.as_str(), "{b}");
            b["data"]["percent"].as_i64().unwrap()
        })
        .collect();
    percents.sort();
    assert_eq!(percents, vec![25, 50, 75], "{bodies:#?}");
    assert!(bodies.iter().all(|b| b["type"] != "job.failed"));
    for r in &got {
        assert_signed(r, SECRET);
    }
    app.stop().await;
}
