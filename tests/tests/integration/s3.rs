//! The S3 path against a real S3-protocol server (moto in server mode,
//! started by `tests/s3-server.sh`, which `make test` runs): the source
//! archive and the tenant store are both `s3://` URLs, and the recovery
//! sweep finds a document put back into the source bucket; and a local
//! archive uploaded into an S3 tenant store (small documents read by lanes,
//! large ones streamed in parts).
//!
//! `s3://` stores read their endpoint and credentials from the `AWS_*`
//! variables (`AmazonS3Builder::from_env`). Environment variables are
//! process-wide and setting them in a test is unsafe, so the application
//! runs as a `ferry all-in-one` child process with its own `AWS_*`
//! environment; the test talks to the server through an explicitly
//! configured `object_store` client and plain HTTP.
//!
//! The server is at `FERRY_TEST_S3_URL` (default `http://127.0.0.1:9090`).
//! When nothing answers there, the test runs `tests/s3-server.sh` once; it is
//! skipped, saying so, only when the server cannot be started.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ferry_tests::prepare_draft;
use ferry_tests::processes::{FerryProcess, free_port};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

fn s3_url() -> String {
    std::env::var("FERRY_TEST_S3_URL").unwrap_or_else(|_| "http://127.0.0.1:9090".to_owned())
}

async fn answers(client: &reqwest::Client) -> bool {
    client
        .get(format!("{}/", s3_url()))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Whether the S3 server answers, starting it with `tests/s3-server.sh`
/// when it does not.
async fn s3_server_up(client: &reqwest::Client) -> bool {
    if answers(client).await {
        return true;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("s3-server.sh");
    let port = url::Url::parse(&s3_url())
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(9090);
    let ran = tokio::process::Command::new("bash")
        .arg(&script)
        .env("FERRY_TEST_S3_PORT", port.to_string())
        .status()
        .await;
    ran.is_ok_and(|s| s.success()) && answers(client).await
}

/// An HTTP client when the S3 server answers (started if need be); `None`,
/// saying the test is skipped, when it cannot be started.
async fn client_for_s3() -> Option<reqwest::Client> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    if s3_server_up(&http).await {
        return Some(http);
    }
    eprintln!(
        "SKIPPED: no S3 server at {} and tests/s3-server.sh could not start one",
        s3_url()
    );
    None
}

fn bucket_store(bucket: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(s3_url())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("ferry-test")
            .with_secret_access_key("ferry-test")
            .with_bucket_name(bucket)
            .build()
            .unwrap(),
    )
}

async fn create_bucket(client: &reqwest::Client, bucket: &str) {
    let res = client
        .put(format!("{}/{bucket}", s3_url()))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "create bucket {bucket}: {res:?}");
}

