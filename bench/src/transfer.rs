//! Issue 4, document transfer: the real release server uploading a local
//! source export (`file://`) into a local tenant store (`file://`), with a
//! SHA-256 in every manifest row, against `cp -r` and `rclone copy` of the
//! same tree into a fresh folder, in the same run.
//!
//! - (a) a few large documents (8 × 256 MiB), embedded mode (SQLite);
//! - (b) many small documents (20,000 × 4 KiB), PostgreSQL + Redis;
//! - (c) one very large document (4 GiB): the server's peak RSS.
//!
//! Page cache: the source is read once before the runs (warm for every
//! run), each run writes to a fresh folder, and `sync` runs (untimed)
//! before each, so no run pays for an earlier run's write-back. Nobody
//! fsyncs inside the timed part.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::docs::{self, Source};
use crate::report::{self, NONE, Row, count, mib, secs};
use crate::server::{Backend, Server, Services, State};
use crate::{ferry_bin, results_path, say, tools, upload, write_results};

#[derive(Args, Debug, Clone)]
pub struct TransferArgs {
    /// Multiplies every size (a, c) and count (b): `--scale 0.05` for a quick run.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// (a) documents.
    #[arg(long, default_value_t = 8)]
    large_docs: usize,
    /// (a) size of each document, MiB.
    #[arg(long, default_value_t = 256)]
    large_mib: u64,
    /// (b) documents.
    #[arg(long, default_value_t = 20_000)]
    small_docs: usize,
    /// (b) size of each document, KiB.
    #[arg(long, default_value_t = 4)]
    small_kib: u64,
    /// (c) size of the one document, MiB.
    #[arg(long, default_value_t = 4096)]
    huge_mib: u64,
    /// Rounds of (a) and (b) (each: cp, rclone, Ferry); the best of each counts.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenarios to run (default all): a, b, c.
    #[arg(long, value_delimiter = ',', default_value = "a,b,c")]
    only: Vec<String>,
    /// Extra environment for the Ferry server, `KEY=VALUE` (repeatable), for
    /// experiments such as `FERRY_TRANSFER_CONCURRENCY=4`; listed in the table.
    #[arg(long = "ferry-env", value_name = "KEY=VALUE")]
    ferry_env: Vec<String>,
    /// Give up on one upload after this long.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    #[arg(
        long,
        env = "FERRY_BENCH_PG",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    #[arg(
        long,
        env = "FERRY_BENCH_REDIS",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    #[arg(long)]
    ferry_bin: Option<PathBuf>,
    /// Keep each Ferry server's log in this folder.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Where the table goes (default: bench/results/transfer.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parent of the generated data (default: the system temp folder).
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
}

/// The targets of issue 4.
const MAX_A_VS_CP: f64 = 1.5;
const MAX_A_VS_RCLONE: f64 = 0.3;
const MAX_B_VS_RCLONE: f64 = 0.8;
const MAX_C_PEAK: u64 = 64 << 20;
/// How often the job is polled while an upload runs.
const POLL: Duration = Duration::from_millis(50);

impl Ctx {
    /// Where destination trees wait until every timed run is over.
    fn graveyard(&self) -> PathBuf {
        self.tmp.join("graveyard")
    }
}

struct Ctx {
    t0: Instant,
    bin: PathBuf,
    tmp: PathBuf,
    services: Services,
    rclone: PathBuf,
    timeout: Duration,
    env: Vec<(String, String)>,
    log_dir: Option<PathBuf>,
}

/// One Ferry upload.
struct FerryRun {
    /// `POST …/start` → the job seen finished (polled every 50 ms).
    wall: Duration,
    /// The job's own `started_at` → `finished_at`.
    server_side: Option<Duration>,
    /// The job's own `created_at` → `started_at`: waiting in the queue.
    queued: Option<Duration>,
    /// Server `VmHWM` after the setup calls, before the start.
    peak_before: u64,
    /// Server `VmHWM` after the upload.
    peak_after: u64,
}

