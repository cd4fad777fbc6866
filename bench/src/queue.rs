//! Issue 5, 7b: no-op jobs through apalis-redis, built exactly as Ferry
//! builds its queue (`ferry_queue::Queue::connect`: connection manager,
//! `apalis_redis::Config`, the message type) and its worker
//! (`WorkerBuilder` with ferry-worker's own poll strategy, `concurrency`, a
//! `Monitor`),
//! against a plain Redis list (`LPUSH` / `BRPOP`, same payload, same number
//! of consumers) in the same run. Each job carries its enqueue time; the
//! no-op handler records when it started.
//!
//! Two phases per mechanism: a burst (every job enqueued as fast as the
//! producers can, while the worker runs: jobs/s) and a paced run (jobs
//! enqueued at a fixed rate: enqueue → start latency without a backlog).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use apalis::layers::WorkerBuilderExt;
use apalis_core::backend::ext::BackendExt;
use apalis_core::error::BoxDynError;
use apalis_core::monitor::Monitor;
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use clap::Args;
use ferry_queue::{JobMessage, Queue, QueueTuning};
use ferry_worker::poll::ArmedInterval;

use crate::report::{self, NONE, Row, count};
use crate::{results_path, say, write_results};

#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    /// Jobs per phase.
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Concurrent producers (each pushes one job at a time, as an API
    /// process does).
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Jobs run at once (Ferry's `FERRY_WORKER_CONCURRENCY` default).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Idle poll interval, ms (Ferry's `FERRY_QUEUE_POLL_MS` default).
    #[arg(long, default_value_t = 25)]
    poll_ms: u64,
    /// Enqueue rate of the paced phase, jobs/s.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Idle phase: this many single jobs, each after `--idle-secs` without
    /// any traffic (the first job after a quiet spell).
    #[arg(long, default_value_t = 4)]
    idle_rounds: usize,
    #[arg(long, default_value_t = 12)]
    idle_secs: u64,
    /// Jobs per phase and paced rate for apalis-sqlite, the embedded
    /// mode's queue, whose capacity (≈ 250 jobs/s here) is far below
    /// Redis's: the paced run must stay under it to measure latency rather
    /// than a growing backlog.
    #[arg(long, default_value_t = 2000)]
    sqlite_jobs: usize,
    #[arg(long, default_value_t = 50)]
    sqlite_rate: u64,
    /// Give up on a phase after this long.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    #[arg(
        long,
        env = "FERRY_BENCH_REDIS",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Where the table goes (default: bench/results/queue.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The targets of issue 5 (7b).
const MIN_JOBS_PER_SEC: f64 = 2000.0;
const MAX_P99: Duration = Duration::from_millis(200);

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Start times of one phase's jobs, by sequence number (0 = not yet).
struct Phase {
    started: Vec<AtomicU64>,
    done: AtomicUsize,
    all_done: tokio::sync::Notify,
}

/// What the handlers write: three phases (0 burst, 1 paced, 2 idle).
struct Recorder {
    phases: [Phase; 3],
    duplicates: AtomicUsize,
}

impl Recorder {
    fn new(n: usize) -> Arc<Recorder> {
        let phase = || Phase {
            started: (0..n).map(|_| AtomicU64::new(0)).collect(),
            done: AtomicUsize::new(0),
            all_done: tokio::sync::Notify::new(),
        };
        Arc::new(Recorder {
            phases: [phase(), phase(), phase()],
            duplicates: AtomicUsize::new(0),
        })
    }

    /// Records the start of the job `id` (`phase:seq:enqueued_micros`).
    fn start(&self, id: &str) -> Result<()> {
        let now = now_micros();
        let mut parts = id.split(':');
        let phase: usize = parts.next().context("phase")?.parse()?;
        let seq: usize = parts.next().context("seq")?.parse()?;
        let p = self.phases.get(phase).context("phase")?;
        let slot = p.started.get(seq).context("seq")?;
        if slot
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            if p.done.fetch_add(1, Ordering::SeqCst) + 1 == p.started.len() {
                p.all_done.notify_one();
            }
        } else {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// The no-op job: record the start, succeed.
async fn noop(msg: JobMessage, rec: Data<Arc<Recorder>>) -> Result<(), BoxDynError> {
    rec.start(&msg.job_id).map_err(|e| e.to_string())?;
    Ok(())
}

/// How jobs are enqueued for one mechanism.
#[derive(Clone)]
enum Sink {
    Apalis(Queue),
    List(redis::aio::MultiplexedConnection, String),
}

impl Sink {
    async fn push(&mut self, id: String) -> Result<()> {
        match self {
            Sink::Apalis(q) => q
                .push(JobMessage {
                    job_id: id,
                    push: 0,
                })
                .await
                .map_err(|e| anyhow!("{e}")),
            Sink::List(conn, key) => {
                let payload = serde_json::to_string(&JobMessage {
                    job_id: id,
                    push: 0,
                })?;
                let _: () = redis::AsyncCommands::lpush(conn, key.as_str(), payload).await?;
                Ok(())
            }
        }
    }
}

/// One phase's figures.
struct PhaseResult {
    /// First enqueue → last job started.
    total: Duration,
    /// First → last enqueue.
    enqueue: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl PhaseResult {
    fn jobs_per_sec(&self, n: usize) -> f64 {
        n as f64 / self.total.as_secs_f64().max(1e-9)
    }
}

/// Enqueues the phase's jobs from `producers` tasks (at `rate` jobs/s in
/// all, or as fast as they can) and waits until every job started.
async fn phase(
    args: &QueueArgs,
    sink: &Sink,
    rec: &Arc<Recorder>,
    index: usize,
    rate: Option<u64>,
) -> Result<PhaseResult> {
    let n = args.jobs;
    let producers = args.producers.max(1);
    let enqueued: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let mut sink = sink.clone();
        let enqueued = enqueued.clone();
        tasks.push(tokio::spawn(async move {
            for seq in (p..n).step_by(producers) {
                if let Some(rate) = rate {
                    let at = begin + Duration::from_secs_f64(seq as f64 / rate as f64);
                    tokio::time::sleep_until(at.into()).await;
                }
                let t = now_micros();
                enqueued[seq].store(t, Ordering::SeqCst);
                sink.push(format!("{index}:{seq}:{t}")).await?;
            }
            anyhow::Ok(Instant::now())
        }));
    }
    let mut last_push = begin;
    for t in tasks {
        last_push = last_push.max(t.await??);
    }
    let p = &rec.phases[index];
    let wait = p.all_done.notified();
    if p.done.load(Ordering::SeqCst) < n {
        tokio::time::timeout(Duration::from_secs(args.timeout_secs), wait)
            .await
            .map_err(|_| {
                anyhow!(
                    "only {} of {n} jobs started within {} s",
                    p.done.load(Ordering::SeqCst),
                    args.timeout_secs
                )
            })?;
    }
    let first = enqueued
        .iter()
        .map(|e| e.load(Ordering::SeqCst))
        .min()
        .unwrap_or(0);
    let mut lat: Vec<u64> = Vec::with_capacity(n);
    let mut last = 0;
    for (e, s) in enqueued.iter().zip(&p.started) {
        let s = s.load(Ordering::SeqCst);
        last = last.max(s);
        lat.push(s.saturating_sub(e.load(Ordering::SeqCst)));
    }
    lat.sort_unstable();
    let pct = |q: f64| Duration::from_micros(lat[((n as f64 * q).ceil() as usize).clamp(1, n) - 1]);
    Ok(PhaseResult {
        total: Duration::from_micros(last.saturating_sub(first)),
        enqueue: last_push - begin,
        p50: pct(0.50),
        p99: pct(0.99),
        max: pct(1.0),
    })
}

/// The idle phase: single jobs, each after a quiet spell; the latency of
/// each (start − enqueue).
async fn idle_phase(args: &QueueArgs, sink: &Sink, rec: &Arc<Recorder>) -> Result<Vec<Duration>> {
    let mut sink = sink.clone();
    let p = &rec.phases[2];
    let mut lat = Vec::new();
    for seq in 0..args.idle_rounds {
        tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
        let t = now_micros();
        sink.push(format!("2:{seq}:{t}")).await?;
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        loop {
            let s = p.started[seq].load(Ordering::SeqCst);
            if s != 0 {
                lat.push(Duration::from_micros(s.saturating_sub(t)));
                break;
            }
            if Instant::now() > deadline {
                bail!("idle job {seq} never started");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    Ok(lat)
}

/// Every phase through one of Ferry's queues (`ferry_queue::Queue`) and a
/// worker set up as `ferry-worker` sets it up, polling every `poll`.
async fn apalis_run(args: &QueueArgs, queue: Queue, poll: Duration) -> Result<Run> {
    let rec = Recorder::new(args.jobs.max(args.idle_rounds));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let name = format!(
        "ferry-bench-worker-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let (concurrency, data) = (args.concurrency, rec.clone());
    let monitor = Monitor::new().shutdown_timeout(Duration::from_secs(5));
    macro_rules! register {
        ($storage:expr) => {{
            let storage = $storage;
            monitor.register(move |_restarts| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(ArmedInterval::new(poll)))
                    .concurrency(concurrency)
                    .data(data.clone())
                    .build(noop)
            })
        }};
    }
    let monitor = match queue.clone() {
        Queue::Redis(s) => register!(s),
        Queue::Sqlite(s) => register!(s),
    };
    let worker = tokio::spawn(monitor.run_with_signal(async move {
        let _ = stop_rx.await;
        Ok(())
    }));
    // Let the worker register and reach its idle poll.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sink = Sink::Apalis(queue);
    let burst = phase(args, &sink, &rec, 0, None).await;
    let paced = match &burst {
        Ok(_) => phase(args, &sink, &rec, 1, Some(args.rate)).await,
        Err(_) => Err(anyhow!("skipped")),
    };
    let idle = match &paced {
        Ok(_) => idle_phase(args, &sink, &rec).await,
        Err(_) => Err(anyhow!("skipped")),
    };
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    Ok((burst?, paced?, rec.duplicates.load(Ordering::SeqCst), idle?))
}

/// Both phases through a plain Redis list: `LPUSH`, and `concurrency`
/// consumers each looping on `BRPOP` with its own connection.
async fn list_run(args: &QueueArgs, ns: &str) -> Result<Run> {
    let client = redis::Client::open(args.redis_url.as_str())?;
    let key = format!("{ns}:list");
    let rec = Recorder::new(args.jobs);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut consumers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (key, rec, stop) = (key.clone(), rec.clone(), stop.clone());
        consumers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let got: Option<(String, String)> =
                    redis::AsyncCommands::brpop(&mut conn, key.as_str(), 0.2).await?;
                if let Some((_, payload)) = got {
                    let msg: JobMessage = serde_json::from_str(&payload)?;
                    rec.start(&msg.job_id)?;
                }
            }
            anyhow::Ok(())
        }));
    }
    let sink = Sink::List(client.get_multiplexed_async_connection().await?, key);
    let burst = phase(args, &sink, &rec, 0, None).await;
    let paced = match &burst {
        Ok(_) => phase(args, &sink, &rec, 1, Some(args.rate)).await,
        Err(_) => Err(anyhow!("skipped")),
    };
    stop.store(true, Ordering::SeqCst);
    for c in consumers {
        c.await??;
    }
    Ok((
        burst?,
        paced?,
        rec.duplicates.load(Ordering::SeqCst),
        Vec::new(),
    ))
}

/// Deletes every key of the namespace.
async fn remove_namespace(url: &str, ns: &str) -> Result<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut keys = Vec::new();
    {
        let mut iter: redis::AsyncIter<String> =
            redis::AsyncCommands::scan_match(&mut conn, format!("{ns}*")).await?;
        while let Some(k) = iter.next_item().await {
            keys.push(k?);
        }
    }
    for chunk in keys.chunks(500) {
        let _: () = redis::AsyncCommands::del(&mut conn, chunk).await?;
    }
    Ok(())
}

