//! At least once, effects exactly once (SPEC §3.6): `ferry serve` and
//! `ferry worker` as separate processes on PostgreSQL + Redis, with a short
//! orphan window. The worker is killed with SIGKILL at random moments of an
//! upload, at least ten times, and a new worker process (a new worker name)
//! is started each time. At the end the migration is `uploaded`, the ledger
//! has every manifest row once in one final state and agrees with the job's
//! counters, the tenant store is byte-identical to the source with no
//! staging files left, and the progress a dashboard polled never went back.

#![allow(clippy::unwrap_used)]

use crate::cluster;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::{Cluster, Doc, generate, sha256_many, small_docs, wait_job};

const KILLS: usize = 10;

/// A small xorshift generator; the seed is printed so a failure can be rerun
/// with `CRASH_SEED=…`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("crash test seed: CRASH_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_lose_and_duplicate_nothing() {
    crash_run("crashco", &[("FERRY_UPLOAD_BATCH_DOCUMENTS", "0")]).await;
}

/// The same with the job split into batches (one at a time per worker): a
/// kill may also hit the split, a batch's end or the last batch's finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_of_a_split_job_lose_and_duplicate_nothing() {
    crash_run(
        "crashsplit",
        &[
            ("FERRY_UPLOAD_BATCH_DOCUMENTS", "40"),
            ("FERRY_WORKER_CONCURRENCY", "1"),
        ],
    )
    .await;
}

/// Issue 14: local copies run ahead of the ledger in lanes, and the recorder
/// writes their outcomes hundreds at a time, two flushes in flight. A kill
/// loses every outcome copied but not yet written (and may hit a flush);
/// the redelivered job must record each of those exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_workers_lose_no_batched_outcome_and_count_none_twice() {
    crash_run_with(
        "crashbatch",
        &[
            ("FERRY_UPLOAD_BATCH_DOCUMENTS", "0"),
            ("FERRY_TRANSFER_CONCURRENCY", "8"),
            ("FERRY_TRANSFER_MAX_BYTES_PER_SEC", "1500000"),
        ],
        small_docs(6000),
        4,
    )
    .await;
}

/// Issue 15: a pre-copy killed (SIGKILL) mid-way is taken up again and
/// copies each document once, the source never frozen; run again, it copies
/// only what the source gained; the cutover then copies the dump and what is
/// still missing, never the pre-copied documents again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_precopy_resumes_and_the_cutover_copies_only_the_rest() {
    let mut rng = Rng::new();
    let env = [
        ("FERRY_TRANSFER_CONCURRENCY", "3"),
        ("FERRY_TRANSFER_MAX_BYTES_PER_SEC", "6000000"),
        ("FERRY_UPLOAD_BATCH_DOCUMENTS", "0"),
    ];
    let mut c = Cluster::start(&env).await;
    let docs = generate(100, 25);
    let absent: Vec<&cluster::Doc> = docs.iter().filter(|d| !d.present).collect();
    assert_eq!(absent.len(), 2);
    let id = c.prepare("precrash", &docs, false).await;
    let started = c.post(&format!("/v1/migrations/{id}/precopy")).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();
    let (mut worker, _) = kill_workers(&mut c, &job_id, 3, &mut rng).await;
    let job = wait_job(&c, &job_id, Duration::from_secs(120), |_| {}).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", worker.output());
    assert_eq!(job["progress"]["documents_uploaded"], 98, "{job}");
    assert_eq!(job["progress"]["documents_missing"], 2, "{job}");
    let freeze = c.get(&format!("/v1/migrations/{id}/freeze")).await;
    assert_eq!(freeze["frozen"], false, "{freeze}");
    assert!(
        freeze["since"].is_null(),
        "a pre-copy never freezes: {freeze}"
    );
    assert_eq!(
        c.get(&format!("/v1/migrations/{id}")).await["state"],
        "draft"
    );
    let tenant_docs = c.path("tenants/precrash/documents");
    let src_docs = c.path("source/documents");
    let same = |d: &cluster::Doc| {
        let (a, b) = (tenant_docs.join(&d.path), src_docs.join(&d.path));
        let shas = sha256_many(&[a.clone(), b.clone()]);
        shas.contains_key(&a) && shas.get(&a) == shas.get(&b)
    };
    assert!(
        docs.iter().filter(|d| d.present).all(same),
        "pre-copied byte for byte"
    );

    // The source gains one of the two; a second pre-copy copies just that.
    let gained = absent[0];
    let i = docs.iter().position(|d| d.id == gained.id).unwrap();
    let file = src_docs.join(&gained.path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, cluster::content(i as u64, gained.size as usize)).unwrap();
    let again = c.post(&format!("/v1/migrations/{id}/precopy")).await;
    let again_id = again["job"]["id"].as_str().unwrap().to_owned();
    let job = wait_job(&c, &again_id, Duration::from_secs(60), |_| {}).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", worker.output());
    assert_eq!(
        job["progress"]["documents_total"], 2,
        "only what was left: {job}"
    );
    assert_eq!(job["progress"]["documents_uploaded"], 1, "{job}");

    // The cutover: the dump and the one document still missing, nothing else.
    c.post(&format!("/v1/migrations/{id}/commit")).await;
    let cut = c.post(&format!("/v1/migrations/{id}/start")).await;
    let cut_id = cut["job"]["id"].as_str().unwrap().to_owned();
    let job = wait_job(&c, &cut_id, Duration::from_secs(60), |_| {}).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", worker.output());
    assert_eq!(job["progress"]["documents_total"], 1, "{job}");
    assert_eq!(job["progress"]["documents_missing"], 1, "{job}");
    assert_eq!(
        job["progress"]["bytes_done"],
        3 * 1024 * 1024 + 5,
        "the dump only: {job}"
    );
    assert_eq!(
        c.get(&format!("/v1/migrations/{id}")).await["state"],
        "uploaded"
    );
    let present: Vec<&cluster::Doc> = docs
        .iter()
        .filter(|d| d.present || d.id == gained.id)
        .collect();
    assert!(
        present.iter().all(|d| same(d)),
        "the tenant matches the source"
    );
    let csv = c.text(&format!("/v1/migrations/{id}/documents.csv")).await;
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), docs.len(), "every manifest row once");
    assert_eq!(rows.iter().filter(|r| &r[3] == "uploaded").count(), 99);
    assert_eq!(rows.iter().filter(|r| &r[3] == "missing").count(), 1);
    assert!(worker.terminate(Duration::from_secs(15)).is_some());
}