pub async fn run(args: TransferArgs) -> Result<()> {
    let t0 = Instant::now();
    let load_at_start = report::load_average();
    if args.scale.is_nan() || args.scale <= 0.0 {
        bail!("--scale must be positive");
    }
    let tmp = tempfile::Builder::new()
        .prefix("ferry-bench-transfer-")
        .tempdir_in(args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let ctx = Ctx {
        t0,
        bin: ferry_bin(args.ferry_bin.as_deref())?,
        tmp: tmp.path().to_path_buf(),
        services: Services {
            pg_base: args.pg_url.trim_end_matches('/').to_owned(),
            redis_url: args.redis_url.clone(),
        },
        rclone: tools::find("rclone")?,
        timeout: Duration::from_secs(args.timeout_secs),
        log_dir: args.log_dir.clone(),
        env: args
            .ferry_env
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("--ferry-env {kv}: expected KEY=VALUE"))
            })
            .collect::<Result<_>>()?,
    };
    let scaled = |n: u64| ((n as f64 * args.scale).round() as u64).max(1);
    let want = |s: &str| args.only.iter().any(|o| o == s);
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    if want("a") {
        let size = scaled(args.large_mib << 20);
        let src = generate(&ctx, "a", args.large_docs, size)?;
        let result = compare(&ctx, &src, Backend::Sqlite, args.runs, true).await;
        src.remove();
        let c = result?;
        let what = format!(
            "(a) {} × {} = {}, SQLite",
            args.large_docs,
            mib(size),
            mib(src.total_bytes())
        );
        rows.extend(compare_rows(
            &what,
            &src,
            &c,
            Some(MAX_A_VS_CP),
            MAX_A_VS_RCLONE,
        ));
        notes.push(format!(
            "(a) {} round(s), each in the order cp -r, rclone copy, Ferry; then the in-process SHA-256 once. {}",
            args.runs,
            cache_note()
        ));
    }
    if want("b") {
        let n = scaled(args.small_docs as u64) as usize;
        let src = generate(&ctx, "b", n, args.small_kib << 10)?;
        let result = compare(&ctx, &src, Backend::Postgres, args.runs, false).await;
        src.remove();
        let c = result?;
        let what = format!(
            "(b) {} × {} KiB = {}, PostgreSQL+Redis",
            count(n),
            args.small_kib,
            mib(src.total_bytes())
        );
        rows.extend(compare_rows(&what, &src, &c, None, MAX_B_VS_RCLONE));
        notes.push(format!(
            "(b) {} round(s), each in the order cp -r, rclone copy, Ferry. {}",
            args.runs,
            cache_note()
        ));
    }
    if want("c") {
        let size = scaled(args.huge_mib << 20);
        let src = generate(&ctx, "c", 1, size)?;
        let result = huge(&ctx, &src).await;
        src.remove();
        let (ferry, cp, sha) = result?;
        let what = format!("(c) 1 × {}, SQLite", mib(size));
        rows.push(Row {
            target: format!("≤ {}", mib(MAX_C_PEAK)),
            met: report::verdict(ferry.peak_after <= MAX_C_PEAK),
            ..Row::compared(
                format!("{what}: server peak RSS (VmHWM) after the upload"),
                mib(ferry.peak_after),
                format!("{} before the start", mib(ferry.peak_before)),
                ferry.peak_after as f64 / ferry.peak_before as f64,
                None,
            )
        });
        rows.push(Row::compared(
            format!("{what}: Ferry upload time (start → job finished)"),
            format!(
                "{} ({}; job queued {}, copying {})",
                secs(ferry.wall),
                throughput(size, ferry.wall),
                ferry.queued.map_or(NONE.into(), secs),
                ferry.server_side.map_or(NONE.into(), secs)
            ),
            format!("{} cp -r", secs(cp)),
            ferry.wall.as_secs_f64() / cp.as_secs_f64(),
            None,
        ));
        rows.push(Row::compared(
            format!("{what}: SHA-256 of the document in process (`sha2` crate as in Ferry's worker; hashing alone, one core, page cache)"),
            format!("{} ({})", secs(sha), throughput(size, sha)),
            format!("{} Ferry upload", secs(ferry.wall)),
            sha.as_secs_f64() / ferry.wall.as_secs_f64(),
            None,
        ));
        notes.push(format!(
            "(c) one round: cp -r, the in-process SHA-256, Ferry; the peak is the server process's `VmHWM` (fresh process; \
             includes start-up and the setup calls). {}",
            cache_note()
        ));
    }

    let load = format!(
        "load average (1/5/15 min) at start: {load_at_start}; at end: {}; run took {:.0} s",
        report::load_average(),
        t0.elapsed().as_secs_f64()
    );
    tools::bury(&ctx.graveyard());
    let md = render(&args, &ctx, &rows, &notes, &load);
    write_results(t0, &results_path(args.out.as_deref(), "transfer.md"), &md)
}

