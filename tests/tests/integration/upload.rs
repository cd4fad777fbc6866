//! Upload and recovery end to end (SPEC §3.6–§3.8), on both run modes: the
//! manifest, the worker streaming a real source folder into the tenant store,
//! the ledger, recovery of documents put back, and the freeze.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::archive::{
    SourceArchive as Source, content, file_sha256 as sha256, ok_json as json,
};
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app, spawn_with};
use serde_json::Value;

both_modes!(
    upload_then_recovery_then_complete,
    recovery_with_nothing_left_is_refused,
    manifest_paths_that_escape_are_rejected,
    manifest_limits_and_states,
    cancel_lifts_the_freeze,
    outcomes_are_counted_once
);
#[cfg(unix)]
both_modes!(symlinks_out_of_the_archive_fail);

const WAIT: Duration = Duration::from_secs(60);

async fn put_manifest(app: &TestApp, id: &str, ctype: &str, body: String) -> reqwest::Response {
    app.put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", ctype)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn start(app: &TestApp, id: &str) -> Value {
    json(
        app.post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn get(app: &TestApp, path: &str) -> Value {
    json(app.get(path, &app.admin_key).send().await.unwrap()).await
}

async fn ids_with_status(app: &TestApp, id: &str, status: &str) -> Vec<String> {
    let page = get(
        app,
        &format!("/v1/migrations/{id}/documents?status={status}"),
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], status);
            d["document_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn upload_then_recovery_then_complete(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    let small = content(1, 1000);
    // Over the 8 MiB multipart threshold: exercises the multipart path.
    let large = content(2, 9 * 1024 * 1024 + 17);
    let late = content(3, 4096);
    src.write("2024/a.pdf", &small);
    src.write("2024/big.bin", &large);
    src.write("notes/b c.txt", b"hello");
    let m = app.create_migration_from(&src.body("acme")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let small_sha = sha256(&src.docs().join("2024/a.pdf"));
    let mut manifest = String::from("document_id,path,size,sha256\n");
    manifest.push_str(&format!("d1,2024/a.pdf,{},{small_sha}\n", small.len()));
    manifest.push_str(&format!("d2,2024/big.bin,{},\n", large.len()));
    manifest.push_str("d3,notes/b c.txt,5,\n");
    manifest.push_str(&format!("d4,later/x.doc,{},\n", late.len()));
    manifest.push_str("d5,later/deep/y.doc,5,\n");
    let stored = json(put_manifest(&app, &id, "text/csv", manifest).await).await;
    assert_eq!(stored["documents"], 5);
    assert_eq!(
        ids_with_status(&app, &id, "pending").await,
        ["d1", "d2", "d3", "d4", "d5"]
    );

    // Before the start: not frozen.
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false);
    assert_eq!(freeze["desktop_and_service_clients"], "allowed");
    assert_eq!(freeze["web_clients"], "normal");
    assert!(freeze["since"].is_null());

    let started = start(&app, &id).await;
    assert_eq!(started["job"]["kind"], "upload");
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], true, "{freeze}");
    assert_eq!(freeze["reason"], "upload");
    assert_eq!(freeze["desktop_and_service_clients"], "blocked");
    assert_eq!(freeze["web_clients"], "read_only");
    assert!(freeze["since"].is_string() && freeze["by"].is_string());

    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let p = &job["progress"];
    assert_eq!(p["documents_total"], 5, "{job}");
    assert_eq!(p["documents_uploaded"], 3);
    assert_eq!(p["documents_missing"], 2);
    assert_eq!(p["documents_failed"], 0);
    assert_eq!(p["documents_remaining"], 0);
    let dump_len = std::fs::metadata(src.root.join("db.dump")).unwrap().len();
    let uploaded_bytes = (small.len() + large.len() + 5) as u64 + dump_len;
    assert_eq!(p["bytes_done"], uploaded_bytes);
    assert_eq!(p["database_sha256"], sha256(&src.root.join("db.dump")));

    // The migration is uploaded, shows the job, and answers 304 when unchanged.
    let res = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let mig: Value = res.json().await.unwrap();
    assert_eq!(mig["state"], "uploaded");
    assert_eq!(mig["latest_job"]["progress"]["documents_missing"], 2);
    let again = app
        .get(&format!("/v1/migrations/{id}"), &app.admin_key)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    assert_eq!(ids_with_status(&app, &id, "missing").await, ["d4", "d5"]);
    let tenant_docs = app.data_dir().join("tenants/acme/documents");
    for rel in ["2024/a.pdf", "2024/big.bin", "notes/b c.txt"] {
        let stored = tenant_docs.join(rel);
        assert_eq!(sha256(&stored), sha256(&src.docs().join(rel)), "{rel}");
        assert_eq!(
            std::fs::read(&stored).unwrap(),
            std::fs::read(src.docs().join(rel)).unwrap()
        );
    }
    assert_eq!(
        std::fs::read(app.data_dir().join("tenants/acme/database/db.dump")).unwrap(),
        std::fs::read(src.root.join("db.dump")).unwrap()
    );
    let d1 = get(&app, &format!("/v1/migrations/{id}/documents?limit=1")).await;
    assert_eq!(d1["items"][0]["actual_sha256"], small_sha.as_str());
    assert_eq!(d1["next_cursor"], "0");

    // The missing files are put back; a recovery uploads exactly those.
    src.write("later/x.doc", &late);
    src.write("later/deep/y.doc", b"12345");
    let recovery = start(&app, &id).await;
    assert_eq!(recovery["job"]["kind"], "recovery");
    assert_eq!(recovery["migration"]["state"], "recovering");
    let job = app
        .wait_for_job(recovery["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_total"], 2);
    assert_eq!(job["progress"]["documents_uploaded"], 2);
    assert_eq!(job["progress"]["bytes_done"], late.len() + 5);
    assert!(ids_with_status(&app, &id, "missing").await.is_empty());
    assert_eq!(ids_with_status(&app, &id, "uploaded").await.len(), 5);
    for rel in ["later/x.doc", "later/deep/y.doc"] {
        assert_eq!(
            sha256(&tenant_docs.join(rel)),
            sha256(&src.docs().join(rel))
        );
    }
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], true);
    assert_eq!(freeze["reason"], "recovery");

    // The ledger: every manifest row once, in exactly one state.
    let res = app
        .get(
            &format!("/v1/migrations/{id}/documents.csv"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, ["d1", "d2", "d3", "d4", "d5"]);
    assert!(rows.iter().all(|r| &r[3] == "uploaded"), "{csv}");

    // Complete lifts the freeze.
    let done = json(
        app.post(&format!("/v1/migrations/{id}/complete"), &app.admin_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(done["state"], "completed");
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false);
    assert_eq!(freeze["desktop_and_service_clients"], "allowed");
    assert_eq!(freeze["web_clients"], "normal");
    assert_eq!(freeze["lift_reason"], "completed");
    assert!(freeze["lifted_at"].is_string());
    app.stop().await;
}

async fn recovery_with_nothing_left_is_refused(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    src.write("a.txt", b"a");
    let m = app.create_migration_from(&src.body("acme")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let ndjson = "{\"document_id\":\"a\",\"path\":\"a.txt\",\"size\":1}\n";
    json(put_manifest(&app, &id, "application/x-ndjson", ndjson.to_owned()).await).await;
    let started = start(&app, &id).await;
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["progress"]["documents_uploaded"], 1, "{job}");
    let res = app
        .post(&format!("/v1/migrations/{id}/start"), &app.admin_key)
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 409, "nothing_to_do").await;
    assert!(p["detail"].as_str().unwrap().contains("missing or failed"));
    let mig = get(&app, &format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "uploaded", "a refused start changes nothing");
    let jobs = get(&app, &format!("/v1/migrations/{id}/jobs")).await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// A symbolic link inside a local archive that points outside it is not
/// followed: the document fails, and nothing of the target is copied.
#[cfg(unix)]
async fn symlinks_out_of_the_archive_fail(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    std::fs::write(app.data_dir().join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(
        app.data_dir().join("secret.txt"),
        src.docs().join("link.txt"),
    )
    .unwrap();
    let m = app.create_migration_from(&src.body("acme")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let manifest = "document_id,path,size\nl,link.txt,6\n".to_owned();
    json(put_manifest(&app, &id, "text/csv", manifest).await).await;
    let started = start(&app, &id).await;
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_failed"], 1, "{job}");
    assert!(
        job["last_error"]
            .as_str()
            .unwrap()
            .contains("outside the archive")
    );
    let failed = get(
        &app,
        &format!("/v1/migrations/{id}/documents?status=failed"),
    )
    .await;
    assert!(
        failed["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("symbolic link")
    );
    assert!(
        !app.data_dir()
            .join("tenants/acme/documents/link.txt")
            .exists()
    );
    app.stop().await;
}

async fn manifest_paths_that_escape_are_rejected(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap().to_owned();
    let good = "document_id,path,size\nok,fine/a.pdf,1\n".to_owned();
    json(put_manifest(&app, &id, "text/csv", good).await).await;
    let bad = "document_id,path,size\n\
               p1,../x,1\n\
               p2,/abs,1\n\
               p3,a/%2e%2e/b,1\n\
               p4,fine/b.pdf,1\n\
               p5,a\\b,1\n"
        .to_owned();
    let res = put_manifest(&app, &id, "text/csv", bad).await;
    let p = assert_problem(res, 422, "validation_failed").await;
    let errors: Vec<(String, String)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [
        ("line 2: path", "path_dot_segment"),
        ("line 3: path", "path_absolute"),
        ("line 4: path", "path_encoded_separator"),
        ("line 6: path", "path_backslash"),
    ];
    assert_eq!(
        errors,
        expect.map(|(f, c)| (f.to_owned(), c.to_owned())),
        "{p}"
    );
    // Nothing of the rejected upload was stored.
    let docs = get(&app, &format!("/v1/migrations/{id}/documents")).await;
    let ids: Vec<&str> = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["document_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ok"]);
    // The same rules for NDJSON.
    let res = put_manifest(
        &app,
        &id,
        "application/x-ndjson",
        "{\"document_id\":\"n\",\"path\":\"x/../../etc/passwd\",\"size\":1}\n".to_owned(),
    )
    .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "line 1: path");
    app.stop().await;
}

async fn manifest_limits_and_states(mode: Mode) {
    let app = spawn_with(mode, ferry::Parts::AllInOne, |s| s.manifest_max_rows = 3).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap().to_owned();
    let rows = |n: usize| {
        let mut s = String::from("document_id,path,size\n");
        for i in 0..n {
            s.push_str(&format!("d{i},f/{i}.pdf,1\n"));
        }
        s
    };
    json(put_manifest(&app, &id, "text/csv", rows(3)).await).await;
    let res = put_manifest(&app, &id, "text/csv", rows(4)).await;
    let p = assert_problem(res, 413, "payload_too_large").await;
    assert_eq!(p["limit"], 3);
    assert_eq!(p["limit_name"], "max_rows");
    let res = put_manifest(&app, &id, "application/json", rows(1)).await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = put_manifest(&app, &id, "text/csv", "nope\n1\n".to_owned()).await;
    assert_problem(res, 422, "validation_failed").await;
    let docs = get(&app, &format!("/v1/migrations/{id}/documents?limit=2")).await;
    assert_eq!(docs["items"].as_array().unwrap().len(), 2);
    let cursor = docs["next_cursor"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/v1/migrations/{id}/documents?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["items"][0]["document_id"], "d2");
    assert!(rest["next_cursor"].is_null());
    let res = app
        .get(
            &format!("/v1/migrations/{id}/documents?status=gone"),
            &app.admin_key,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    // Once started, the manifest is fixed.
    app.make_ready(&id).await;
    start(&app, &id).await;
    let res = put_manifest(&app, &id, "text/csv", rows(1)).await;
    let p = assert_problem(res, 409, "manifest_locked").await;
    assert!(p["current_state"].is_string());
    // A read-only key cannot upload.
    let ops = app.key("ops", None).await;
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &ops)
        .header("Content-Type", "text/csv")
        .body(rows(1))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    app.stop().await;
}

async fn cancel_lifts_the_freeze(mode: Mode) {
    let app = spawn_app(mode).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let started = start(&app, &id).await;
    let res = app
        .post(&format!("/v1/migrations/{id}/cancel"), &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false, "{freeze}");
    assert_eq!(freeze["lift_reason"], "cancelled");
    assert_eq!(freeze["reason"], "upload");
    // The job ends either way; a cancelled migration stays cancelled.
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert!(matches!(
        job["state"].as_str(),
        Some("succeeded" | "cancelled")
    ));
    let mig = get(&app, &format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "cancelled");
    app.stop().await;
}

/// A redelivered job (worker killed after recording) neither records nor
/// counts a document twice, and its scope stays the same.
async fn outcomes_are_counted_once(mode: Mode) {
    use ferry_store::{DocumentOutcome, DocumentStatus, Store};
    // API only: this test plays the worker through the store.
    let app = spawn_with(mode, ferry::Parts::Api, |_| {}).await;
    let m = app.create_migration("acme").await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let manifest = "document_id,path,size\nd1,a.pdf,3\nd2,b.pdf,4\n".to_owned();
    json(put_manifest(&app, &id, "text/csv", manifest).await).await;
    let started = start(&app, &id).await;
    let job_id = started["job"]["id"].as_str().unwrap();
    let store = Store::connect(&app.settings.database_url(), 2, Duration::from_secs(5))
        .await
        .unwrap();
    let job = store.job_started(job_id, "w1", 1).await.unwrap().unwrap();
    let scope = store.set_job_scope(&job, 10).await.unwrap();
    assert_eq!((scope.documents_total, scope.bytes_total), (2, 17));
    let work = store.work_page(&job, -1, 100).await.unwrap();
    assert_eq!(work.len(), 2);
    let outcomes = [
        DocumentOutcome {
            item: work[0].clone(),
            status: DocumentStatus::Uploaded,
            reason: None,
            actual_sha256: Some("ab".repeat(32)),
            bytes: 3,
        },
        DocumentOutcome {
            item: work[1].clone(),
            status: DocumentStatus::Missing,
            reason: Some("not found".into()),
            actual_sha256: None,
            bytes: 0,
        },
    ];
    store.record_outcomes(&job, &outcomes, None).await.unwrap();
    // The same batch again, e.g. by a redelivered attempt: no change.
    let again = store.job_started(job_id, "w2", 1).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    store
        .record_outcomes(&again, &outcomes, None)
        .await
        .unwrap();
    assert!(store.work_page(&again, -1, 100).await.unwrap().is_empty());
    let scope = store.set_job_scope(&again, 10).await.unwrap();
    assert_eq!(scope.documents_total, 2, "the scope survives a redelivery");
    let p = store.get_job(job_id).await.unwrap().unwrap().progress;
    assert_eq!(
        (p.documents_uploaded, p.documents_missing, p.bytes_done),
        (1, 1, 3)
    );
    let missing = get(
        &app,
        &format!("/v1/migrations/{id}/documents?status=missing"),
    )
    .await;
    assert_eq!(missing["items"][0]["attempts"], 1);
    store.close().await;
    app.stop().await;
}
