//! Delivery to the tenant (issue 16), on both run modes: the upload writes
//! the committed assignment, the ledger and the receipt next to the
//! database and the documents; `ferry receipt verify` accepts the tenant
//! store as delivered and refuses it once one byte changed; a recovery
//! writes the receipt anew; after `uploaded` the plan cannot change.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::archive::{SourceArchive as Source, content, file_sha256 as sha256, ok_json};
use ferry_tests::processes::ferry_bin;
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app};
use serde_json::Value;

both_modes!(upload_delivers_assignment_ledger_and_receipt);

const WAIT: Duration = Duration::from_secs(60);

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.post(path, &app.admin_key).send().await.unwrap()
}

/// `ferry receipt verify` on the app's tenant store: exit code and output.
async fn verify(app: &TestApp, tenant: &str) -> (i32, String) {
    let url = format!("file://{}", app.data_dir().join("tenants").display());
    let out = tokio::process::Command::new(ferry_bin())
        .args(["receipt", "verify", &url, tenant])
        .env_remove("FERRY_KEY")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn upload_delivers_assignment_ledger_and_receipt(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    src.write("mail/a.eml", &content(1, 3000));
    src.write("office/b é ü.docx", &content(2, 5000));
    let m = app.create_migration_from(&src.body("delivco")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    app.make_ready(&id).await;
    let a_sha = sha256(&src.docs().join("mail/a.eml"));
    let manifest = format!(
        "document_id,path,size,sha256\nd1,mail/a.eml,3000,{a_sha}\nd2,office/b é ü.docx,5000,\nd3,gone/c.pdf,10,\n"
    );
    let res = app
        .put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let started = ok_json(post(&app, &format!("/v1/migrations/{id}/start")).await).await;
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");

    let root = app.data_dir().join("tenants/delivco");
    // The assignment: the roster's one user, as committed.
    let assignment = std::fs::read_to_string(root.join("licences/assignment.v1.ndjson")).unwrap();
    let lines: Vec<Value> = assignment
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{assignment}");
    assert_eq!(lines[0]["user_id"], "u1");
    assert_eq!(lines[0]["plan"], "Admin");
    assert_eq!(lines[0]["username"], "mia@partner.example");
    assert_eq!(lines[0]["administrator"], true);
    assert_eq!(
        lines[0]["addresses_kept"],
        serde_json::json!(["mia@partner.example"])
    );

    // The receipt names each delivered part with its size and SHA-256.
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(root.join("MIGRATION.json")).unwrap()).unwrap();
    assert_eq!(receipt["format"], "ferry.receipt.v1");
    assert_eq!(receipt["migration_id"], id);
    assert_eq!(receipt["job_id"], started["job"]["id"]);
    let part = |name: &str| {
        let p = &receipt[name];
        let file = root.join(p["path"].as_str().unwrap());
        assert_eq!(p["sha256"], sha256(&file), "{name}: {receipt}");
        assert_eq!(p["bytes"], std::fs::metadata(&file).unwrap().len());
    };
    part("database");
    part("assignment");
    part("ledger");
    assert_eq!(
        receipt["database"]["sha256"],
        job["progress"]["database_sha256"]
    );
    let counts = &receipt["counts"];
    assert_eq!(counts["users"], 1);
    assert_eq!(counts["licensed_users"], 1);
    assert_eq!(counts["documents"], 3);
    assert_eq!(counts["documents_uploaded"], 2);
    assert_eq!(counts["documents_missing"], 1);
    let ledger = std::fs::read_to_string(root.join("ledger/documents.v1.ndjson")).unwrap();
    assert_eq!(ledger.lines().count(), 3);
    assert!(ledger.contains(&format!(
        r#"{{"path":"mail/a.eml","size":3000,"sha256":"{a_sha}","status":"uploaded"}}"#
    )));
    // The audit head is the trail's as the receipt was written.
    let audit = app.get_json("/v1/audit/verify").await;
    assert!(
        receipt["audit_head"]["seq"].as_i64().unwrap() <= audit["records"].as_i64().unwrap(),
        "{receipt} {audit}"
    );

    let (code, text) = verify(&app, "delivco").await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("matches its receipt"), "{text}");
    assert!(text.contains("2 documents checked"), "{text}");

    // One byte of the assignment changed: the check fails and says where.
    let file = root.join("licences/assignment.v1.ndjson");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.iter().position(|b| *b == b'A').unwrap();
    bytes[at] = b'B';
    std::fs::write(&file, &bytes).unwrap();
    let (code, text) = verify(&app, "delivco").await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("licences/assignment.v1.ndjson has SHA-256"),
        "{text}"
    );

    // A recovery (the missing document put back) delivers again: the
    // receipt is the recovery's, the ledger and the assignment whole again.
    src.write("gone/c.pdf", &content(3, 10));
    let recovery = ok_json(post(&app, &format!("/v1/migrations/{id}/start")).await).await;
    assert_eq!(recovery["job"]["kind"], "recovery");
    let job = app
        .wait_for_job(recovery["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(root.join("MIGRATION.json")).unwrap()).unwrap();
    assert_eq!(receipt["job_id"], recovery["job"]["id"]);
    assert_eq!(receipt["counts"]["documents_uploaded"], 3);
    assert_eq!(receipt["counts"]["documents_missing"], 0);
    let (code, text) = verify(&app, "delivco").await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("3 documents checked"), "{text}");

    // A document changed in the tenant store is found too.
    std::fs::write(root.join("documents/office/b é ü.docx"), content(9, 5000)).unwrap();
    let (code, text) = verify(&app, "delivco").await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("document office/b é ü.docx has SHA-256"),
        "{text}"
    );

    // Uploaded: the plan that was delivered can no longer change.
    assert_problem(
        post(&app, &format!("/v1/migrations/{id}/reopen")).await,
        409,
        "illegal_transition",
    )
    .await;
    // An unknown tenant has no receipt.
    let (code, text) = verify(&app, "nobody").await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no MIGRATION.json"), "{text}");
}