fn cache_note() -> &'static str {
    "The source was read once before the runs (warm page cache for all); each run wrote to a \
     fresh folder after an untimed `sync`."
}

fn throughput(bytes: u64, d: Duration) -> String {
    format!(
        "{:.0} MiB/s",
        bytes as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
    )
}

fn generate(ctx: &Ctx, name: &str, n: usize, size: u64) -> Result<Source> {
    let start = Instant::now();
    let src = docs::generate(&ctx.tmp, &format!("source-{name}"), n, size)?;
    say(
        ctx.t0,
        &format!(
            "({name}) generated {} × {} in {}",
            count(n),
            mib(size),
            secs(start.elapsed())
        ),
    );
    Ok(src)
}

/// `cp -r` of the export into a fresh folder; its time.
fn run_cp(ctx: &Ctx, src: &Source) -> Result<Duration> {
    let dst = ctx.tmp.join("dest-cp");
    let _ = std::fs::remove_dir_all(&dst);
    tools::sync()?;
    let took = tools::timed(
        Command::new("cp").arg("-r").arg(&src.root).arg(&dst),
        "cp -r",
    )?;
    check_copy(&dst, src)?;
    tools::discard(&dst, src.docs.len(), &ctx.graveyard())?;
    say(ctx.t0, &format!("cp -r: {}", secs(took)));
    Ok(took)
}

/// `rclone copy` (its defaults: 4 transfers, 8 checkers, hash check
/// after each copy) into a fresh folder; its time.
fn run_rclone(ctx: &Ctx, src: &Source) -> Result<Duration> {
    let dst = ctx.tmp.join("dest-rclone");
    let _ = std::fs::remove_dir_all(&dst);
    tools::sync()?;
    let took = tools::timed(
        Command::new(&ctx.rclone)
            .arg("copy")
            .arg(&src.root)
            .arg(&dst)
            .env("RCLONE_CONFIG", ctx.tmp.join("no-rclone.conf")),
        "rclone copy",
    )?;
    check_copy(&dst, src)?;
    tools::discard(&dst, src.docs.len(), &ctx.graveyard())?;
    say(ctx.t0, &format!("rclone copy: {}", secs(took)));
    Ok(took)
}

/// The copy holds every byte of the export (documents + dump).
fn check_copy(dst: &Path, src: &Source) -> Result<()> {
    let (bytes, files) = tools::tree_bytes(dst)?;
    let want = src.total_bytes() + src.dump_bytes;
    if bytes != want || files != src.docs.len() + 1 {
        bail!(
            "{} holds {files} files / {bytes} B, expected {} / {want}",
            dst.display(),
            src.docs.len() + 1
        );
    }
    Ok(())
}

