//! The `ferry` client commands, run as the real binary against a real
//! server: both procedures of the spec from the command line alone, (a) the
//! licence migration through the CSV round trip and (b) upload, missing
//! documents, recovery and completion, checking the exit codes scripts use.
//!
//! The server runs in this process (`spawn_app`); the CLI is a child
//! process, so what is tested is exactly what a migrator runs. The client
//! does not care about the server's run mode, so the embedded mode suffices.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferry_tests::processes::{ferry_bin, free_port};
use ferry_tests::{Mode, TestApp, migration_body, migration_body_with, spawn_app};
use serde_json::{Value, json};

/// The documented exit codes (docs/cli.md, "exit" table).
pub(crate) const OK: i32 = 0;
pub(crate) const USAGE: i32 = 2;
pub(crate) const NETWORK: i32 = 3;
pub(crate) const REFUSED: i32 = 4;
pub(crate) const INVALID: i32 = 5;
pub(crate) const JOB_FAILED: i32 = 6;
pub(crate) const DOCUMENTS_REMAIN: i32 = 7;

/// One run of the binary.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// Asserts the exit code, showing the whole run when it differs.
    pub(crate) fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The CLI as a migrator has it: the server and a key in the environment.
pub(crate) struct Cli {
    server: String,
    key: String,
    dir: PathBuf,
}

