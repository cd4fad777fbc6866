//! The migrator's workspace at `/ui` (issue 17), end to end in headless
//! Chromium by clicking and typing: (a) the manual procedure — filter,
//! select, edit, a capacity error, its fix, a user name, review, pre-flight,
//! commit, then manifest, start (confirmed), progress, complete; (b) the CSV
//! round trip — download, a broken file refused with its table and error
//! report, the fixed file accepted, commit. A read-only key sees no control
//! (and the API refuses it anyway). Every screen is screenshot into
//! `target/ui-screenshots/` (`w*-…png`) and checked by axe-core (no serious
//! or critical violation); the console must hold no script error or CSP
//! violation (the refusals the test provokes log their 422 and nothing else).

use std::path::{Path, PathBuf};

use ferry::Parts;
use ferry_tests::archive::{SourceArchive, content};
use ferry_tests::{Mode, TestApp, spawn_with};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::licences::roster;

const DOCS: usize = 6;
const DOC_LEN: usize = 16 * 1024;

/// A migration on a real source archive with the fixture roster and a tight
/// contract: Engage for one user only.
async fn prepared(app: &TestApp, tenant: &str) -> (String, SourceArchive) {
    let src = SourceArchive::new(app);
    for i in 0..DOCS {
        src.write(&format!("{tenant}/{i}.pdf"), &content(i as u8, DOC_LEN));
    }
    let mut body = src.body(tenant);
    body["source"]["archive_url"] = json!(
        url::Url::from_directory_path(src.docs().join(tenant))
            .unwrap()
            .to_string()
    );
    let m = app.create_migration_from(&body).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let put = |path: &str, body: Value| {
        app.put(&format!("/v1/migrations/{id}/{path}"), &app.admin_key)
            .json(&body)
            .send()
    };
    assert_eq!(put("roster", roster()).await.unwrap().status(), 200);
    let catalogue = json!({
        "plans": [
            {"name": "Admin", "capacity": 1, "addons_allowed": true},
            {"name": "Engage", "capacity": 1, "addons_allowed": true},
            {"name": "Standard", "capacity": 2}
        ],
        "addons": [{"name": "Marketing", "capacity": 1}]
    });
    assert_eq!(put("catalogue", catalogue).await.unwrap().status(), 200);
    (id, src)
}