/// SHA-256 of every document with the `sha2` crate (as Ferry's worker
/// hashes), one after the other on one core, read from the page cache in
/// 1 MiB blocks: the floor hashing alone puts under a verified copy.
fn hash_in_process(ctx: &Ctx, src: &Source) -> Result<Duration> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    for d in &src.docs {
        let mut f = std::fs::File::open(src.documents_dir().join(&d.rel))?;
        let mut h = Sha256::new();
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if format!("{:x}", h.finalize()) != d.sha256 {
            bail!("{} changed on disk", d.rel);
        }
    }
    let took = start.elapsed();
    say(ctx.t0, &format!("SHA-256 in process: {}", secs(took)));
    Ok(took)
}

/// Every round of one scenario.
struct Compared {
    /// The fastest Ferry run.
    ferry: FerryRun,
    /// Every Ferry run: wall time, queue wait, the job's own run time.
    ferry_all: Vec<(Duration, Option<Duration>, Option<Duration>)>,
    cp: Vec<Duration>,
    rclone: Vec<Duration>,
    sha: Option<Duration>,
}

fn best(all: &[Duration]) -> Duration {
    all.iter().copied().min().unwrap_or_default()
}

fn list(all: &[Duration]) -> String {
    all.iter().map(|d| secs(*d)).collect::<Vec<_>>().join(", ")
}

/// `runs` rounds of cp, rclone, Ferry (then the hashing floor once).
async fn compare(
    ctx: &Ctx,
    src: &Source,
    backend: Backend,
    runs: usize,
    hash: bool,
) -> Result<Compared> {
    tools::warm(&src.root)?;
    let (mut cp, mut rclone, mut ferry_all) = (Vec::new(), Vec::new(), Vec::new());
    let mut fastest: Option<FerryRun> = None;
    for _ in 0..runs.max(1) {
        cp.push(run_cp(ctx, src)?);
        rclone.push(run_rclone(ctx, src)?);
        let f = run_ferry(ctx, src, backend).await?;
        ferry_all.push((f.wall, f.queued, f.server_side));
        if fastest.as_ref().is_none_or(|b| f.wall < b.wall) {
            fastest = Some(f);
        }
    }
    let sha = if hash {
        Some(hash_in_process(ctx, src)?)
    } else {
        None
    };
    Ok(Compared {
        ferry: fastest.context("no run")?,
        ferry_all,
        cp,
        rclone,
        sha,
    })
}

async fn huge(ctx: &Ctx, src: &Source) -> Result<(FerryRun, Duration, Duration)> {
    tools::warm(&src.root)?;
    let cp = run_cp(ctx, src)?;
    let sha = hash_in_process(ctx, src)?;
    let ferry = run_ferry(ctx, src, Backend::Sqlite).await?;
    Ok((ferry, cp, sha))
}

async fn run_ferry(ctx: &Ctx, src: &Source, backend: Backend) -> Result<FerryRun> {
    let state = State::fresh(backend, &ctx.tmp, &ctx.services).await?;
    let run = run_ferry_in(ctx, src, backend, &state).await;
    let removed = state.remove().await;
    let run = run?;
    removed.context("removing the run's database / namespace")?;
    Ok(run)
}