/// `ListMultipartUploads` of `bucket`: the keys of the open uploads.
async fn open_multipart_uploads(client: &reqwest::Client, bucket: &str) -> Vec<String> {
    let res = client
        .get(format!("{}/{bucket}?uploads", s3_url()))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let xml = res.text().await.unwrap();
    xml.split("<Upload>")
        .skip(1)
        .map(|u| {
            u.split("<Key>")
                .nth(1)
                .and_then(|k| k.split("</Key>").next())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn ok_json(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A `ferry all-in-one` child process whose tenant store is
/// `s3://<tenant_bucket>/tenants`, and the HTTP client that drives it.
struct S3Ferry {
    app: FerryProcess,
    http: reqwest::Client,
    base: String,
    admin: String,
    _dir: tempfile::TempDir,
}

impl S3Ferry {
    fn start(http: &reqwest::Client, tenant_bucket: &str) -> S3Ferry {
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
            (
                "FERRY_TENANT_STORE_URL",
                format!("s3://{tenant_bucket}/tenants"),
            ),
            ("AWS_ENDPOINT", s3_url()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "ferry-test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "ferry-test".to_owned()),
            // The recovery sweep HEADs missing documents in the source bucket.
            ("FERRY_RECOVERY_SWEEP_SECS", "1".to_owned()),
        ];
        let app = FerryProcess::start(&["all-in-one"], &env, dir.path().join("app.log"));
        S3Ferry {
            app,
            http: http.clone(),
            base: format!("http://127.0.0.1:{port}"),
            admin,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Value {
        ok_json(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A committed migration of `body` with `manifest` (CSV); its id.
    async fn ready_with_manifest(&self, body: &Value, manifest: String) -> String {
        let (http, base, admin) = (&self.http, &self.base, &self.admin);
        let m = ok_json(
            http.post(format!("{base}/v1/migrations"))
                .bearer_auth(admin)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let id = m["id"].as_str().unwrap().to_owned();
        prepare_draft(http, base, admin, &id).await;
        ok_json(
            http.post(format!("{base}/v1/migrations/{id}/commit"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        ok_json(
            http.put(format!("{base}/v1/migrations/{id}/manifest"))
                .bearer_auth(admin)
                .header("Content-Type", "text/csv")
                .body(manifest)
                .send()
                .await
                .unwrap(),
        )
        .await;
        id
    }

    /// Starts the upload and waits until its job ended; the job.
    async fn upload(&self, id: &str) -> Value {
        let started = ok_json(
            self.http
                .post(format!("{}/v1/migrations/{id}/start", self.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let job_id = started["job"]["id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let job = self.get(&format!("/v1/jobs/{job_id}")).await;
            if matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job still {job}\n{}",
                self.app.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_from_s3_to_s3_with_multipart_and_missing_documents() {
    let Some(http) = client_for_s3().await else {
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (src_bucket, tenant_bucket) = (format!("src-{run}"), format!("tenants-{run}"));
    create_bucket(&http, &src_bucket).await;
    create_bucket(&http, &tenant_bucket).await;

    // The source export, in its own bucket.
    let src = bucket_store(&src_bucket);
    let dump = b"-- dump\nCREATE TABLE t ();\n".to_vec();
    let small = content(1, 1000);
    // Over the 8 MiB multipart threshold.
    let large = content(2, 9 * 1024 * 1024 + 17);
    for (key, bytes) in [
        ("export/db.dump", &dump),
        ("export/documents/2024/a.pdf", &small),
        ("export/documents/2024/big.bin", &large),
    ] {
        src.put(&Path::parse(key).unwrap(), PutPayload::from(bytes.clone()))
            .await
            .unwrap();
    }

    let ferry = S3Ferry::start(&http, &tenant_bucket);
    let (app, base) = (&ferry.app, &ferry.base);
    app.wait_for_output("ferry listening", Duration::from_secs(60))
        .await;

    // /readyz reaches the S3 tenant store.
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", app.output());

    let mut body = ferry_tests::migration_body("s3acme");
    body["source"]["database_url"] = json!(format!("s3://{src_bucket}/export/db.dump"));
    body["source"]["archive_url"] = json!(format!("s3://{src_bucket}/export/documents/"));
    let manifest = format!(
        "document_id,path,size,sha256\nd1,2024/a.pdf,{},{}\nd2,2024/big.bin,{},\nd3,later/x.doc,10,\n",
        small.len(),
        sha256(&small),
        large.len()
    );
    let id = ferry.ready_with_manifest(&body, manifest).await;
    let job = ferry.upload(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", app.output());
    assert_eq!(job["progress"]["documents_uploaded"], 2, "{job}");
    assert_eq!(job["progress"]["documents_missing"], 1, "{job}");
    assert_eq!(job["progress"]["database_sha256"], sha256(&dump));
    let mig = ferry.get(&format!("/v1/migrations/{id}")).await;
    assert_eq!(mig["state"], "uploaded");

    // The ledger records the checksums of what was read…
    let docs = ferry.get(&format!("/v1/migrations/{id}/documents")).await;
    let items = docs["items"].as_array().unwrap();
    let by_id = |d: &str| {
        items
            .iter()
            .find(|i| i["document_id"] == d)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("d1")["status"], "uploaded");
    assert_eq!(by_id("d1")["actual_sha256"], sha256(&small));
    assert_eq!(by_id("d2")["status"], "uploaded");
    assert_eq!(by_id("d2")["actual_sha256"], sha256(&large));
    assert_eq!(by_id("d3")["status"], "missing");

    // …and the tenant bucket holds exactly those bytes.
    let tenants = bucket_store(&tenant_bucket);
    for (key, bytes) in [
        ("tenants/s3acme/database/db.dump", &dump),
        ("tenants/s3acme/documents/2024/a.pdf", &small),
        ("tenants/s3acme/documents/2024/big.bin", &large),
    ] {
        let got = tenants
            .get(&Path::parse(key).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha256(&got), sha256(bytes), "{key}");
    }
    let absent = tenants
        .head(&Path::parse("tenants/s3acme/documents/later/x.doc").unwrap())
        .await;
    assert!(matches!(absent, Err(object_store::Error::NotFound { .. })));

    // The missing document is put into the source bucket: the sweep finds
    // it (HEAD over S3) and its recovery uploads it.
    let late = content(3, 10);
    src.put(
        &Path::parse("export/documents/later/x.doc").unwrap(),
        PutPayload::from(late.clone()),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let recovery = loop {
        let jobs = ferry.get(&format!("/v1/migrations/{id}/jobs")).await;
        let items = jobs["items"].as_array().unwrap().clone();
        if items.len() == 2 && items[1]["state"] == "succeeded" {
            break items[1].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery: {jobs}\n{}",
            app.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recovery["kind"], "recovery");
    assert_eq!(recovery["progress"]["documents_uploaded"], 1, "{recovery}");
    let got = tenants
        .get(&Path::parse("tenants/s3acme/documents/later/x.doc").unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), late.as_slice());

    // No multipart upload was left open in either bucket.
    assert_eq!(
        open_multipart_uploads(&http, &tenant_bucket).await,
        Vec::<String>::new()
    );
    assert_eq!(
        open_multipart_uploads(&http, &src_bucket).await,
        Vec::<String>::new()
    );
}

/// A local archive into an S3 tenant store: small documents are read by
/// lanes and go up with one `put` each (`upload/reads.rs`), a large one
/// streams in parts. Each keeps the rules of every copy: the bytes arrive verified, a
/// checksum that does not match stores nothing, a symbolic link leaving the
/// archive is not followed, and an absent document is `missing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_from_a_local_archive_into_s3() {
    let Some(http) = client_for_s3().await else {
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let tenant_bucket = format!("tenants-{run}");
    create_bucket(&http, &tenant_bucket).await;

    let export = tempfile::tempdir().unwrap();
    let docs = export.path().join("documents");
    std::fs::create_dir_all(docs.join("mail")).unwrap();
    std::fs::write(export.path().join("db.dump"), b"-- dump\n").unwrap();
    std::fs::write(export.path().join("secret.txt"), b"secret").unwrap();
    let small: Vec<Vec<u8>> = (0..20u8)
        .map(|k| content(k, 100 + usize::from(k) * 37))
        .collect();
    for (k, bytes) in small.iter().enumerate() {
        std::fs::write(docs.join(format!("mail/m{k}.eml")), bytes).unwrap();
    }
    let large = content(99, 9 * 1024 * 1024 + 5);
    std::fs::write(docs.join("big.bin"), &large).unwrap();
    let tampered = content(7, 500);
    std::fs::write(docs.join("tampered.doc"), &tampered).unwrap();
    std::os::unix::fs::symlink(export.path().join("secret.txt"), docs.join("link.txt")).unwrap();

    let ferry = S3Ferry::start(&http, &tenant_bucket);
    ferry
        .app
        .wait_for_output("ferry listening", Duration::from_secs(60))
        .await;
    let mut body = ferry_tests::migration_body("localacme");
    body["source"]["database_url"] = json!(format!("file://{}/db.dump", export.path().display()));
    body["source"]["archive_url"] = json!(format!("file://{}/", docs.display()));
    let mut manifest = String::from("document_id,path,size,sha256\n");
    for (k, bytes) in small.iter().enumerate() {
        manifest += &format!("s{k},mail/m{k}.eml,{},{}\n", bytes.len(), sha256(bytes));
    }
    manifest += &format!("big,big.bin,{},{}\n", large.len(), sha256(&large));
    // The manifest's checksum is of other bytes than the file holds.
    manifest += &format!("t,tampered.doc,{},{}\n", tampered.len(), sha256(b"other"));
    manifest += "l,link.txt,6,\nm,mail/absent.eml,3,\n";
    let id = ferry.ready_with_manifest(&body, manifest).await;
    let job = ferry.upload(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", ferry.app.output());
    assert_eq!(job["progress"]["documents_uploaded"], 21, "{job}");
    assert_eq!(job["progress"]["documents_failed"], 2, "{job}");
    assert_eq!(job["progress"]["documents_missing"], 1, "{job}");

    let ledger = ferry
        .get(&format!("/v1/migrations/{id}/documents?limit=100"))
        .await;
    let reason = |d: &str| {
        ledger["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["document_id"] == d)
            .map(|i| (i["status"].clone(), i["reason"].clone()))
            .unwrap()
    };
    assert_eq!(reason("t").0, "failed");
    assert!(
        reason("t")
            .1
            .as_str()
            .unwrap()
            .starts_with("checksum_mismatch"),
        "{ledger}"
    );
    assert_eq!(reason("l").0, "failed");
    assert!(
        reason("l").1.as_str().unwrap().contains("symbolic link"),
        "{ledger}"
    );
    assert_eq!(reason("m").0, "missing");

    let tenants = bucket_store(&tenant_bucket);
    let key = |p: &str| Path::parse(format!("tenants/localacme/documents/{p}")).unwrap();
    for (k, bytes) in small.iter().enumerate() {
        let got = tenants.get(&key(&format!("mail/m{k}.eml"))).await.unwrap();
        assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    let got = tenants
        .get(&key("big.bin"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&got), sha256(&large));
    for absent in ["tampered.doc", "link.txt", "mail/absent.eml"] {
        assert!(
            matches!(
                tenants.head(&key(absent)).await,
                Err(object_store::Error::NotFound { .. })
            ),
            "{absent} must not be stored"
        );
    }
    assert_eq!(
        open_multipart_uploads(&http, &tenant_bucket).await,
        Vec::<String>::new()
    );
}
