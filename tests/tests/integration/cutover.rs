//! Pre-copy and cutover (issue 15), on both run modes: documents copied
//! while the source is live, the source changed (modified, added, deleted,
//! renamed), the manifest replaced, and a cutover that freezes only for
//! the delta and leaves the tenant store identical to the source.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive as Source, content, file_sha256 as sha256, ok_json};
use ferry_tests::{Mode, TestApp, assert_problem, both_modes, spawn_app, spawn_with};
use serde_json::Value;

both_modes!(
    precopy_then_changed_source_then_cutover,
    a_running_precopy_holds_the_cutover_and_the_manifest,
    rows_without_a_sha_are_compared_by_one_listing
);

const WAIT: Duration = Duration::from_secs(60);

/// A manifest of every file under the source's documents folder, each with
/// its SHA-256, ids derived from the path.
fn manifest_of(src: &Source) -> String {
    let mut out = String::from("document_id,path,size,sha256\n");
    for (rel, path) in files(&src.docs()) {
        let id = rel.replace(['/', ' ', '.'], "_");
        let size = std::fs::metadata(&path).unwrap().len();
        out.push_str(&format!("{id},{rel},{size},{}\n", sha256(&path)));
    }
    out
}

/// Relative path → file, for every file under `root`.
fn files(root: &Path) -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, path);
            }
        }
    }
    out
}

async fn put_manifest(app: &TestApp, id: &str, body: String) -> reqwest::Response {
    app.put(&format!("/v1/migrations/{id}/manifest"), &app.admin_key)
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.post(path, &app.admin_key).send().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    ok_json(app.get(path, &app.admin_key).send().await.unwrap()).await
}