pub async fn run(args: QueueArgs) -> Result<()> {
    let t0 = Instant::now();
    let load_at_start = report::load_average();
    if args.jobs == 0 || args.rate == 0 {
        bail!("--jobs and --rate must be positive");
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ns_apalis = format!("ferry-bench-queue-{tag}");
    let ns_list = format!("ferry-bench-list-{tag}");
    let list = list_run(&args, &ns_list).await;
    let _ = remove_namespace(&args.redis_url, &ns_list).await;
    let list = list?;
    say(t0, &summary("Redis list", &args, &list));
    let redis = Queue::connect(&args.redis_url, &ns_apalis, QueueTuning::default())
        .await
        .map_err(|e| anyhow!("connecting to Redis at {}: {e}", args.redis_url))?;
    let apalis = apalis_run(&args, redis, Duration::from_millis(args.poll_ms)).await;
    let _ = remove_namespace(&args.redis_url, &ns_apalis).await;
    let apalis = apalis?;
    say(t0, &summary("apalis-redis", &args, &apalis));
    // The embedded mode's queue: its own SQLite file, as `ferry all-in-one`
    // makes it, polled no faster than ferry-worker polls it.
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let sqlite = Queue::connect(&url, "ferry", QueueTuning::default())
        .await
        .map_err(|e| anyhow!("opening {url}: {e}"))?;
    let sqlite_poll = Duration::from_millis(args.poll_ms);
    // One producer: in Ferry the outbox's dispatcher is the only process
    // that pushes, one message at a time (with four, apalis-sqlite's push
    // transactions answered "database is locked"). Fewer jobs, paced below
    // its capacity (see `sqlite_rate`).
    let one = QueueArgs {
        producers: 1,
        jobs: args.sqlite_jobs,
        rate: args.sqlite_rate,
        ..args.clone()
    };
    let sqlite = apalis_run(&one, sqlite, sqlite_poll).await?;
    say(t0, &summary("apalis-sqlite", &one, &sqlite));

    let mut rows = table_rows(
        "apalis-redis",
        &args,
        &apalis,
        (&list, args.jobs),
        Some(MIN_JOBS_PER_SEC),
    );
    rows.extend(table_rows(
        "apalis-sqlite (1 producer)",
        &one,
        &sqlite,
        (&list, args.jobs),
        None,
    ));
    let load = format!(
        "load average (1/5/15 min) at start: {load_at_start}; at end: {}; run took {:.0} s",
        report::load_average(),
        t0.elapsed().as_secs_f64()
    );
    let md = render(&args, &rows, &load);
    write_results(t0, &results_path(args.out.as_deref(), "queue.md"), &md)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn summary(what: &str, args: &QueueArgs, r: &Run) -> String {
    format!(
        "{what}: burst {:.0} jobs/s (enqueue {:.2} s), p50 {} p99 {}; paced at {}/s: p50 {} p99 {} max {}; duplicates {}",
        r.0.jobs_per_sec(args.jobs),
        r.0.enqueue.as_secs_f64(),
        ms(r.0.p50),
        ms(r.0.p99),
        args.rate,
        ms(r.1.p50),
        ms(r.1.p99),
        ms(r.1.max),
        r.2
    )
}

/// Burst, paced, jobs started twice, idle-phase latencies.
type Run = (PhaseResult, PhaseResult, usize, Vec<Duration>);

/// `min_jps`: the throughput target, where there is one (issue 5's is for
/// the production queue).
fn table_rows(
    what: &str,
    args: &QueueArgs,
    apalis: &Run,
    list: (&Run, usize),
    min_jps: Option<f64>,
) -> Vec<Row> {
    let (list, list_n) = list;
    let n = count(args.jobs);
    let (ab, ap, dup, idle) = apalis;
    let (lb, lp, _, _) = list;
    let idle_max = idle.iter().max().copied().unwrap_or_default();
    let idle_all: Vec<String> = idle.iter().map(|d| ms(*d)).collect();
    let jps = ab.jobs_per_sec(args.jobs);
    let lat = |r: &PhaseResult| format!("p50 {}, p99 {}, max {}", ms(r.p50), ms(r.p99), ms(r.max));
    vec![
        Row {
            target: min_jps.map_or(NONE.into(), |m| format!("≥ {m:.0} jobs/s")),
            met: min_jps.map_or(NONE.into(), |m| report::verdict(jps >= m)),
            ..Row::compared(
                format!(
                    "{what}, {n} no-op jobs enqueued at once (burst): jobs/s, first enqueue → last start"
                ),
                format!("{jps:.0} jobs/s ({:.2} s)", ab.total.as_secs_f64()),
                format!("{:.0} jobs/s Redis list", lb.jobs_per_sec(list_n)),
                jps / lb.jobs_per_sec(list_n),
                None,
            )
        },
        Row::compared(
            format!("{what}, burst: enqueue → start latency (includes the backlog)"),
            lat(ab),
            format!("Redis list {}", lat(lb)),
            ab.p99.as_secs_f64() / lb.p99.as_secs_f64().max(1e-9),
            None,
        ),
        Row {
            target: format!("p99 ≤ {}", ms(MAX_P99)),
            met: report::verdict(ap.p99 <= MAX_P99),
            ..Row::compared(
                format!(
                    "{what}, {n} jobs enqueued at {} jobs/s (paced): enqueue → start latency",
                    args.rate
                ),
                lat(ap),
                format!("Redis list {}", lat(lp)),
                ap.p99.as_secs_f64() / lp.p99.as_secs_f64().max(1e-9),
                None,
            )
        },
        Row::info(
            format!("{what}, paced: jobs/s, first enqueue → last start"),
            format!(
                "{:.0} jobs/s (Redis list {:.0})",
                ap.jobs_per_sec(args.jobs),
                lp.jobs_per_sec(list_n)
            ),
        ),
        Row::info(
            format!("{what}, burst: time to enqueue (producers alone)"),
            format!(
                "{:.2} s = {:.0} pushes/s (Redis list {:.2} s = {:.0} pushes/s)",
                ab.enqueue.as_secs_f64(),
                args.jobs as f64 / ab.enqueue.as_secs_f64(),
                lb.enqueue.as_secs_f64(),
                list_n as f64 / lb.enqueue.as_secs_f64()
            ),
        ),
        Row {
            ratio: NONE.into(),
            ..Row::info(format!("{what}: jobs started more than once"), count(*dup))
        },
        Row {
            target: format!("max ≤ {}", ms(MAX_P99)),
            met: report::verdict(!idle.is_empty() && idle_max <= MAX_P99),
            ..Row::info(
                format!(
                    "{what}, idle: {} single jobs, each after {} s without traffic: enqueue → start",
                    args.idle_rounds, args.idle_secs
                ),
                format!("max {} (each: {})", ms(idle_max), idle_all.join(", ")),
            )
        },
    ]
}

fn render(args: &QueueArgs, rows: &[Row], load: &str) -> String {
    let mut md = String::from(
        "# Benchmark: job queue (issue 5, 7b; apalis-sqlite and idle starts: issue 18)\n\n",
    );
    md.push_str(&format!(
        "Produced by `make bench` (`ferry-bench queue --jobs {} --producers {} --concurrency {} --poll-ms {} --rate {} --idle-rounds {} --idle-secs {} --sqlite-jobs {} --sqlite-rate {}`). \
         Every figure below was measured in this run; nothing is hard-coded. A missed target reads **no**. \
         A ratio is the apalis queue's figure divided by the plain Redis list's.\n\n",
        args.jobs, args.producers, args.concurrency, args.poll_ms, args.rate,
        args.idle_rounds, args.idle_secs, args.sqlite_jobs, args.sqlite_rate
    ));
    md.push_str(&report::table(rows));
    md.push_str(&format!(
        "\n## How it is measured\n\n\
         - apalis-redis: the queue from `ferry_queue::Queue::connect` (Ferry's own code: connection manager \
         with 3 s timeouts, `apalis_redis::Config` with Ferry's queue name, heartbeat 5 s × 3, other settings \
         apalis's defaults, e.g. batches of 10), a unique namespace, and one worker built as `ferry-worker` \
         builds it: `WorkerBuilder` + `poll_with_strategy(ArmedInterval::new({} ms))` (ferry-worker's \
         `poll.rs`) + `concurrency({})` under a `Monitor`. The \
         handler is a no-op that records its start time. The message is Ferry's `JobMessage`; its `job_id` \
         carries the phase, the sequence number and the enqueue time (µs since the epoch, taken just before \
         the push).\n\
         - Baseline: a plain Redis list in the same Redis: `LPUSH` of the same JSON payload, {} consumers each \
         looping on `BRPOP` with its own connection; no acknowledgement, no heartbeat, no retry.\n\
         - Burst: {} producer tasks push one job at a time each (as API processes do), as fast as they can, \
         while the worker runs; jobs/s = jobs / (first enqueue → last start). Paced: the same producers \
         enqueue at {} jobs/s in all; latency = start − enqueue per job. The p99 target is judged on the paced \
         run (no backlog): in the burst, latency is dominated by the queue of not-yet-started jobs.\n\
         - apalis-sqlite: the embedded mode's queue, built by the same `Queue::connect` on a fresh SQLite \
         file, and the same worker, polling every {} ms (until issue 18 it was held to 100 ms or more: \
         apalis-core's interval lost a tick now and then and the worker slept to its next heartbeat; \
         `ArmedInterval` fixed that). One \
         producer (Ferry's outbox dispatcher is the only one that pushes), {} jobs per phase, the paced run \
         at {} jobs/s: its capacity is some 250 jobs/s on this machine (the burst row), and an embedded \
         Ferry starts a handful of jobs (starts and batches) a minute.\n\
         - Idle: after the paced run, {} single jobs, each pushed after {} s without any traffic, as the first \
         start on a quiet `all-in-one` is; the target is on the slowest.\n\
         - The bench process (producers and worker), Redis and other work share the machine's 2 cores.\n",
        args.poll_ms, args.concurrency, args.concurrency, args.producers, args.rate,
        args.poll_ms,
        count(args.sqlite_jobs), args.sqlite_rate,
        args.idle_rounds, args.idle_secs
    ));
    md.push_str("\n## Machine\n\n");
    for fact in report::machine_facts() {
        md.push_str(&format!("- {fact}\n"));
    }
    md.push_str(&format!("- {load}\n"));
    md
}
