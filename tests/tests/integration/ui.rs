//! The status page at `/ui` (issue 6 item 2), end to end in headless
//! Chromium driven over WebDriver (Debian's `chromium` and `chromedriver`,
//! installed by `tests/browser.sh`, which `make test` runs).
//!
//! A real app runs a throttled upload; the page, logged in with a read-only
//! key, must list the migration, show its progress moving (two readings of
//! the progress bars from the DOM, with a screenshot at each), show the
//! detail with pre-flight report, jobs and freeze, and print hostile data
//! as text. Screenshots land in `target/ui-screenshots/` for a person to look
//! at. A missing browser fails the test with a message; nothing is skipped.
//!
//! The WebDriver client is the few W3C commands the test needs, over
//! reqwest (already a dependency), so no browser-automation crate (and no
//! new dependency at all) is pulled in.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, content, ok_json};
use ferry_tests::{Mode, TestApp, spawn_app, spawn_with};
use serde_json::{Value, json};

use crate::browser::Browser;

const WAIT: Duration = Duration::from_secs(60);
const DOCS: usize = 32;
const DOC_LEN: usize = 64 * 1024;

/// The page and its assets: public, strict CSP, right types, 304 on reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_is_public_with_a_strict_policy() {
    let app = spawn_app(Mode::Embedded).await;
    for (path, ty) in [
        ("/ui", "text/html; charset=utf-8"),
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} needs no key");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], ty, "{path}");
        assert_eq!(
            h["content-security-policy"],
            ferry_http::routes::ui::CONTENT_SECURITY_POLICY
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(directive), "{csp} lacks {directive}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let etag = h["etag"].to_str().unwrap().to_owned();
        let again = app
            .client
            .get(app.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.headers().contains_key("content-security-policy"));
    }
    let html = app
        .client
        .get(app.url("/ui"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<script src="/ui/app.js" defer></script>"#));
    // Not an API operation: absent from the OpenAPI document.
    let doc = app.get_json("/openapi.json").await;
    assert!(doc["paths"].get("/ui").is_none());
    app.stop().await;
}

/// Log in, see the list, watch a real upload advance, open the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_follows_a_running_upload() {
    // 32 × 64 KiB at 96 KiB/s: about 20 seconds of copying.
    let app = spawn_with(Mode::Embedded, Parts::AllInOne, |s| {
        s.transfer_max_bytes_per_sec = 96 * 1024;
        s.transfer_concurrency = 2;
        s.upload_batch_documents = 0;
    })
    .await;
    let id = ready_migration(&app, "uico").await;
    // A second migration whose name is markup: it must show as text.
    let hostile = r#"<img src=x onerror="document.title='pwned'"> & <b>Co</b>"#;
    let mut body = ferry_tests::migration_body("uihostile");
    body["customer_name"] = json!(hostile);
    let other = app.create_migration_from(&body).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let ops_key = app.key("ops", None).await;

    let browser = Browser::start().await;
    browser.goto(&app.url("/ui")).await;
    browser
        .wait_for(
            "login form",
            "return !document.getElementById('login').hidden",
        )
        .await;

    // A wrong key is refused and the form comes back with the reason.
    browser.type_into("#key", "fry_not_a_key_at_all").await;
    browser.click("#login-form button[type=submit]").await;
    let refused = browser
        .wait_for(
            "refusal",
            "const t = document.getElementById('login-error').textContent; \
             return t.includes('401') ? t : null",
        )
        .await;
    assert!(refused.as_str().unwrap().contains("refused"), "{refused}");

    browser.type_into("#key", &ops_key).await;
    browser.click("#login-form button[type=submit]").await;
    let row = format!("tr[data-migration-id='{id}']");
    browser
        .wait_for(
            "the migration in the list",
            &format!("return document.querySelector(\"{row}\")?.dataset.state ?? null"),
        )
        .await;
    assert_eq!(
        browser
            .eval("return sessionStorage.getItem('ferry.apiKey')")
            .await,
        json!(ops_key),
        "the key is kept in the tab's session storage"
    );

    // Hostile data is text: the literal name, no element made of it.
    let shown = browser
        .eval(&format!(
            "const r = document.querySelector(\"tr[data-migration-id='{other_id}']\"); \
             return {{ name: r.querySelector('a').textContent, \
                       elements: r.querySelectorAll('img, b').length, \
                       title: document.title }}"
        ))
        .await;
    assert_eq!(shown["name"], hostile, "{shown}");
    assert_eq!(shown["elements"], 0, "{shown}");
    assert_eq!(shown["title"], "Ferry · status", "{shown}");

    // Start the upload as admin; the page (polling) picks it up.
    let started = app.post_json(&format!("/v1/migrations/{id}/start")).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let first = browser
        .wait_for(
            "progress in the list",
            &progress_script(&row, "d.value > 0 && d.value < d.max"),
        )
        .await;
    let shot1 = browser.screenshot("1-list-uploading").await;
    assert_eq!(first["state"], "uploading", "{first}");
    assert_eq!(first["docs_max"].as_f64(), Some(DOCS as f64), "{first}");
    // The dump is copied too: the bytes bar's total is the job's.
    let api_job = app.get_json(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(
        first["bytes_max"].as_f64(),
        api_job["progress"]["bytes_total"].as_f64(),
        "{first} vs {api_job}"
    );
    assert!(first["bytes_max"].as_f64().unwrap() > (DOCS * DOC_LEN) as f64);

    let first_docs = first["docs"].as_f64().unwrap();
    let second = browser
        .wait_for(
            "progress advancing",
            &progress_script(&row, &format!("d.value > {first_docs}")),
        )
        .await;
    let shot2 = browser.screenshot("2-list-advanced").await;
    assert!(
        second["docs"].as_f64().unwrap() > first["docs"].as_f64().unwrap()
            && second["bytes"].as_f64().unwrap() > first["bytes"].as_f64().unwrap(),
        "progress advances: {first} then {second}"
    );
    assert_ne!(
        first["docs_text"], second["docs_text"],
        "{first} / {second}"
    );
    assert_ne!(shot1, shot2, "the two screenshots differ");
    assert!(
        second["throughput"].as_str().unwrap().ends_with("/s"),
        "{second}"
    );
    assert_eq!(
        (&second["missing"], &second["failed"]),
        (&json!("0"), &json!("0"))
    );

    // The detail: pre-flight report, the job, the freeze.
    browser.click(&format!("{row} a")).await;
    browser
        .wait_for(
            "the detail",
            &format!(
                "return document.querySelector(\"#migration-title[data-migration-id='{id}']\") \
                 && document.querySelectorAll('#preflight-checks tr[data-check]').length > 0 \
                 && document.querySelector(\"#jobs tr[data-job-id='{job_id}']\") ? true : null"
            ),
        )
        .await;
    let detail = browser
        .eval(
            "return { checks: [...document.querySelectorAll('#preflight-checks tr[data-check]')]\
                        .map(r => [r.dataset.check, r.dataset.status]), \
                      frozen: document.querySelector('#freeze .frozen').textContent, \
                      job: document.querySelector('#jobs tbody tr').dataset.state }",
        )
        .await;
    let checks = detail["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c[0] == "source_version" && c[1] == "pass"),
        "{detail}"
    );
    assert_eq!(detail["frozen"], "yes", "{detail}");
    browser.screenshot("3-detail-uploading").await;

    // To the end: the detail shows the finished job with every document.
    let job = app.wait_for_job(&job_id, WAIT * 2).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let done = browser
        .wait_for(
            "the job finished in the detail",
            &format!(
                "const r = document.querySelector(\"#jobs tr[data-job-id='{job_id}']\"); \
                 const d = document.querySelector('#latest-job progress.docs'); \
                 return r && r.dataset.state === 'succeeded' && d.value === d.max \
                   ? document.querySelector('#latest-job .docs-text').textContent : null"
            ),
        )
        .await;
    assert_eq!(done, json!(format!("{DOCS} / {DOCS} documents")));
    // The cutover card: everything is in the tenant store, nothing to copy.
    let cutover = browser
        .wait_for(
            "the cutover card",
            &format!(
                "const c = document.querySelector('#cutover .in-store');                  return c && c.textContent.startsWith('{DOCS} ')                    ? [c.textContent, document.querySelector('#cutover .to-copy').textContent] : null"
            ),
        )
        .await;
    assert!(
        cutover[1].as_str().unwrap().starts_with("0 documents"),
        "{cutover}"
    );
    // Polling the detail sends If-None-Match; the unchanged freeze is a 304.
    let not_modified = browser
        .wait_for(
            "a 304",
            "const n = Number(document.getElementById('poll-status').dataset.notModified); \
             return n > 0 ? n : null",
        )
        .await;
    assert!(not_modified.as_f64().unwrap() > 0.0);
    browser.screenshot("4-detail-succeeded").await;

    // Nothing but the 401 of the wrong key: no script error, no CSP
    // violation, no failed asset.
    let errors = browser.console_errors().await;
    let unexpected: Vec<&Value> = errors
        .iter()
        .filter(|e| {
            !e["message"]
                .as_str()
                .unwrap_or("")
                .contains("status of 401")
        })
        .collect();
    assert!(unexpected.is_empty(), "browser console: {errors:#?}");
    assert!(errors.len() <= 1, "browser console: {errors:#?}");
    browser.quit().await;
    app.stop().await;
}

/// Reads the progress of the list row `row` once `condition` (over `d`, the
/// documents bar) holds; null before.
fn progress_script(row: &str, condition: &str) -> String {
    format!(
        "const r = document.querySelector(\"{row}\"); \
         const d = r?.querySelector('progress.docs'), b = r?.querySelector('progress.bytes'); \
         if (!d || !b || !d.hasAttribute('value') || !({condition})) return null; \
         return {{ docs: d.value, docs_max: d.max, bytes: b.value, bytes_max: b.max, \
                  docs_text: r.querySelector('.docs-text').textContent, \
                  bytes_text: r.querySelector('.bytes-text').textContent, \
                  throughput: r.querySelector('.throughput').textContent, \
                  eta: r.querySelector('.eta').textContent, \
                  missing: r.querySelector('.missing').textContent, \
                  failed: r.querySelector('.failed').textContent, \
                  state: r.dataset.state }}"
    )
}

/// A ready migration of `DOCS` documents with its manifest loaded.
async fn ready_migration(app: &TestApp, tenant: &str) -> String {
    let src = SourceArchive::new(app);
    let mut manifest = String::from("document_id,path,size\n");
    for i in 0..DOCS {
        src.write(&format!("d/{i:03}.bin"), &content(i as u8, DOC_LEN));
        manifest.push_str(&format!("doc{i:03},d/{i:03}.bin,{DOC_LEN}\n"));
    }
    let m = app.create_migration_from(&src.body(tenant)).await;
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
    id
}