async fn run_ferry_in(
    ctx: &Ctx,
    src: &Source,
    backend: Backend,
    state: &State,
) -> Result<FerryRun> {
    let key = format!("fry_bench_{}", uuid::Uuid::new_v4().simple());
    let log = ctx
        .tmp
        .join(format!("ferry-transfer-{backend:?}.log").to_lowercase());
    let env: Vec<(&str, String)> = ctx
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let server = Server::start_with(&ctx.bin, state, &env, &key, log).await?;
    let with_log = |server: &Server| format!("server log (last lines):\n{}", server.log_tail(30));
    let id = upload::prepare(&server, src)
        .await
        .with_context(|| with_log(&server))?;
    let peak_before = server.peak_rss()?;
    tools::sync()?;
    let start = Instant::now();
    let sent = chrono::Utc::now();
    let job_id = upload::start(&server, &id).await?;
    let (job, _) = upload::wait(&server, &job_id, POLL, ctx.timeout, || {})
        .await
        .with_context(|| with_log(&server))?;
    let polled = start.elapsed();
    // The API caches a job's view for `job_view_cache_ms` (250 ms), so a
    // poller learns of the end up to that late; the time that counts is the
    // start request → the job's own `finished_at` (same machine, same clock).
    let wall = upload::finished_since(&job, sent).unwrap_or(polled);
    if let Some(dir) = &ctx.log_dir {
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "ferry-{}-{}.log",
            backend.label(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::copy(server.log_path(), dir.join(name))?;
    }
    let peak_after = server.peak_rss()?;
    upload::check_succeeded(&job, src).with_context(|| with_log(&server))?;
    let stored = state.data_dir.join("tenants").join(upload::TENANT);
    let (bytes, files) = tools::tree_bytes(&stored)?;
    if bytes != src.total_bytes() + src.dump_bytes || files != src.docs.len() + 1 {
        bail!(
            "the tenant store holds {files} files / {bytes} B, expected {} / {}",
            src.docs.len() + 1,
            src.total_bytes() + src.dump_bytes
        );
    }
    server.stop(Duration::from_secs(30))?;
    tools::discard(&stored, src.docs.len(), &ctx.graveyard())?;
    say(
        ctx.t0,
        &format!(
            "Ferry ({}): {} (queued {}, ran {}), peak RSS {} → {}",
            backend.label(),
            secs(wall),
            upload::between(&job, "created_at", "started_at").map_or("?".into(), secs),
            upload::server_side(&job).map_or("?".into(), secs),
            mib(peak_before),
            mib(peak_after)
        ),
    );
    Ok(FerryRun {
        wall,
        server_side: upload::server_side(&job),
        queued: upload::between(&job, "created_at", "started_at"),
        peak_before,
        peak_after,
    })
}

fn compare_rows(
    what: &str,
    src: &Source,
    c: &Compared,
    max_vs_cp: Option<f64>,
    max_vs_rclone: f64,
) -> Vec<Row> {
    let (ferry, cp, rclone) = (&c.ferry, best(&c.cp), best(&c.rclone));
    let n = c.cp.len();
    let what = &if n > 1 {
        format!("{what} (best of {n})")
    } else {
        what.to_owned()
    };
    let bytes = src.total_bytes();
    let value = format!("{} ({})", secs(ferry.wall), throughput(bytes, ferry.wall));
    let ratio_cp = ferry.wall.as_secs_f64() / cp.as_secs_f64();
    let ratio_rclone = ferry.wall.as_secs_f64() / rclone.as_secs_f64();
    let mut rows = vec![
        Row::compared(
            format!("{what}: Ferry upload (start → job finished) vs `cp -r`"),
            value.clone(),
            format!("{} ({})", secs(cp), throughput(bytes, cp)),
            ratio_cp,
            max_vs_cp.map(|m| (m, format!("≤ {m}× cp"))),
        ),
        Row::compared(
            format!("{what}: Ferry upload (start → job finished) vs `rclone copy`"),
            value,
            format!("{} ({})", secs(rclone), throughput(bytes, rclone)),
            ratio_rclone,
            Some((max_vs_rclone, format!("≤ {max_vs_rclone}× rclone"))),
        ),
        Row::info(
            format!(
                "{what}: the fastest run's job, `created_at` → `started_at` (queue) and `started_at` → `finished_at` (copy)"
            ),
            format!(
                "{} queued, {} copying",
                ferry.queued.map_or(NONE.into(), secs),
                ferry.server_side.map_or(NONE.into(), secs)
            ),
        ),
        Row::info(
            format!("{what}: server peak RSS (VmHWM) before → after the upload"),
            format!("{} → {}", mib(ferry.peak_before), mib(ferry.peak_after)),
        ),
        Row::info(
            format!(
                "{what}: every round, cp -r / rclone copy / Ferry (the job's `created_at` → `started_at`, `started_at` → `finished_at`)"
            ),
            format!(
                "{} / {} / {}",
                list(&c.cp),
                list(&c.rclone),
                c.ferry_all
                    .iter()
                    .map(|(w, q, r)| format!(
                        "{} (queued {}, ran {})",
                        secs(*w),
                        q.map_or("?".into(), secs),
                        r.map_or("?".into(), secs)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];
    if let Some(sha) = c.sha {
        rows.push(Row::compared(
            format!("{what}: SHA-256 of the documents in process (`sha2` crate as in Ferry's worker), one after the other (hashing alone, one core, page cache)"),
            format!("{} ({})", secs(sha), throughput(bytes, sha)),
            format!("{} Ferry upload", secs(ferry.wall)),
            sha.as_secs_f64() / ferry.wall.as_secs_f64(),
            None,
        ));
    }
    rows
}

fn render(args: &TransferArgs, ctx: &Ctx, rows: &[Row], notes: &[String], load: &str) -> String {
    let mut md = String::from("# Benchmark: document transfer (issue 4)\n\n");
    md.push_str(&format!(
        "Produced by `make bench` (`ferry-bench transfer --scale {} --runs {} --only {}{}`). Every figure below \
         was measured in this run; nothing is hard-coded. A missed target reads **no**. \
         A ratio is Ferry's time (or memory) divided by the baseline's.\n\n",
        args.scale,
        args.runs,
        args.only.join(","),
        args.ferry_env
            .iter()
            .map(|kv| format!(" --ferry-env {kv}"))
            .collect::<String>()
    ));
    md.push_str(&report::table(rows));
    md.push_str("\n## How it is measured\n\n");
    md.push_str(
        "- Source: a generated export (`db.dump` + `documents/`, pseudo-random incompressible \
         bytes), on the same disk as every destination. The manifest (`PUT …/manifest`, CSV) gives \
         every document its size and SHA-256, so the worker verifies each one.\n\
         - Ferry: a fresh `ferry all-in-one` release process per scenario (fresh SQLite folder, or \
         a new PostgreSQL database and Redis namespace), default settings \
         (`FERRY_TRANSFER_CONCURRENCY` 8, `FERRY_WORKER_CONCURRENCY` 4, batches of 10,000 \
         documents), tenant store `file://<data>/tenants/`. The migration is opened on \
         `file://` source URLs, made `ready` (one-user roster, a plan, commit) and given the \
         manifest before the clock starts; the time runs from `POST …/start` until \
         `GET /v1/jobs/{id}` (polled every 50 ms) shows the job finished. The job must have \
         uploaded every document (none failed or missing) and the tenant store must hold every \
         byte.\n",
    );
    md.push_str(&format!(
        "- Baselines: `cp -r <export> <fresh dir>` and `rclone copy <export> <fresh dir>` \
         ({}; defaults: 4 transfers, 8 checkers, and for local → local a hash check after each \
         file), each checked for every byte afterwards. `cp` is {}: on this file system it copies \
         with `copy_file_range`, i.e. inside the kernel from page cache to page cache, no hashing.\n",
        tools::version(&ctx.rclone),
        tools::version(Path::new("cp"))
    ));
    for n in notes {
        md.push_str(&format!("- {n}\n"));
    }
    md.push_str("- Nothing fsyncs in the timed part (cp, rclone and object_store's local store all leave write-back to the kernel); \
                 with 24 GiB of RAM every run's writes fit in the page cache, so these are copy-through-the-cache times.\n\
                 - Client, server, PostgreSQL and the baselines share the machine (2 cores, shared with other work).\n");
    md.push_str("\n## Machine\n\n");
    for fact in report::machine_facts() {
        md.push_str(&format!("- {fact}\n"));
    }
    md.push_str(&format!("- {load}\n"));
    md
}