impl Cli {
    pub(crate) fn new(app: &TestApp, key: String, dir: &Path) -> Cli {
        Cli {
            server: app.base.clone(),
            key,
            dir: dir.to_path_buf(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(ferry_bin())
            .args(args)
            .current_dir(&self.dir)
            .env("FERRY_SERVER", &self.server)
            .env("FERRY_KEY", &self.key)
            .env_remove("FERRY_CONFIG")
            .output()
            .await
            .expect("ferry runs");
        Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Opens a migration from a JSON file; returns its id.
    pub(crate) async fn create(&self, body: &Value) -> String {
        let file = self.path(&format!(
            "migration-{}.json",
            body["tenant"].as_str().unwrap()
        ));
        std::fs::write(&file, body.to_string()).unwrap();
        let run = self
            .run(&["migrations", "create", "--from", &file, "--json"])
            .await
            .expect(OK);
        run.json()["id"].as_str().unwrap().to_owned()
    }
}

/// Reads a CSV export (BOM, CRLF) into rows, header first.
fn read_csv(path: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn write_csv(path: &str, rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// The row of `user_id` and the index of `column` in an export.
fn cell<'a>(rows: &'a mut [Vec<String>], user_id: &str, column: &str) -> &'a mut String {
    let col = rows[0].iter().position(|h| h == column).unwrap();
    let row = rows.iter().position(|r| r[0] == user_id).unwrap();
    &mut rows[row][col]
}

pub(crate) const ROSTER_CSV: &str = "user_id,full_name,emails,group,position,is_admin,old_license,old_addons,on_travel,active\n\
u1,Mia Migrator,mia@partner.example,IT,Consultant,yes,Admin,,no,yes\n\
u2,Ann Lee,ann@acme.example,Sales,Lead,no,Engage,Marketing,no,yes\n\
u3,Bob Roe,bob@acme.example,Sales,Rep,no,Standard,,no,yes\n\
u4,Old Timer,old@acme.example,Sales,Rep,no,Standard,,no,no\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licence_procedure_from_the_cli() {
    let app = spawn_app(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    // Sales tooling opens the migration; the migrator drives it.
    let sales = Cli::new(&app, app.key("sales", None).await, dir.path());
    let cli = Cli::new(&app, app.key("migrator", None).await, dir.path());

    // Flags override the file's fields: the template has no tenant.
    let mut body = migration_body("acme");
    body.as_object_mut().unwrap().remove("tenant");
    std::fs::write(sales.path("template.json"), body.to_string()).unwrap();
    let run = sales
        .run(&[
            "migrations",
            "create",
            "--from",
            "template.json",
            "--tenant",
            "acme",
        ])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("tenant     acme") && run.stdout.contains("draft"),
        "{run}"
    );
    let id = run.stdout.split_whitespace().nth(1).unwrap().to_owned();
    let shown = cli
        .run(&["--json", "migrations", "show", &id])
        .await
        .expect(OK);
    assert_eq!(shown.json()["tenant"], "acme");

    std::fs::write(cli.path("roster.csv"), ROSTER_CSV).unwrap();
    let run = cli
        .run(&["roster", "upload", &id, "roster.csv"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("4 users (3 active)"), "{run}");

    // Nobody holds a plan yet: pre-flight prints its checks and fails, and
    // so does a commit, with the same report.
    let run = cli.run(&["preflight", &id]).await.expect(INVALID);
    assert!(run.stdout.contains("admin_and_migrator_licensed"), "{run}");
    assert!(run.stdout.contains("pre-flight FAILS"), "{run}");
    let run = cli.run(&["commit", &id]).await.expect(INVALID);
    assert!(run.stdout.contains("not committed"), "{run}");

    let run = cli
        .run(&["assignments", "export", &id, "assignments.csv"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("draft version"), "{run}");
    let mut rows = read_csv(&cli.path("assignments.csv"));
    assert_eq!(rows.len(), 4, "header + the three active users");

    // The migrator edits, with one mistake: a plan the contract lacks.
    *cell(&mut rows, "u1", "New License") = "Admin".into();
    *cell(&mut rows, "u2", "New License") = "Platinum".into();
    *cell(&mut rows, "u3", "New License") = "Standard".into();
    write_csv(&cli.path("edited.csv"), &rows);
    let run = cli
        .run(&["assignments", "import", &id, "edited.csv"])
        .await
        .expect(INVALID);
    assert!(
        run.stdout.contains("unknown_plan") && run.stdout.contains("Platinum"),
        "the errors print as a table: {run}"
    );
    assert!(run.stderr.contains("edited.errors.csv"), "{run}");
    let report = std::fs::read_to_string(cli.path("edited.errors.csv")).unwrap();
    assert!(
        report.contains("unknown_plan") && report.contains("Platinum"),
        "{report}"
    );

    // Scripts get the problem document and choose where the report goes.
    let run = cli
        .run(&[
            "assignments",
            "import",
            &id,
            "edited.csv",
            "--json",
            "--report",
            "r.csv",
        ])
        .await
        .expect(INVALID);
    assert_eq!(run.json()["code"], "invalid_csv");
    assert!(
        std::fs::read_to_string(cli.path("r.csv"))
            .unwrap()
            .contains("Platinum")
    );

    // Fixed; an import against a stale draft version is refused.
    *cell(&mut rows, "u2", "New License") = "Engage".into();
    *cell(&mut rows, "u2", "New Add-ons") = "Marketing".into();
    write_csv(&cli.path("edited.csv"), &rows);
    let run = cli
        .run(&[
            "assignments",
            "import",
            &id,
            "edited.csv",
            "--draft-version",
            "999",
        ])
        .await
        .expect(REFUSED);
    assert!(run.stderr.contains("precondition_failed"), "{run}");
    let run = cli
        .run(&["assignments", "import", &id, "edited.csv"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("3 rows read"), "{run}");

    let run = cli.run(&["preflight", &id]).await.expect(OK);
    assert!(
        run.stdout.contains("source_version") && run.stdout.contains("pre-flight passes"),
        "{run}"
    );
    let run = cli.run(&["review", &id]).await.expect(OK);
    assert!(run.stdout.contains("3 change(s)"), "{run}");
    assert!(
        run.stdout
            .contains("Engage + Marketing as ann@acme.example"),
        "{run}"
    );
    let review = cli.run(&["--json", "review", &id]).await.expect(OK).json();
    assert_eq!(review["changes"].as_array().unwrap().len(), 3);

    let run = cli.run(&["commit", &id]).await.expect(OK);
    assert!(run.stdout.contains("is ready"), "{run}");
    let shown = cli
        .run(&["--json", "migrations", "show", &id])
        .await
        .expect(OK);
    assert_eq!(shown.json()["state"], "ready");
    // Committing twice is a refusal naming the state.
    let run = cli.run(&["commit", &id]).await.expect(REFUSED);
    assert!(
        run.stderr.contains("illegal_transition") && run.stderr.contains("ready"),
        "{run}"
    );
    app.stop().await;
}

/// A source export in the app's folder: `db.dump` and `documents/`.
fn source(app: &TestApp) -> PathBuf {
    let root = app.data_dir().join("source");
    std::fs::create_dir_all(root.join("documents/2024")).unwrap();
    std::fs::write(root.join("db.dump"), b"-- dump\nCREATE TABLE t ();\n").unwrap();
    std::fs::write(root.join("documents/2024/a.pdf"), vec![7u8; 3000]).unwrap();
    std::fs::write(root.join("documents/2024/b.txt"), b"hello").unwrap();
    root
}

fn body_for(tenant: &str, root: &Path) -> Value {
    let db = url::Url::from_file_path(root.join("db.dump")).unwrap();
    let docs = url::Url::from_directory_path(root.join("documents")).unwrap();
    migration_body_with(tenant, db.as_str(), docs.as_str())
}

/// Roster, plan and commit through the CLI: the migrator alone, an admin
/// with the Admin plan, is the smallest draft that passes pre-flight.
async fn make_ready(cli: &Cli, id: &str) {
    let roster = json!({"users": [{
        "user_id": "u1", "full_name": "Mia Migrator", "emails": ["mia@partner.example"],
        "is_admin": true, "old_license": "Admin"
    }]});
    std::fs::write(cli.path("roster.json"), roster.to_string()).unwrap();
    cli.run(&["roster", "upload", id, "roster.json"])
        .await
        .expect(OK);
    let file = cli.path(&format!("{id}.csv"));
    cli.run(&["assignments", "export", id, &file])
        .await
        .expect(OK);
    let mut rows = read_csv(&file);
    *cell(&mut rows, "u1", "New License") = "Admin".into();
    write_csv(&file, &rows);
    cli.run(&["assignments", "import", id, &file])
        .await
        .expect(OK);
    cli.run(&["commit", id]).await.expect(OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_procedure_from_the_cli() {
    let app = spawn_app(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&app, app.admin_key.clone(), dir.path());
    let root = source(&app);

    // Everything present: start, watch to the end (exit 0), complete.
    let id = cli.create(&body_for("acme", &root)).await;
    make_ready(&cli, &id).await;
    std::fs::write(
        cli.path("escape.csv"),
        "document_id,path,size,sha256\nd1,../../etc/passwd,4,\n",
    )
    .unwrap();
    let run = cli
        .run(&["manifest", "upload", &id, "escape.csv"])
        .await
        .expect(INVALID);
    assert!(
        run.stdout.contains("line 2"),
        "the bad line is named: {run}"
    );
    assert!(
        std::fs::read_to_string(cli.path("escape.errors.csv"))
            .unwrap()
            .contains("line 2")
    );
    std::fs::write(
        cli.path("manifest.csv"),
        "document_id,path,size,sha256\nd1,2024/a.pdf,3000,\nd2,2024/b.txt,5,\n",
    )
    .unwrap();
    let run = cli
        .run(&["manifest", "upload", &id, "manifest.csv"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("2 documents"), "{run}");
    let started = cli.run(&["--json", "start", &id]).await.expect(OK).json();
    assert_eq!(started["job"]["kind"], "upload");
    let job = started["job"]["id"].as_str().unwrap();
    let run = cli
        .run(&["watch", job, "--interval", "200"])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("succeeded") && run.stdout.contains("2 uploaded"),
        "{run}"
    );
    let run = cli.run(&["complete", &id]).await.expect(OK);
    assert!(run.stdout.contains("completed"), "{run}");

    // A document missing from the archive: the watch ends with exit 7.
    let id = cli.create(&body_for("beta", &root)).await;
    make_ready(&cli, &id).await;
    std::fs::write(
        cli.path("manifest.ndjson"),
        "{\"document_id\":\"d1\",\"path\":\"2024/a.pdf\",\"size\":3000}\n\
         {\"document_id\":\"d2\",\"path\":\"later/x.doc\",\"size\":4}\n",
    )
    .unwrap();
    cli.run(&["manifest", "upload", &id, "manifest.ndjson"])
        .await
        .expect(OK);
    cli.run(&["start", &id]).await.expect(OK);
    // By migration id: the watch follows its latest job.
    let run = cli
        .run(&["watch", &id, "--interval", "200"])
        .await
        .expect(DOCUMENTS_REMAIN);
    assert!(run.stdout.contains("1 missing"), "{run}");
    let run = cli
        .run(&["documents", "list", &id, "--status", "missing"])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("later/x.doc") && !run.stdout.contains("a.pdf"),
        "{run}"
    );

    // Put back; the start is now a recovery, watched to the end.
    std::fs::create_dir_all(root.join("documents/later")).unwrap();
    std::fs::write(root.join("documents/later/x.doc"), b"late").unwrap();
    let run = cli
        .run(&["start", &id, "--watch", "--interval", "200"])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("recovery") && run.stdout.contains("succeeded"),
        "{run}"
    );
    let run = cli.run(&["--json", "watch", &id]).await.expect(OK);
    assert_eq!(run.json()["progress"]["documents_uploaded"], 1);
    cli.run(&["complete", &id]).await.expect(OK);
    let shown = cli
        .run(&["--json", "migrations", "show", &id])
        .await
        .expect(OK);
    assert_eq!(shown.json()["state"], "completed");
    assert_eq!(shown.json()["frozen"], false);
    // Nothing left to start.
    let run = cli.run(&["start", &id]).await.expect(REFUSED);
    assert!(run.stderr.contains("illegal_transition"), "{run}");

    // A pre-copy while the source is live (issue 15), watched to the end;
    // then there is nothing left to pre-copy.
    let id = cli.create(&body_for("gamma", &root)).await;
    make_ready(&cli, &id).await;
    cli.run(&["manifest", "upload", &id, "manifest.csv"])
        .await
        .expect(OK);
    let run = cli
        .run(&["precopy", &id, "--watch", "--interval", "200"])
        .await
        .expect(OK);
    assert!(
        run.stdout.contains("precopy")
            && run.stdout.contains("stays live")
            && run.stdout.contains("succeeded"),
        "{run}"
    );
    let run = cli.run(&["precopy", &id]).await.expect(REFUSED);
    assert!(run.stderr.contains("nothing_to_copy"), "{run}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_network_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = Cli {
        server: format!("http://127.0.0.1:{}", free_port()),
        key: "fry_whatever".into(),
        dir: dir.path().to_path_buf(),
    };
    let run = nobody.run(&["preflight", "x"]).await.expect(NETWORK);
    assert!(run.stderr.contains("cannot reach"), "{run}");
    let no_key = Cli {
        key: String::new(),
        ..nobody
    };
    let run = no_key.run(&["review", "x"]).await.expect(USAGE);
    assert!(run.stderr.contains("FERRY_KEY"), "{run}");
    no_key.run(&["no-such-command"]).await.expect(USAGE);
    let bad = Cli {
        server: "ftp://example".into(),
        key: "k".into(),
        ..no_key
    };
    bad.run(&["review", "x"]).await.expect(USAGE);
    let missing_file = bad
        .run(&[
            "--server",
            "http://127.0.0.1:1",
            "roster",
            "upload",
            "x",
            "nope.csv",
        ])
        .await;
    assert_eq!(missing_file.code, USAGE, "{missing_file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_4_with_the_reason() {
    let app = spawn_app(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&app, app.admin_key.clone(), dir.path());
    // A wrong key is a refusal (4), not a network error.
    let wrong = Cli::new(&app, "fry_wrong".into(), dir.path());
    let run = wrong.run(&["migrations", "list"]).await.expect(REFUSED);
    assert!(run.stderr.contains("unauthorized"), "{run}");
    let id = cli.create(&migration_body("gamma")).await;
    // No job yet: watch says how to start one.
    let run = cli.run(&["watch", &id]).await.expect(REFUSED);
    assert!(run.stderr.contains("ferry start"), "{run}");
    let run = cli
        .run(&["watch", "0190a000-0000-7000-8000-000000000000"])
        .await
        .expect(REFUSED);
    assert!(run.stderr.contains("no job or migration"), "{run}");
    let list = cli.run(&["--json", "migrations", "list"]).await.expect(OK);
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    // A stale --expect-version is refused; the right one cancels.
    let run = cli
        .run(&["cancel", &id, "--expect-version", "7"])
        .await
        .expect(REFUSED);
    assert!(run.stderr.contains("precondition_failed"), "{run}");
    let run = cli
        .run(&["cancel", &id, "--expect-version", "1"])
        .await
        .expect(OK);
    assert!(run.stdout.contains("is cancelled"), "{run}");
    let run = cli.run(&["--json", "cancel", &id]).await.expect(REFUSED);
    assert_eq!(run.json()["code"], "illegal_transition", "{run}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_exits_6() {
    let app = spawn_app(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(&app, app.admin_key.clone(), dir.path());
    let root = source(&app);
    let id = cli.create(&body_for("delta", &root)).await;
    make_ready(&cli, &id).await;
    // The dump vanishes after the commit checked it: without the database
    // there is nothing to migrate, so the job fails.
    std::fs::remove_file(root.join("db.dump")).unwrap();
    let run = cli
        .run(&["start", &id, "--watch", "--interval", "200"])
        .await
        .expect(JOB_FAILED);
    assert!(
        run.stdout.contains("FAILED") && run.stdout.contains("last error"),
        "{run}"
    );
    app.stop().await;
}
