//! The recovery sweep (`FERRY_RECOVERY_SWEEP_SECS`): while a migration is
//! `uploaded` with missing documents, the worker looks for them in the
//! archive and starts a recovery when some appeared — through the same start
//! as `POST …/start`, so the state machine, the freeze and the job record are
//! the same; with several workers sweeping, one recovery starts.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive as Source, ok_json as json};
use ferry_tests::{Mode, TestApp, both_modes, spawn_with};
use secrecy::ExposeSecret;
use serde_json::Value;

both_modes!(
    sweep_starts_a_recovery_when_documents_appear,
    sweep_is_off_by_default
);

const WAIT: Duration = Duration::from_secs(60);

async fn get(app: &TestApp, path: &str) -> Value {
    json(app.get(path, &app.admin_key).send().await.unwrap()).await
}

async fn jobs(app: &TestApp, id: &str) -> Vec<Value> {
    get(app, &format!("/v1/migrations/{id}/jobs")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// A migration uploaded with `a.txt` stored and `b.txt`, `c.txt` missing.
async fn uploaded_with_missing(app: &TestApp, src: &Source) -> String {
    src.write("a.txt", b"aaa");
    let m = app.create_migration_from(&src.body("acme")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let manifest = "document_id,path,size\na,a.txt,3\nb,later/b.txt,4\nc,c.txt,5\n";
    json(
        app.put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
            .header("Content-Type", "text/csv")
            .body(manifest)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let started = json(
        app.post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["progress"]["documents_missing"], 2, "{job}");
    let mig = get(app, &format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "uploaded");
    id
}

/// Waits until the migration has `n` jobs, the last one finished.
async fn wait_for_jobs(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = jobs(app, id).await;
        if list.len() >= n
            && list
                .last()
                .is_some_and(|j| matches!(j["state"].as_str(), Some("succeeded" | "failed")))
        {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} jobs: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sweep_starts_a_recovery_when_documents_appear(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| s.recovery_sweep_secs = 1).await;
    let src = Source::new(&app);
    let id = uploaded_with_missing(&app, &src).await;

    // Nothing appeared: a few rounds start nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jobs(&app, &id).await.len(), 1);
    assert_eq!(
        get(&app, &format!("/v1/migrations/{id}")).await["state"],
        "uploaded"
    );

    // One of the two is put back: the sweep starts a recovery, which
    // uploads it; the other stays missing.
    src.write("later/b.txt", b"bbbb");
    let list = wait_for_jobs(&app, &id, 2).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let recovery = &list[1];
    assert_eq!(recovery["kind"], "recovery");
    assert_eq!(recovery["state"], "succeeded", "{recovery}");
    assert_eq!(recovery["progress"]["documents_uploaded"], 1, "{recovery}");
    assert_eq!(recovery["progress"]["documents_missing"], 1, "{recovery}");
    let stored = app.data_dir().join("tenants/acme/documents/later/b.txt");
    assert_eq!(std::fs::read(stored).unwrap(), b"bbbb");
    let mig = get(&app, &format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "uploaded");
    // The start went through the same start: the freeze names the sweep.
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], true);
    assert_eq!(freeze["reason"], "recovery");
    assert_eq!(freeze["by"], "recovery-sweep");

    // `c.txt` is still absent: no further recovery.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jobs(&app, &id).await.len(), 2);

    // A completed migration is left alone even when the file comes back.
    json(
        app.post(&format!("/v1/migrations/{id}/complete"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    src.write("c.txt", b"ccccc");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(jobs(&app, &id).await.len(), 2);
    assert_eq!(
        get(&app, &format!("/v1/migrations/{id}")).await["state"],
        "completed"
    );
    app.stop().await;
}

async fn sweep_is_off_by_default(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |_| {}).await;
    assert_eq!(app.settings.recovery_sweep_secs, 0);
    let src = Source::new(&app);
    let id = uploaded_with_missing(&app, &src).await;
    src.write("later/b.txt", b"bbbb");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(jobs(&app, &id).await.len(), 1);
    app.stop().await;
}

/// Two application instances (API + worker each) sweep the same state
/// database and queue: exactly one recovery starts, and it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweeping_workers_start_one_recovery() {
    let first = spawn_with(Mode::Production, Parts::AllInOne, |s| {
        s.recovery_sweep_secs = 1;
    })
    .await;
    let shared = first.settings.clone();
    let tenants = shared.tenant_store_url();
    let second = spawn_with(Mode::Production, Parts::AllInOne, move |s| {
        s.database_url = shared.database_url.clone();
        s.queue_url = shared.queue_url.clone();
        s.queue_namespace = shared.queue_namespace.clone();
        s.tenant_store_url = Some(tenants);
        s.recovery_sweep_secs = 1;
    })
    .await;
    assert_eq!(
        second
            .settings
            .database_url
            .as_ref()
            .unwrap()
            .expose_secret(),
        first
            .settings
            .database_url
            .as_ref()
            .unwrap()
            .expose_secret()
    );
    let src = Source::new(&first);
    let id = uploaded_with_missing(&first, &src).await;
    src.write("later/b.txt", b"bbbb");
    let list = wait_for_jobs(&first, &id, 2).await;
    // Rounds of both workers pass after the recovery: still one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let list_after = jobs(&first, &id).await;
    assert_eq!(list_after.len(), 2, "{list_after:?}");
    assert_eq!(list[1]["kind"], "recovery");
    assert_eq!(list[1]["state"], "succeeded");
    assert_eq!(list[1]["progress"]["documents_uploaded"], 1);
    let missing = get(
        &first,
        &format!("/v1/migrations/{id}/documents?status=missing"),
    )
    .await;
    assert_eq!(missing["items"].as_array().unwrap().len(), 1);
    second.stop().await;
    first.stop().await;
}
