//! Before a start, the migration shows how long its upload would take
//! (`upload_estimate`), and the outcome ledger downloads as NDJSON beside
//! the CSV.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive as Source, ok_json as json};
use ferry_tests::{Mode, TestApp, both_modes, spawn_with};
use serde_json::Value;

both_modes!(estimate_before_start_then_measured, ledger_as_ndjson);

const WAIT: Duration = Duration::from_secs(60);
/// The configured default throughput of these tests: 10 MB/s.
const DEFAULT_TPUT: u64 = 10_000_000;

async fn get(app: &TestApp, path: &str) -> Value {
    json(app.get(path, &app.admin_key).send().await.unwrap()).await
}

/// A ready migration with `a.txt` (2 MiB) and `b.txt` (4 bytes) in the
/// archive and `c.txt` (100 MB) missing from it.
async fn ready_with_manifest(app: &TestApp) -> (String, u64) {
    let src = Source::new(app);
    let big = vec![7u8; 2 * 1024 * 1024];
    src.write("a.txt", &big);
    src.write("b.txt", b"bbbb");
    let m = app.create_migration_from(&src.body("acme")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let manifest = format!(
        "document_id,path,size\na,a.txt,{}\nb,b.txt,4\nc,c.txt,100000000\n",
        big.len()
    );
    json(
        app.put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
            .header("Content-Type", "text/csv")
            .body(manifest)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (id, big.len() as u64 + 4 + 100_000_000)
}

async fn start_and_wait(app: &TestApp, id: &str) -> Value {
    let started = json(
        app.post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    app.wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await
}

async fn estimate_before_start_then_measured(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.default_throughput_bytes_per_sec = DEFAULT_TPUT;
    })
    .await;

    // Without a manifest there is nothing to estimate.
    let bare = app.create_migration("empty").await;
    let bare = get(
        &app,
        &format!("/v1/migrations/{}", bare["id"].as_str().unwrap()),
    )
    .await;
    assert!(bare.get("upload_estimate").is_none(), "{bare}");

    let (id, bytes) = ready_with_manifest(&app).await;
    let res = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let mig: Value = res.json().await.unwrap();
    assert_eq!(mig["state"], "ready");
    let e = &mig["upload_estimate"];
    assert_eq!(e["documents_total"], 3, "{mig}");
    assert_eq!(e["bytes_total"], bytes);
    // No job has finished yet: the configured default.
    assert_eq!(e["basis"], "default");
    assert_eq!(e["throughput_bytes_per_sec"], DEFAULT_TPUT);
    assert_eq!(e["seconds"], bytes.div_ceil(DEFAULT_TPUT));
    // The estimate is part of the ETag'd view: unchanged → 304.
    let again = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let job = start_and_wait(&app, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_missing"], 1, "{job}");
    let measured = job["progress"]["throughput_bytes_per_sec"]
        .as_u64()
        .unwrap();

    // Uploaded with `c` missing: a recovery would copy `c`, at the
    // throughput the finished job measured.
    let mig = get(&app, &format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "uploaded");
    let e = &mig["upload_estimate"];
    assert_eq!(e["documents_total"], 1, "{mig}");
    assert_eq!(e["bytes_total"], 100_000_000);
    assert_eq!(e["basis"], "measured", "{mig}");
    let tput = e["throughput_bytes_per_sec"].as_u64().unwrap();
    assert!(
        tput.abs_diff(measured) <= 1,
        "{tput} vs the job's {measured}"
    );
    assert_eq!(e["seconds"], 100_000_000u64.div_ceil(tput));

    // Once completed, no start is possible: no estimate.
    json(
        app.post(&format!("/v1/migrations/{id}/complete"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mig = get(&app, &format!("/v1/migrations/{id}")).await;
    assert!(mig.get("upload_estimate").is_none(), "{mig}");
    app.stop().await;
}

async fn ledger_as_ndjson(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |_| {}).await;
    let (id, _) = ready_with_manifest(&app).await;
    let job = start_and_wait(&app, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    let res = app
        .get(
            &format!("/v1/migrations/{id}/documents.ndjson"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("acme-documents.ndjson")
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every manifest row once, in manifest order, as the list shows it.
    let list = get(&app, &format!("/v1/migrations/{id}/documents")).await;
    assert_eq!(&lines, list["items"].as_array().unwrap());
    let states: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["document_id"].as_str().unwrap(),
                l["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [("a", "uploaded"), ("b", "uploaded"), ("c", "missing")]
    );

    // Others' migrations are not found; a read-only key may download it.
    let ops = app.key("ops", None).await;
    let res = app
        .get(&format!("/v1/migrations/{id}/documents.ndjson"), &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let other = app.key("ops", Some("other")).await;
    let res = app
        .get(&format!("/v1/migrations/{id}/documents.ndjson"), &other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}