async fn precopy_then_changed_source_then_cutover(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    for i in 0..12 {
        src.write(
            &format!("mail/{i:02}.eml"),
            &content(i, 3000 + usize::from(i)),
        );
    }
    src.write("office/plan.docx", &content(40, 20_000));
    src.write("office/old name.xlsx", &content(41, 7_000));
    let m = app.create_migration_from(&src.body("cutco")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    // A pre-copy needs a manifest; it runs on a draft.
    let res = post(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert_problem(res, 409, "nothing_to_copy").await;
    assert_eq!(
        put_manifest(&app, &id, manifest_of(&src)).await.status(),
        200
    );

    let started = ok_json(post(&app, &format!("/v1/migrations/{id}/precopy")).await).await;
    assert_eq!(started["job"]["kind"], "precopy");
    assert_eq!(
        started["migration"]["state"], "draft",
        "a pre-copy moves nothing"
    );
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(
        freeze["frozen"], false,
        "a pre-copy never freezes: {freeze}"
    );
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_uploaded"], 14);
    assert!(
        job["progress"]["database_sha256"].is_null(),
        "no dump in a pre-copy"
    );
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false);
    assert!(freeze["since"].is_null(), "never frozen: {freeze}");
    let view = get(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert_eq!(view["job"]["state"], "succeeded");
    assert_eq!(view["documents_in_store"], 14);
    assert_eq!(view["documents_to_copy"], 0);
    let metrics = app
        .get("/metrics", &app.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let precopied: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ferry_transfer_precopy_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        precopied,
        job["progress"]["bytes_done"].as_i64().unwrap(),
        "{metrics}"
    );
    // Everything is in: a second pre-copy has nothing to do.
    let res = post(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert_problem(res, 409, "nothing_to_copy").await;

    // The live source changes: two modified, one added, one deleted, one
    // renamed (a path change with the same bytes).
    src.write("mail/03.eml", &content(90, 3100));
    src.write("office/plan.docx", &content(91, 25_000));
    src.write("mail/12.eml", &content(92, 500));
    std::fs::remove_file(src.docs().join("mail/07.eml")).unwrap();
    std::fs::rename(
        src.docs().join("office/old name.xlsx"),
        src.docs().join("office/new name.xlsx"),
    )
    .unwrap();
    let stored = ok_json(put_manifest(&app, &id, manifest_of(&src)).await).await;
    assert_eq!(stored["documents"], 14);
    let view = get(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert_eq!(
        view["documents_in_store"], 10,
        "unchanged copies are kept: {view}"
    );
    assert_eq!(view["documents_to_copy"], 4, "{view}");
    let to_remove: Vec<&str> = view["to_remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        to_remove,
        [
            "mail/03.eml",
            "mail/07.eml",
            "office/old name.xlsx",
            "office/plan.docx"
        ],
        "deleted, renamed away and changed copies go at the cutover"
    );

    // The cutover: commit, start. A running pre-copy would refuse it.
    app.make_ready(&id).await;
    let started = ok_json(post(&app, &format!("/v1/migrations/{id}/start")).await).await;
    assert_eq!(started["job"]["kind"], "upload");
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        job["progress"]["documents_total"], 4,
        "only the delta: {job}"
    );
    assert_eq!(job["progress"]["documents_uploaded"], 4);
    assert!(
        job["progress"]["database_sha256"].is_string(),
        "the dump at the cutover"
    );

    // The tenant store is byte-identical to the source.
    let tenant = files(&app.data_dir().join("tenants/cutco/documents"));
    let source = files(&src.docs());
    assert_eq!(
        tenant.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>(),
        "the same paths"
    );
    for (rel, path) in &source {
        assert_eq!(
            std::fs::read(&tenant[rel]).unwrap(),
            std::fs::read(path).unwrap(),
            "{rel}"
        );
    }
    // The ledger: every row once, all uploaded; the removals listed.
    let ledger = ferry_tests::archive::ledger(&app, &id).await;
    assert_eq!(ledger.len(), 14);
    assert!(ledger.iter().all(|r| &r[3] == "uploaded"));
    let view = get(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert!(view["to_remove"].as_array().unwrap().is_empty(), "{view}");
    let removed: Vec<&str> = view["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(removed, to_remove);
    let trail = get(&app, &format!("/v1/migrations/{id}/audit")).await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"precopy.started"), "{actions:?}");
    assert!(actions.contains(&"documents.removed"), "{actions:?}");
    // A pre-copy is refused once the cutover has started.
    let res = post(&app, &format!("/v1/migrations/{id}/precopy")).await;
    assert_problem(res, 409, "precopy_not_allowed").await;
    app.stop().await;
}

/// While a pre-copy runs, the cutover and a manifest replacement are
/// refused with `job_active` naming it (they would race its reads of the
/// ledger); cancelling it frees both, and what it copied stays copied.
async fn a_running_precopy_holds_the_cutover_and_the_manifest(mode: Mode) {
    let app = spawn_with(mode, Parts::AllInOne, |s| {
        s.transfer_max_bytes_per_sec = 64 * 1024;
    })
    .await;
    let src = Source::new(&app);
    for i in 0..8 {
        src.write(&format!("docs/{i}.pdf"), &content(i, 40_000));
    }
    let m = app.create_migration_from(&src.body("holdco")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(
        put_manifest(&app, &id, manifest_of(&src)).await.status(),
        200
    );
    app.make_ready(&id).await;
    let started = ok_json(post(&app, &format!("/v1/migrations/{id}/precopy")).await).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(started["migration"]["state"], "ready");

    let refused = assert_problem(
        post(&app, &format!("/v1/migrations/{id}/start")).await,
        409,
        "job_active",
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains(&job_id),
        "{refused}"
    );
    assert_problem(
        put_manifest(&app, &id, manifest_of(&src)).await,
        409,
        "job_active",
    )
    .await;
    let freeze = get(&app, &format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false, "{freeze}");

    let res = post(&app, &format!("/v1/jobs/{job_id}/cancel")).await;
    assert!(res.status().is_success(), "{}", res.status());
    let job = app.wait_for_job(&job_id, WAIT).await;
    assert_eq!(job["state"], "cancelled");
    let copied = get(&app, &format!("/v1/migrations/{id}/precopy")).await["documents_in_store"]
        .as_i64()
        .unwrap();
    let cut = ok_json(post(&app, &format!("/v1/migrations/{id}/start")).await).await;
    let job = app
        .wait_for_job(cut["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["documents_total"], 8 - copied, "{job}");
    let tenant = files(&app.data_dir().join("tenants/holdco/documents"));
    for (rel, path) in files(&src.docs()) {
        assert_eq!(
            std::fs::read(&tenant[&rel]).unwrap(),
            std::fs::read(path).unwrap(),
            "{rel}"
        );
    }
    app.stop().await;
}

/// Manifest rows without a SHA-256: the cutover lists the archive once and
/// keeps every copy whose size and tag (modification time here) are what
/// they were when it was copied; only the changed document is read again.
async fn rows_without_a_sha_are_compared_by_one_listing(mode: Mode) {
    let app = spawn_app(mode).await;
    let src = Source::new(&app);
    for i in 0..6u8 {
        src.write(&format!("scans/{i}.tif"), &content(i, 5000));
    }
    let without_sha = |src: &Source| {
        let mut out = String::from("document_id,path,size,sha256\n");
        for (rel, path) in files(&src.docs()) {
            let size = std::fs::metadata(&path).unwrap().len();
            out.push_str(&format!("{},{rel},{size},\n", rel.replace(['/', '.'], "_")));
        }
        out
    };
    let m = app.create_migration_from(&src.body("nosha")).await;
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(
        put_manifest(&app, &id, without_sha(&src)).await.status(),
        200
    );
    let started = ok_json(post(&app, &format!("/v1/migrations/{id}/precopy")).await).await;
    let job = app
        .wait_for_job(started["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["progress"]["documents_uploaded"], 6, "{job}");

    // One document changes in place (same size, new bytes, a later time).
    std::thread::sleep(Duration::from_millis(20));
    src.write("scans/2.tif", &content(77, 5000));
    assert_eq!(
        put_manifest(&app, &id, without_sha(&src)).await.status(),
        200
    );
    app.make_ready(&id).await;
    let cut = ok_json(post(&app, &format!("/v1/migrations/{id}/start")).await).await;
    let job = app
        .wait_for_job(cut["job"]["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        job["progress"]["documents_total"], 1,
        "only the changed one: {job}"
    );
    let dump = std::fs::metadata(src.root.join("db.dump")).unwrap().len();
    assert_eq!(job["progress"]["bytes_done"], dump + 5000, "{job}");
    let tenant = files(&app.data_dir().join("tenants/nosha/documents"));
    for (rel, path) in files(&src.docs()) {
        assert_eq!(
            std::fs::read(&tenant[&rel]).unwrap(),
            std::fs::read(path).unwrap(),
            "{rel}"
        );
    }
    let ledger = ferry_tests::archive::ledger(&app, &id).await;
    assert_eq!(ledger.len(), 6);
    assert!(ledger.iter().all(|r| &r[3] == "uploaded"));
    app.stop().await;
}