async fn crash_run(tenant: &str, extra: &[(&'static str, &str)]) {
    crash_run_with(tenant, extra, generate(300, 25), KILLS).await;
}

async fn crash_run_with(
    tenant: &str,
    extra: &[(&'static str, &str)],
    docs: Vec<Doc>,
    kills_wanted: usize,
) {
    let mut rng = Rng::new();
    // A bandwidth limit makes the upload (about 90 MB) last long enough to
    // be killed in the middle of every kind of step: dump, multipart parts,
    // small puts, between a write and its flush to the ledger.
    let mut env = vec![
        ("FERRY_TRANSFER_CONCURRENCY", "3"),
        ("FERRY_TRANSFER_MAX_BYTES_PER_SEC", "6000000"),
    ];
    env.extend_from_slice(extra);
    let split = !extra.contains(&("FERRY_UPLOAD_BATCH_DOCUMENTS", "0"));
    let mut c = Cluster::start(&env).await;
    let (migration_id, started) = c.start_upload(tenant, &docs).await;
    let job_id = started["job"]["id"].as_str().unwrap().to_owned();

    // A dashboard polling all along: progress must never go backwards, and
    // a job shown `succeeded` has delivered its receipt (a split job's last
    // batches ending together once finished it before the delivery).
    let seen = Arc::new(Mutex::new(Vec::<(i64, i64)>::new()));
    let receipt = c.path("tenants").join(tenant).join("MIGRATION.json");
    let poller = {
        let (seen, client, base, key, job_id) = (
            seen.clone(),
            c.client.clone(),
            c.base.clone(),
            c.key.clone(),
            job_id.clone(),
        );
        tokio::spawn(async move {
            loop {
                let res = client
                    .get(format!("{base}/v1/jobs/{job_id}"))
                    .bearer_auth(&key)
                    .send()
                    .await;
                if let Ok(res) = res
                    && let Ok(job) = res.json::<serde_json::Value>().await
                {
                    let p = &job["progress"];
                    let now = (
                        p["documents_uploaded"].as_i64().unwrap_or_default(),
                        p["bytes_done"].as_i64().unwrap_or_default(),
                    );
                    seen.lock().unwrap().push(now);
                    if job["state"] == "succeeded" {
                        assert!(receipt.exists(), "succeeded before its receipt: {job}");
                    }
                    if job["state"] != "running" && job["state"] != "queued" {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let (worker, attempts_seen) = kill_workers(&mut c, &job_id, kills_wanted, &mut rng).await;

    let job = wait_job(&c, &job_id, Duration::from_secs(120), |_| {}).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", worker.output());
    if !split {
        assert!(
            job["attempts"].as_i64().unwrap() > kills_wanted as i64,
            "every kill cost an attempt: {job}"
        );
    }
    assert!(attempts_seen >= kills_wanted);
    poller.await.unwrap();
    c.verify(tenant, &migration_id, &job_id, &docs).await;

    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "the dashboard saw the run");
    for pair in seen.windows(2) {
        assert!(
            pair[1].0 >= pair[0].0 && pair[1].1 >= pair[0].1,
            "progress went backwards: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let mut worker = worker;
    assert!(
        worker.terminate(Duration::from_secs(15)).is_some(),
        "the last worker stops on SIGTERM"
    );
}

/// Starts worker processes and kills each (SIGKILL) at a random moment of
/// `job_id`'s work, `kills_wanted` times; the last worker, still running,
/// and how many times a worker was seen running the job.
async fn kill_workers(
    c: &mut Cluster,
    job_id: &str,
    kills_wanted: usize,
    rng: &mut Rng,
) -> (ferry_tests::processes::FerryProcess, usize) {
    let mut worker = c.worker().await;
    let mut kills = 0;
    let mut attempts_seen = 0;
    while kills < kills_wanted {
        // Wait until this worker process runs the job…
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !worker.output().contains("job running") && !worker.output().contains("batch running")
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the job was not picked up again after kill {kills}:\n{}",
                worker.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        attempts_seen += 1;
        // The API caches a job's view for a moment (`job_view_cache_ms`):
        // count from when it shows the job running, so the kill below lands
        // in the work and the check after the sleep reads a fresh view.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while c.get(&format!("/v1/jobs/{job_id}")).await["state"] != "running" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the job does not show as running after kill {kills}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // …then kill it at a random moment of its work.
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        let job = c.get(&format!("/v1/jobs/{job_id}")).await;
        assert_eq!(
            job["state"], "running",
            "the upload finished before {kills_wanted} kills ({kills} so far); make it bigger: {job}"
        );
        worker.child.kill().unwrap();
        worker.child.wait().unwrap();
        kills += 1;
        eprintln!(
            "kill {kills}: uploaded {} of {}",
            job["progress"]["documents_uploaded"], job["progress"]["documents_total"]
        );
        worker = c.worker().await;
    }
    (worker, attempts_seen)
}
