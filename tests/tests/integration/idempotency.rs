//! Retries and races on the calls that change things (issue 5 §5): an
//! `Idempotency-Key` on the CSV import replays the first answer and applies
//! nothing twice; two concurrent commits or starts have one winner and leave
//! the state consistent. (Create and start with a key: migrations.rs.)

#![allow(clippy::unwrap_used)]

use ferry::Parts;
use ferry_tests::archive::ok_json;
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app, spawn_with};
use serde_json::Value;

both_modes!(
    csv_import_with_a_key_applies_once,
    concurrent_commits_have_one_winner,
    concurrent_starts_have_one_winner
);

async fn import(app: &TestApp, id: &str, key: &str, body: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/migrations/{id}/assignments.csv"),
        &app.admin_key,
    )
    .header("content-type", "text/csv")
    .header("Idempotency-Key", key)
    .body(body.to_owned())
    .send()
    .await
    .unwrap()
}

async fn draft_version(app: &TestApp, id: &str) -> i64 {
    app.get_json(&format!("/v1/migrations/{id}/draft")).await["version"]
        .as_i64()
        .unwrap()
}

async fn csv_import_with_a_key_applies_once(mode: Mode) {
    let app = spawn_app(mode).await;
    let id = app.create_migration("idemco").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.prepare_draft(&id).await;
    let exported = app
        .get(
            &format!("/v1/migrations/{id}/assignments.csv"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let before = draft_version(&app, &id).await;

    let first = import(&app, &id, "import-1", &exported).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["draft_version"], before + 1);

    // A retry (say the answer was lost): the same answer, nothing applied.
    let again = import(&app, &id, "import-1", &exported).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(draft_version(&app, &id).await, before + 1);

    // The same key with another body is a client bug: 422, nothing applied.
    let other = exported.replace('\n', "\r\n");
    let p = assert_problem(
        import(&app, &id, "import-1", &other).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert!(p["detail"].is_string());
    assert_eq!(draft_version(&app, &id).await, before + 1);

    // A new key is a new import.
    let fresh = ok_json(import(&app, &id, "import-2", &other).await).await;
    assert_eq!(fresh["draft_version"], before + 2);

    // A malformed key is a 400 and changes nothing.
    let bad = app
        .post(
            &format!("/v1/migrations/{id}/assignments.csv"),
            &app.admin_key,
        )
        .header("content-type", "text/csv")
        .header("Idempotency-Key", "")
        .body(exported.clone())
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "invalid_header").await;
    assert_eq!(draft_version(&app, &id).await, before + 2);
    app.stop().await;
}

/// The statuses of two calls made at the same time, sorted.
async fn race(app: &TestApp, path: &str) -> Vec<(u16, Value)> {
    let (a, b) = tokio::join!(
        app.post(path, &app.admin_key).send(),
        app.post(path, &app.admin_key).send()
    );
    let mut out = Vec::new();
    for res in [a.unwrap(), b.unwrap()] {
        let status = res.status().as_u16();
        out.push((status, res.json::<Value>().await.unwrap()));
    }
    out.sort_by_key(|(s, _)| *s);
    out
}

/// `nothing_to_do` is a loser's answer too: when the winner's job (an empty
/// archive) has already finished, the migration is `uploaded` and the second
/// start asks for a recovery with nothing to recover.
fn assert_one_winner(results: &[(u16, Value)], winner: u16) {
    assert_eq!(results[0].0, winner, "{results:?}");
    assert!(
        matches!(results[1].0, 409 | 412),
        "the loser gets 409/412: {results:?}"
    );
    let code = results[1].1["code"].as_str().unwrap();
    assert!(
        matches!(
            code,
            "illegal_transition"
                | "concurrent_change"
                | "job_active"
                | "precondition_failed"
                | "nothing_to_do"
        ),
        "{code}"
    );
}

async fn concurrent_commits_have_one_winner(mode: Mode) {
    let app = spawn_app(mode).await;
    let id = app.create_migration("raceco").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.prepare_draft(&id).await;
    let results = race(&app, &format!("/v1/migrations/{id}/commit")).await;
    assert_one_winner(&results, 200);
    let m = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(m["state"], "ready");
    assert_eq!(m["version"], results[0].1["version"], "{m}");
    app.stop().await;
}

async fn concurrent_starts_have_one_winner(mode: Mode) {
    // The API alone, no worker: the winner's job stays queued, so the two
    // starts really overlap it. With a worker the winner's job (an empty
    // archive) could finish before the second request arrived, which then
    // was a new, legitimate start of a recovery, and the race was lost by
    // the test, not by the service.
    let app = spawn_with(mode, Parts::Api, |_| {}).await;
    let id = app.create_migration("startco").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.make_ready(&id).await;
    let results = race(&app, &format!("/v1/migrations/{id}/start")).await;
    assert_one_winner(&results, 202);
    let jobs = app.get_json(&format!("/v1/migrations/{id}/jobs")).await;
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exactly one job: {jobs}");
    assert_eq!(items[0]["id"], results[0].1["job"]["id"]);
    app.stop().await;
}