/// The manifest of the `DOCS` documents and one more, `late.pdf`, that the
/// source does not hold yet (missing until the test writes it).
fn manifest_file(dir: &Path, tenant: &str) -> PathBuf {
    let mut text = String::from("document_id,path,size\n");
    for i in 0..DOCS {
        text.push_str(&format!("d{i},{i}.pdf,{DOC_LEN}\n"));
    }
    text.push_str(&format!("late,late.pdf,{DOC_LEN}\n"));
    let path = dir.join(format!("manifest-{tenant}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

/// axe-core (tests/axe, installed by tests/browser.sh) run on the page:
/// the serious and critical violations, by rule and where.
async fn accessibility_problems(browser: &Browser) -> Vec<String> {
    let axe = Path::new(env!("CARGO_MANIFEST_DIR")).join("axe/node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&axe)
        .unwrap_or_else(|e| panic!("{}: {e} (run bash tests/browser.sh)", axe.display()));
    if browser.eval("return typeof window.axe").await != json!("object") {
        browser.eval(&format!("{source}\nreturn true;")).await;
    }
    let found = browser
        .eval_async(
            "const done = arguments[0]; \
             axe.run(document, { resultTypes: ['violations'] }) \
               .then(r => done(r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))) \
               .catch(e => done(['axe failed: ' + e]));",
        )
        .await;
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A screenshot of the screen and its accessibility check.
async fn screen(browser: &Browser, name: &str) {
    browser.screenshot(name).await;
    let text = browser.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap();
    for leak in ["null", "undefined", "[object", "NaN"] {
        assert!(!text.contains(leak), "{name} shows {leak:?}:\n{text}");
    }
    let problems = accessibility_problems(browser).await;
    assert!(
        problems.is_empty(),
        "{name}: axe-core reports {problems:#?}"
    );
}

async fn notice(browser: &Browser, what: &str, needle: &str) -> String {
    let v = browser
        .wait_for(
            what,
            &format!(
                "const n = document.getElementById('work-notice'); \
                 return n && !n.hidden && n.textContent.includes({needle:?}) ? n.textContent : null"
            ),
        )
        .await;
    v.as_str().unwrap().to_owned()
}

async fn open_tab(browser: &Browser, tab: &str, ready_css: &str) {
    browser.click(&format!("#tab-{tab}")).await;
    browser
        .wait_for(
            tab,
            &format!("return document.querySelector({ready_css:?}) ? true : null"),
        )
        .await;
}

async fn login(browser: &Browser, app: &TestApp, key: &str) {
    browser.goto(&app.url("/ui")).await;
    browser
        .wait_for("login", "return !document.getElementById('login').hidden")
        .await;
    browser.type_into("#key", key).await;
    browser.click("#login-form button[type=submit]").await;
}

/// Ticks the row checkboxes of `users` (the table shows them).
async fn select(browser: &Browser, users: &[&str]) {
    for u in users {
        browser
            .click(&format!("input.pick[data-user-id='{u}']"))
            .await;
    }
}

/// Chooses `plan` in the editor the way a person does (the option
/// clicked, as a keyboard user would pick it), then saves.
async fn save_plan(browser: &Browser, plan: &str) {
    browser
        .click(&format!("#edit-plan option[value='{plan}']"))
        .await;
    browser.click("#edit-save").await;
}

fn unexpected_console(errors: &[Value]) -> Vec<&Value> {
    errors
        .iter()
        .filter(|e| {
            let m = e["message"].as_str().unwrap_or("");
            !(m.contains("status of 422") || m.contains("status of 412"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_procedure_and_the_upload_by_clicking() {
    let app = spawn_with(Mode::Embedded, Parts::AllInOne, |_| {}).await;
    let (id, src) = prepared(&app, "wsmanual").await;
    let migrator = app.key("migrator", None).await;
    let browser = Browser::start().await;
    login(&browser, &app, &migrator).await;

    // From the status page's detail to the workspace.
    let row = format!("tr[data-migration-id='{id}'] a");
    browser
        .wait_for(
            "the list",
            &format!("return document.querySelector(\"{row}\") ? true : null"),
        )
        .await;
    browser.click(&row).await;
    browser
        .wait_for(
            "the workspace link",
            "return document.getElementById('open-workspace') ? true : null",
        )
        .await;
    browser.click("#open-workspace").await;
    browser
        .wait_for(
            "the overview",
            "return document.querySelector('#overview-plans tr[data-name=Engage]') ? true : null",
        )
        .await;
    screen(&browser, "w1-overview").await;

    // Users: filter by free text, select the migrator, give the Admin plan.
    open_tab(&browser, "users", "#users tbody tr[data-user-id]").await;
    browser.type_into("#filter-q", "mia").await;
    browser.press("#filter-q", "\u{E007}").await; // Enter submits the filter
    browser
        .wait_for(
            "the filtered list",
            "const rows = document.querySelectorAll('#users tbody tr[data-user-id]'); \
             return rows.length === 1 && rows[0].dataset.userId === 'u1' ? true : null",
        )
        .await;
    select(&browser, &["u1"]).await;
    save_plan(&browser, "Admin").await;
    notice(&browser, "saved", "Saved for 1 user").await;

    // Both colleagues on Engage: one over the contract, refused and shown.
    browser.type_into("#filter-q", "").await;
    browser.click("#user-filter button[type=submit]").await;
    browser
        .wait_for("everyone", "return document.querySelectorAll('#users tbody tr[data-user-id]').length === 4 ? true : null")
        .await;
    select(&browser, &["u2", "u3"]).await;
    save_plan(&browser, "Engage").await;
    notice(&browser, "the refusal", "Not saved").await;
    // The error is shown on the row it belongs to (or, for a user not on
    // the page, in the notice).
    let shown = browser
        .wait_for(
            "the capacity error",
            "const e = [...document.querySelectorAll('#users .row-error')].map(x => x.textContent)                .concat([document.getElementById('work-notice').textContent])                .find(t => t.includes('capacity_exceeded')); return e || null",
        )
        .await;
    assert!(shown.as_str().unwrap().contains("Engage"), "{shown}");
    screen(&browser, "w2-users-capacity-error").await;

    // Fixed: Ann gets Engage; Bob gets Standard and logs in with the
    // address he shares with Ann (picked from his own addresses).
    browser.click("#edit-clear").await;
    select(&browser, &["u2"]).await;
    save_plan(&browser, "Engage").await;
    notice(&browser, "Ann saved", "Saved for 1 user").await;
    // A colleague's edit in between: reported, nothing overwritten.
    let v = app.get_json(&format!("/v1/migrations/{id}/draft")).await["version"]
        .as_i64()
        .unwrap();
    let colleague = app
        .client
        .patch(app.url(&format!("/v1/migrations/{id}/draft")))
        .bearer_auth(&app.admin_key)
        .header("If-Match", format!("\"d{v}\""))
        .json(&json!({"user_ids": ["u3"], "set_plan": "Standard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(colleague.status(), 200);
    select(&browser, &["u3"]).await;
    save_plan(&browser, "Engage").await;
    notice(&browser, "the stale edit", "A colleague changed this").await;
    let bob = app.get_json(&format!("/v1/migrations/{id}/draft")).await;
    assert_eq!(
        bob["assignments"]["u3"]["plan"], "Standard",
        "not overwritten"
    );
    browser
        .wait_for("Bob's row", "const r = document.querySelector(\"#users tr[data-user-id='u3'] .plan\"); return r && r.textContent === 'Standard' ? true : null")
        .await;
    browser.click("#edit-clear").await;
    select(&browser, &["u3"]).await;
    browser
        .click("#edit-username-pick option[value='sales@acme.example']")
        .await;
    save_plan(&browser, "Standard").await;
    notice(&browser, "Bob saved", "Saved for 1 user").await;
    let bob = browser
        .wait_for(
            "Bob's row",
            "const r = document.querySelector(\"#users tr[data-user-id='u3']\"); \
             return r && r.querySelector('.username').textContent === 'sales@acme.example' \
               ? [r.querySelector('.plan').textContent, r.querySelector('.username').textContent] : null",
        )
        .await;
    assert_eq!(bob, json!(["Standard", "sales@acme.example"]));
    screen(&browser, "w3-users-fixed").await;

    // Review, pre-flight, commit.
    open_tab(&browser, "review", "#review-changes").await;
    browser.click("#run-preflight").await;
    browser
        .wait_for(
            "pre-flight",
            "return document.getElementById('preflight-verdict') ? true : null",
        )
        .await;
    let verdict = browser
        .eval("return [document.getElementById('preflight-verdict').textContent, document.getElementById('commit').disabled]")
        .await;
    assert_eq!(
        verdict[1],
        json!(false),
        "commit enabled once it passes: {verdict}"
    );
    screen(&browser, "w4-review-preflight").await;
    browser.click("#commit").await;
    notice(&browser, "committed", "Committed").await;
    let state = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(state["state"], "ready");

    // Upload: manifest, estimate, a confirmed start, progress, complete.
    let dir = tempfile::tempdir().unwrap();
    open_tab(&browser, "upload", "#manifest-file").await;
    browser
        .choose_file("#manifest-file", &manifest_file(dir.path(), "wsmanual"))
        .await;
    browser.click("#manifest-send").await;
    notice(&browser, "the manifest", "Manifest stored").await;
    browser
        .wait_for(
            "the estimate",
            "return document.getElementById('freeze-estimate') ? true : null",
        )
        .await;
    screen(&browser, "w5-upload-estimate").await;
    browser.click("#start").await;
    let warning = browser
        .wait_for("the confirmation", "const d = document.getElementById('confirm-start'); return d.open ? d.textContent : null")
        .await;
    assert!(warning.as_str().unwrap().contains("frozen"), "{warning}");
    screen(&browser, "w6-upload-confirm").await;
    browser.click("#confirm-yes").await;
    browser
        .wait_for(
            "the upload to finish",
            "const j = document.getElementById('upload-job'); return j && j.dataset.state === 'succeeded' ? true : null",
        )
        .await;
    screen(&browser, "w7-upload-done").await;
    // One document was missing: its list downloads, and once it is in the
    // source a recovery (confirmed again) copies it.
    browser.click("#missing-download").await;
    let missing = browser.downloaded("missing-wsmanual.csv").await;
    let missing = String::from_utf8(missing).unwrap();
    assert!(
        missing.contains("late,late.pdf") && missing.lines().count() == 2,
        "{missing}"
    );
    src.write("wsmanual/late.pdf", &content(99, DOC_LEN));
    browser.click("#start").await;
    browser
        .wait_for(
            "the confirmation",
            "return document.getElementById('confirm-start').open ? true : null",
        )
        .await;
    browser.click("#confirm-yes").await;
    browser
        .wait_for(
            "the recovery to finish",
            "const j = document.getElementById('upload-job'); \
             return j && j.dataset.state === 'succeeded' && j.querySelector('h2').textContent.startsWith('recovery') \
               && document.getElementById('complete') ? true : null",
        )
        .await;
    assert!(
        browser
            .eval("return document.getElementById('missing-download')")
            .await
            .is_null()
    );
    browser.click("#complete").await;
    notice(&browser, "completed", "Completed").await;
    let state = app.get_json(&format!("/v1/migrations/{id}")).await;
    assert_eq!(state["state"], "completed");

    let errors = browser.console_errors().await;
    let unexpected = unexpected_console(&errors);
    assert!(unexpected.is_empty(), "browser console: {errors:#?}");
    browser.quit().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_round_trip_by_clicking_and_a_read_only_key() {
    let app = spawn_with(Mode::Embedded, Parts::AllInOne, |_| {}).await;
    let (id, _src) = prepared(&app, "wscsv").await;
    let migrator = app.key("migrator", None).await;
    let browser = Browser::start().await;
    login(&browser, &app, &migrator).await;
    browser
        .goto(&app.url(&format!("/ui#/migrations/{id}/work/csv")))
        .await;
    browser
        .wait_for(
            "the CSV step",
            "return document.getElementById('csv-download') ? true : null",
        )
        .await;
    browser.click("#csv-download").await;
    let exported = browser.downloaded("assignments-wscsv.csv").await;
    let text = String::from_utf8(exported).unwrap();
    assert!(text.contains("New License"), "{text}");
    screen(&browser, "w8-csv").await;

    // Edit as a spreadsheet would: plans in the New License column, one
    // of them unknown.
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let write = |plans: &[(&str, &str, &str)], name: &str| {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&header).unwrap();
        for r in &rows {
            let mut r = r.clone();
            if let Some((_, plan, username)) = plans.iter().find(|(u, _, _)| *u == r[0]) {
                r[col("New License")] = (*plan).to_owned();
                r[col("Username")] = (*username).to_owned();
            }
            w.write_record(&r).unwrap();
        }
        let path = browser.downloads.path().join(name);
        std::fs::write(&path, w.into_inner().unwrap()).unwrap();
        path
    };
    let broken = write(
        &[
            ("u1", "Admin", "mia@partner.example"),
            ("u2", "Gold", "ann@acme.example"),
            ("u3", "Standard", "sales@acme.example"),
        ],
        "broken.csv",
    );
    browser.choose_file("#csv-file", &broken).await;
    browser.click("#csv-send").await;
    let table = browser
        .wait_for(
            "the error table",
            "const t = document.getElementById('csv-errors'); return t ? t.innerText : null",
        )
        .await;
    let table = table.as_str().unwrap();
    assert!(
        table.contains("Gold") && table.contains("New License"),
        "{table}"
    );
    screen(&browser, "w9-csv-refused").await;
    browser.click("#csv-report").await;
    let report = browser.downloaded("assignments.errors.csv").await;
    assert!(String::from_utf8_lossy(&report).contains("unknown_plan"));

    let fixed = write(
        &[
            ("u1", "Admin", "mia@partner.example"),
            ("u2", "Engage", "ann@acme.example"),
            ("u3", "Standard", "sales@acme.example"),
        ],
        "fixed.csv",
    );
    browser.choose_file("#csv-file", &fixed).await;
    browser.click("#csv-send").await;
    notice(&browser, "accepted", "Accepted").await;
    browser
        .wait_for(
            "the accepted result",
            "return document.getElementById('csv-accepted') ? true : null",
        )
        .await;
    screen(&browser, "w10-csv-accepted").await;
    open_tab(&browser, "review", "#review-changes").await;
    browser.click("#run-preflight").await;
    browser
        .wait_for(
            "pre-flight passes",
            "const c = document.getElementById('commit'); return c && !c.disabled ? true : null",
        )
        .await;
    browser.click("#commit").await;
    notice(&browser, "committed", "Committed").await;
    assert_eq!(
        app.get_json(&format!("/v1/migrations/{id}")).await["state"],
        "ready"
    );
    // Reopened from the review: back to draft, editable again.
    browser
        .wait_for(
            "the reopen control",
            "return document.getElementById('reopen') ? true : null",
        )
        .await;
    browser.click("#reopen").await;
    notice(&browser, "reopened", "Reopened").await;
    assert_eq!(
        app.get_json(&format!("/v1/migrations/{id}")).await["state"],
        "draft"
    );
    let errors = browser.console_errors().await;
    let unexpected = unexpected_console(&errors);
    assert!(unexpected.is_empty(), "browser console: {errors:#?}");
    browser.quit().await;

    // A read-only key: no link to the workspace, no control in it, and the
    // API refuses a forced edit.
    let ops = app.key("ops", None).await;
    let browser = Browser::start().await;
    login(&browser, &app, &ops).await;
    browser
        .goto(&app.url(&format!("/ui#/migrations/{id}")))
        .await;
    browser
        .wait_for(
            "the detail",
            "return document.getElementById('migration-title') ? true : null",
        )
        .await;
    assert_eq!(
        browser
            .eval("return document.getElementById('open-workspace')")
            .await,
        Value::Null
    );
    let text = browser
        .eval("return document.getElementById('view').innerText")
        .await;
    assert!(!text.as_str().unwrap().contains("null"), "{text}");
    browser
        .goto(&app.url(&format!("/ui#/migrations/{id}/work/users")))
        .await;
    browser
        .wait_for(
            "the read-only note",
            "return document.getElementById('read-only') ? true : null",
        )
        .await;
    let controls = browser
        .eval("return document.querySelectorAll('#view button, #view input, #view select, #view form').length")
        .await;
    assert_eq!(controls, json!(0));
    screen(&browser, "w11-read-only").await;
    let forced = app
        .client
        .patch(app.url(&format!("/v1/migrations/{id}/draft")))
        .bearer_auth(&ops)
        .header("If-Match", "*")
        .json(&json!({"user_ids": ["u2"], "set_plan": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 403);
    browser.quit().await;
    app.stop().await;
}
