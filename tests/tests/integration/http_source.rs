//! An installation exposed by an ordinary static web server (issue 16):
//! Python's `http.server` (GET and HEAD per file, no listing) serves the
//! dump and the archive over plain `http://`. Pre-flight finds both
//! reachable, the upload copies every document and fails the one whose
//! body stalls half-way (the read times out, is retried, and the document
//! ends `failed` with the reason, instead of the job hanging), and a
//! recovery copies it once the server behaves. The real `ferry` binary runs
//! as its own process, so its read timeout comes from its environment.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use ferry_tests::prepare_draft;
use ferry_tests::processes::{FerryProcess, free_port};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// The static server, killed on drop.
struct WebServer(Child);

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_web_server(root: &Path, port: u16) -> WebServer {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("static-http.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(port.to_string())
        .spawn()
        .expect("python3 runs the static server");
    WebServer(child)
}

/// SHA-256 of bytes, by way of a file (the harness hashes files).
fn hex_sha256(bytes: &[u8]) -> String {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), bytes).unwrap();
    ferry_tests::archive::file_sha256(f.path())
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_web_server_is_a_source_and_a_stalled_body_fails_the_document() {
    let web = tempfile::tempdir().unwrap();
    let root = web.path();
    std::fs::create_dir_all(root.join("docs/2024")).unwrap();
    let dump = b"-- PostgreSQL dump\n".repeat(100);
    let small = b"letter".repeat(50);
    let plain = b"no checksum in the manifest".to_vec();
    let stalling = vec![7u8; 256 * 1024];
    std::fs::write(root.join("db.dump"), &dump).unwrap();
    std::fs::write(root.join("docs/2024/a.pdf"), &small).unwrap();
    std::fs::write(root.join("docs/2024/b.txt"), &plain).unwrap();
    std::fs::write(root.join("docs/stall.bin"), &stalling).unwrap();
    std::fs::write(root.join(".stall"), "/docs/stall.bin\n").unwrap();
    let web_port = free_port();
    let _server = start_web_server(root, web_port);
    let web_base = format!("http://127.0.0.1:{web_port}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while http
        .head(format!("{web_base}/db.dump"))
        .send()
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "web server up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = format!("fry_test_{}", uuid::Uuid::new_v4().simple());
    let env = vec![
        (
            "FERRY_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("FERRY_BIND", format!("127.0.0.1:{port}")),
        ("FERRY_BOOTSTRAP_ADMIN_KEY", admin.clone()),
        ("FERRY_SOURCE_READ_TIMEOUT_SECS", "1".to_owned()),
    ];
    let app = FerryProcess::start(&["all-in-one"], &env, dir.path().join("app.log"));
    app.wait_for_output("ferry listening", Duration::from_secs(60))
        .await;
    let base = format!("http://127.0.0.1:{port}");
    let mut body = ferry_tests::migration_body("webacme");
    body["source"]["database_url"] = json!(format!("{web_base}/db.dump"));
    body["source"]["archive_url"] = json!(format!("{web_base}/docs/"));
    let m = ok(http
        .post(format!("{base}/v1/migrations"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap())
    .await;
    let id = m["id"].as_str().unwrap().to_owned();
    prepare_draft(&http, &base, &admin, &id).await;

    // Pre-flight: the dump by HEAD, the folder by the server's answer.
    let report = ok(http
        .get(format!("{base}/v1/migrations/{id}/preflight"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap())
    .await;
    let reach = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sources_reachable")
        .unwrap();
    assert_eq!(reach["status"], "pass", "{reach}");
    ok(http
        .post(format!("{base}/v1/migrations/{id}/commit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap())
    .await;
    let manifest = format!(
        "document_id,path,size,sha256\nd1,2024/a.pdf,{},{}\nd2,2024/b.txt,{},\nd3,stall.bin,{},{}\n",
        small.len(),
        hex_sha256(&small),
        plain.len(),
        stalling.len(),
        hex_sha256(&stalling),
    );
    ok(http
        .put(format!("{base}/v1/migrations/{id}/manifest"))
        .bearer_auth(&admin)
        .header("Content-Type", "text/csv")
        .body(manifest)
        .send()
        .await
        .unwrap())
    .await;

    let run = |path: &'static str| {
        let (http, base, admin, id) = (http.clone(), base.clone(), admin.clone(), id.clone());
        async move {
            let started = ok(http
                .post(format!("{base}/v1/migrations/{id}/{path}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap())
            .await;
            let job_id = started["job"]["id"].as_str().unwrap().to_owned();
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let job = ok(http
                    .get(format!("{base}/v1/jobs/{job_id}"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .unwrap())
                .await;
                if matches!(
                    job["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                ) {
                    return job;
                }
                assert!(tokio::time::Instant::now() < deadline, "job hangs: {job}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let job = run("start").await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", app.output());
    assert_eq!(job["progress"]["documents_uploaded"], 2, "{job}");
    assert_eq!(job["progress"]["documents_failed"], 1, "{job}");
    assert_eq!(job["progress"]["database_sha256"], hex_sha256(&dump));
    let docs = ok(http
        .get(format!("{base}/v1/migrations/{id}/documents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap())
    .await;
    let d3 = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["document_id"] == "d3")
        .unwrap()
        .clone();
    assert_eq!(d3["status"], "failed", "{d3}");
    let reason = d3.to_string().to_lowercase();
    assert!(
        reason.contains("timed out") || reason.contains("timeout"),
        "{d3}"
    );
    let stalled = std::fs::read_to_string(root.join(".stalled")).unwrap();
    assert!(
        stalled.lines().count() >= 2,
        "the stalled read was retried: {stalled}"
    );
    let tenant = dir.path().join("data/tenants/webacme");
    assert_eq!(
        std::fs::read(tenant.join("documents/2024/b.txt")).unwrap(),
        plain
    );
    assert!(!tenant.join("documents/stall.bin").exists());

    // The server behaves again: a recovery copies the failed document.
    std::fs::remove_file(root.join(".stall")).unwrap();
    let job = run("start").await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", app.output());
    assert_eq!(job["progress"]["documents_uploaded"], 1, "{job}");
    assert_eq!(
        std::fs::read(tenant.join("documents/stall.bin")).unwrap(),
        stalling
    );
}
