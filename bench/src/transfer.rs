//! Issue 14, document transfer: the real release server uploading a local
//! source export (`file://`) into a tenant store, with a SHA-256 in every
//! manifest row, against `cp -r` and `rclone copy` of the same tree in the
//! same run.
//!
//! - (a) a few large documents (8 × 256 MiB), embedded mode (SQLite), also
//!   against the machine's limit L = max(`cp -r`, SHA-256 of all bytes ÷
//!   cores);
//! - (b) many small documents (20,000 × 4 KiB), PostgreSQL + Redis;
//! - (b2) ten times as many: the time per document must not grow;
//! - (c) one very large document (4 GiB): the server's peak RSS;
//! - (d) the (a) and (b) trees into an S3-protocol server (`s3s-fs`), Ferry
//!   against `rclone copy` to the same server.
//!
//! Where: the large documents on the disk (the system temp folder), the
//! many small ones on a RAM file system (`/dev/shm`) unless `--tmp-dir` /
//! `--small-tmp-dir` say otherwise. This machine's disk is ext4 without a
//! journal, where creating a file scans past every inode freed in the last
//! minutes (`recently_deleted` in the profile): `cp -r` of the (b) tree took
//! 0.2 s after a quiet while and 3.5–4 s after an earlier run's trees were
//! deleted, so which tool ran after which deletion decided the ratios. On a
//! disk, trees of many files are kept until every timed run is over
//! (`tools::discard`).
//!
//! Page cache: the source is read once before the runs (warm for every
//! run), each run writes to a fresh folder, and `sync` runs (untimed)
//! before each, so no run pays for an earlier run's write-back. Nobody
//! fsyncs inside the timed part. Right before each timed run (every
//! contender alike), twice the bytes it will write are touched and freed
//! (`tools::warm_memory`): this VM returns freed memory to its host after a
//! few seconds, and a copy into such memory took 4–5 × the system time, so
//! the contender with the longest setup (Ferry's server start) was the one
//! measured cold.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

mod runs;

use crate::docs::Source;
use crate::report::{self, NONE, Row, count, mib, secs};
use crate::s3::S3Server;
use crate::server::{Backend, Services};
use crate::{ferry_bin, results_path, say, tools, write_results};
use runs::{Dest, generate, hash_in_process, huge, run_cp, run_ferry, run_rclone, run_rclone_s3};

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
    /// (b2) documents (of `--small-kib` each).
    #[arg(long, default_value_t = 200_000)]
    many_docs: usize,
    /// Rounds of every compared scenario (each: cp, rclone, Ferry); the best
    /// of each counts, and every round is listed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenarios to run (default all): a, b, b2, c, d.
    #[arg(long, value_delimiter = ',', default_value = "a,b,b2,c,d")]
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
    /// Parent of the large-document scenarios' data and copies (a, c, and
    /// the (a) tree of d); default: the system temp folder.
    #[arg(long)]
    tmp_dir: Option<PathBuf>,
    /// Parent of the many-small-document scenarios' data and copies (b, b2,
    /// and the (b) tree of d); default: `/dev/shm` when it is a RAM file
    /// system, else `--tmp-dir` (see the module documentation).
    #[arg(long)]
    small_tmp_dir: Option<PathBuf>,
}

/// The targets of issue 14.
const MAX_A_VS_RCLONE: f64 = 0.35;
const MAX_A_VS_LIMIT: f64 = 1.6;
const MAX_B_VS_RCLONE: f64 = 0.5;
const MAX_B2_PER_DOC: f64 = 1.2;
const MAX_C_PEAK: u64 = 64 << 20;
const MAX_D_VS_RCLONE: f64 = 0.5;
/// How often the job is polled while an upload runs.
const POLL: Duration = Duration::from_millis(50);

impl Ctx {
    /// Where destination trees wait until every timed run is over.
    fn graveyard(&self) -> Option<PathBuf> {
        self.keep_trees.then(|| self.tmp.join("graveyard"))
    }
}

#[derive(Clone)]
struct Ctx {
    t0: Instant,
    bin: PathBuf,
    tmp: PathBuf,
    services: Services,
    rclone: PathBuf,
    timeout: Duration,
    env: Vec<(String, String)>,
    log_dir: Option<PathBuf>,
    /// Keep trees of many files until the end (see `tools::discard`): not on
    /// a RAM file system, where deleting costs the next run nothing.
    keep_trees: bool,
}

/// One Ferry upload.
pub struct FerryRun {
    /// `POST …/start` → the job's own `finished_at`.
    wall: Duration,
    /// CPU time of the S3 server during the run (scenario d).
    server_cpu: Option<Duration>,
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
    let parent = args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let small_parent = args
        .small_tmp_dir
        .clone()
        .unwrap_or_else(|| default_small_tmp(&parent));
    let tmp = tempfile::Builder::new()
        .prefix("ferry-bench-transfer-")
        .tempdir_in(&parent)?;
    let small_tmp = tempfile::Builder::new()
        .prefix("ferry-bench-transfer-")
        .tempdir_in(&small_parent)?;
    let keep_trees = !tools::is_ram_fs(tmp.path());
    let disk = Ctx {
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
        keep_trees,
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
    let ram = Ctx {
        tmp: small_tmp.path().to_path_buf(),
        keep_trees: !tools::is_ram_fs(small_tmp.path()),
        ..disk.clone()
    };
    let scaled = |n: u64| ((n as f64 * args.scale).round() as u64).max(1);
    let want = |s: &str| args.only.iter().any(|o| o == s);
    let mut rows = Vec::new();
    let place = |c: &Ctx| {
        format!(
            "`{}` ({})",
            c.tmp.parent().unwrap_or(&c.tmp).display(),
            if c.keep_trees {
                "a disk file system; trees of many files kept until the end"
            } else {
                "a RAM file system"
            }
        )
    };
    let mut notes = vec![format!(
        "Where: the large documents (a, c, the (a) tree of d) under {}; the many small ones (b, b2, the (b) tree of d) \
         under {}, away from this disk's ext4 inode-reuse scan (see the README).",
        place(&disk),
        place(&ram)
    )];
    let s3s_fs = if want("d") {
        Some(tools::find("s3s-fs")?)
    } else {
        None
    };
    let start_s3 = |c: &Ctx| -> Result<Option<S3Server>> {
        let Some(bin) = &s3s_fs else { return Ok(None) };
        let s3 = S3Server::start(bin, c.tmp.join("s3"))?;
        say(t0, &format!("S3 server {} at {}", s3.version, s3.endpoint));
        Ok(Some(s3))
    };
    let mut s3_version = None;
    let large = scaled(args.large_mib << 20);
    let small = args.small_kib << 10;
    let n_small = scaled(args.small_docs as u64) as usize;

    if want("a") || want("d") {
        let ctx = &disk;
        let s3 = start_s3(ctx)?;
        let src = generate(ctx, "a", args.large_docs, large)?;
        let what = format!(
            "(a) {} × {} = {}",
            args.large_docs,
            mib(large),
            mib(src.total_bytes())
        );
        let result = async {
            if want("a") {
                let c = compare(ctx, &src, Backend::Sqlite, args.runs, true).await?;
                rows.extend(rows_a(&format!("{what}, SQLite"), &src, &c));
                notes.push(format!(
                    "(a) {} round(s), each in the order cp -r, rclone copy, Ferry; then the in-process SHA-256 once. {}",
                    args.runs,
                    cache_note()
                ));
            }
            if let Some(s3) = &s3 {
                s3_version = Some(s3.version.clone());
                let c = compare_s3(ctx, &src, Backend::Sqlite, args.runs, s3).await?;
                rows.extend(rows_d(&format!("(d) the (a) tree, {}, SQLite", mib(src.total_bytes())), &src, &c));
            }
            anyhow::Ok(())
        }
        .await;
        discard_source(ctx, &src)?;
        result?;
    }
    let mut per_doc_b = None;
    if want("b") || want("d") || want("b2") {
        let ctx = &ram;
        let s3 = start_s3(ctx)?;
        let src = generate(ctx, "b", n_small, small)?;
        let what = format!(
            "(b) {} × {} KiB = {}",
            count(n_small),
            args.small_kib,
            mib(src.total_bytes())
        );
        let result = async {
            if want("b") || want("b2") {
                let c = compare(ctx, &src, Backend::Postgres, args.runs, false).await?;
                per_doc_b = Some(c.ferry.wall.div_f64(n_small as f64));
                rows.extend(rows_compared(
                    &format!("{what}, PostgreSQL+Redis"),
                    &src,
                    &c,
                    None,
                    Some(MAX_B_VS_RCLONE),
                ));
                notes.push(format!(
                    "(b) {} round(s), each in the order cp -r, rclone copy, Ferry. {}",
                    args.runs,
                    cache_note()
                ));
            }
            if let Some(s3) = &s3 {
                s3_version = Some(s3.version.clone());
                let c = compare_s3(ctx, &src, Backend::Postgres, args.runs, s3).await?;
                rows.extend(rows_d(
                    &format!(
                        "(d) the (b) tree, {} × {} KiB, PostgreSQL+Redis",
                        count(n_small),
                        args.small_kib
                    ),
                    &src,
                    &c,
                ));
            }
            anyhow::Ok(())
        }
        .await;
        discard_source(ctx, &src)?;
        result?;
    }
    if want("b2") {
        let ctx = &ram;
        let n = scaled(args.many_docs as u64) as usize;
        let src = generate(ctx, "b2", n, small)?;
        let result = compare(ctx, &src, Backend::Postgres, args.runs, false).await;
        discard_source(ctx, &src)?;
        let c = result?;
        let what = format!(
            "(b2) {} × {} KiB = {}, PostgreSQL+Redis",
            count(n),
            args.small_kib,
            mib(src.total_bytes())
        );
        rows.extend(rows_compared(&what, &src, &c, None, None));
        let per_doc = c.ferry.wall.div_f64(n as f64);
        if let Some(b) = per_doc_b {
            rows.push(Row::compared(
                format!("{what}: Ferry's time per document vs (b)'s"),
                format!("{:.1} µs", per_doc.as_secs_f64() * 1e6),
                format!("{:.1} µs (b)", b.as_secs_f64() * 1e6),
                per_doc.as_secs_f64() / b.as_secs_f64(),
                Some((MAX_B2_PER_DOC, format!("≤ {MAX_B2_PER_DOC}× (b)"))),
            ));
        }
        notes.push(format!(
            "(b2) {} round(s) like (b), ten times the documents: no cost may grow with the ledger.",
            args.runs
        ));
    }
    if want("c") {
        let size = scaled(args.huge_mib << 20);
        let ctx = &disk;
        let src = generate(ctx, "c", 1, size)?;
        let result = huge(ctx, &src).await;
        discard_source(ctx, &src)?;
        let (ferry, cp, sha) = result?;
        rows.extend(rows_c(
            &format!("(c) 1 × {}, SQLite", mib(size)),
            size,
            &ferry,
            cp,
            sha,
        ));
        notes.push(format!(
            "(c) one round: cp -r, the in-process SHA-256, Ferry; the peak is the server process's `VmHWM` (fresh process; \
             includes start-up and the setup calls). {}",
            cache_note()
        ));
    }
    if let Some(version) = &s3_version {
        notes.push(format!(
            "(d) {} round(s), each in the order rclone copy → S3, Ferry → S3, against {} on 127.0.0.1 (objects stored as files \
             under its root, checked byte for byte after each run). rclone: its S3 backend (`RCLONE_CONFIG_*` remote, path style, \
             defaults: 4 transfers, multipart from 200 MiB); Ferry: tenant store `s3://{}/<prefix>` through `object_store` \
             (`AWS_ENDPOINT`). The server's CPU time (user + system, from `/proc`) is measured around each run: it shares the two cores.",
            args.runs,
            version,
            crate::s3::BUCKET
        ));
    }
    for c in [&disk, &ram] {
        if let Some(dir) = c.graveyard() {
            tools::bury(&dir);
        }
    }
    let load = format!(
        "load average (1/5/15 min) at start: {load_at_start}; at end: {}; run took {:.0} s",
        report::load_average(),
        t0.elapsed().as_secs_f64()
    );
    let md = render(&args, &disk, &rows, &notes, &load);
    write_results(t0, &results_path(args.out.as_deref(), "transfer.md"), &md)
}

/// `/dev/shm` when it is a RAM file system (see the module documentation),
/// else `fallback`.
fn default_small_tmp(fallback: &Path) -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && tools::is_ram_fs(&shm) {
        shm
    } else {
        fallback.to_path_buf()
    }
}

fn discard_source(ctx: &Ctx, src: &Source) -> Result<()> {
    tools::discard(&src.root, src.docs.len(), &ctx.graveyard())
}

fn cache_note() -> &'static str {
    "The source was read once before the runs (warm page cache for all); each run wrote to a \
     fresh folder after an untimed `sync` and, right before its clock started, an untimed \
     touch of twice the bytes it writes (`tools::warm_memory`: memory this VM had returned to \
     its host made a copy 4–5 × slower, whichever tool's setup had lasted longest)."
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
        let f = run_ferry(ctx, src, backend, Dest::Local).await?;
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

/// Scenario (d) of one tree: rounds of rclone → S3 and Ferry → S3.
struct ComparedS3 {
    /// Every round: rclone's time and the server's CPU time meanwhile.
    rclone: Vec<(Duration, Duration)>,
    /// Every round: Ferry's run.
    ferry: Vec<FerryRun>,
}

async fn compare_s3(
    ctx: &Ctx,
    src: &Source,
    backend: Backend,
    runs: usize,
    s3: &S3Server,
) -> Result<ComparedS3> {
    tools::warm(&src.root)?;
    let (mut rclone, mut ferry) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        rclone.push(run_rclone_s3(ctx, src, s3)?);
        ferry.push(run_ferry(ctx, src, backend, Dest::S3(s3)).await?);
    }
    Ok(ComparedS3 { rclone, ferry })
}

fn rows_a(what: &str, src: &Source, c: &Compared) -> Vec<Row> {
    let mut rows = rows_compared(what, src, c, None, Some(MAX_A_VS_RCLONE));
    let (Some(sha), Some(what)) = (c.sha, rows.first().map(|_| what)) else {
        return rows;
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cp = best(&c.cp);
    let hashing = sha.div_f64(cores as f64);
    let limit = cp.max(hashing);
    rows.push(Row::compared(
        format!("{what}: Ferry upload vs the machine's limit L = max(`cp -r`, SHA-256 of all bytes ÷ {cores} cores)"),
        secs(c.ferry.wall),
        format!(
            "L = {} (max of cp -r {} and SHA-256 {} ÷ {cores} = {})",
            secs(limit),
            secs(cp),
            secs(sha),
            secs(hashing)
        ),
        c.ferry.wall.as_secs_f64() / limit.as_secs_f64(),
        Some((MAX_A_VS_LIMIT, format!("≤ {MAX_A_VS_LIMIT}× L"))),
    ));
    rows
}

fn rows_c(what: &str, size: u64, ferry: &FerryRun, cp: Duration, sha: Duration) -> Vec<Row> {
    vec![
        Row {
            target: format!("≤ {}", mib(MAX_C_PEAK)),
            met: report::verdict(ferry.peak_after <= MAX_C_PEAK),
            ..Row::compared(
                format!("{what}: server peak RSS (VmHWM) after the upload, start-up included"),
                mib(ferry.peak_after),
                format!("{} before the start", mib(ferry.peak_before)),
                ferry.peak_after as f64 / ferry.peak_before as f64,
                None,
            )
        },
        Row::compared(
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
        ),
        Row::compared(
            format!(
                "{what}: SHA-256 of the document in process (`sha2` crate as in Ferry's worker; hashing alone, one core, page cache)"
            ),
            format!("{} ({})", secs(sha), throughput(size, sha)),
            format!("{} Ferry upload", secs(ferry.wall)),
            sha.as_secs_f64() / ferry.wall.as_secs_f64(),
            None,
        ),
    ]
}

fn rows_d(what: &str, src: &Source, c: &ComparedS3) -> Vec<Row> {
    let bytes = src.total_bytes();
    let fastest = c.ferry.iter().min_by_key(|f| f.wall);
    let rclone = c.rclone.iter().map(|r| r.0).min().unwrap_or_default();
    let Some(ferry) = fastest else {
        return Vec::new();
    };
    let n = c.ferry.len();
    vec![
        Row::compared(
            format!("{what} (best of {n}): Ferry → S3 vs `rclone copy` → S3"),
            format!("{} ({})", secs(ferry.wall), throughput(bytes, ferry.wall)),
            format!("{} ({})", secs(rclone), throughput(bytes, rclone)),
            ferry.wall.as_secs_f64() / rclone.as_secs_f64(),
            Some((MAX_D_VS_RCLONE, format!("≤ {MAX_D_VS_RCLONE}× rclone"))),
        ),
        Row::info(
            format!("{what}: every round, rclone copy / Ferry (S3 server CPU time during the run)"),
            format!(
                "{} / {}",
                c.rclone
                    .iter()
                    .map(|(t, cpu)| format!("{} (server {})", secs(*t), secs(*cpu)))
                    .collect::<Vec<_>>()
                    .join(", "),
                c.ferry
                    .iter()
                    .map(|f| format!(
                        "{} (server {})",
                        secs(f.wall),
                        f.server_cpu.map_or("?".into(), secs)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ]
}

/// The rows every compared scenario has; `max_vs_*`: its targets.
fn rows_compared(
    what: &str,
    src: &Source,
    c: &Compared,
    max_vs_cp: Option<f64>,
    max_vs_rclone: Option<f64>,
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
            max_vs_rclone.map(|m| (m, format!("≤ {m}× rclone"))),
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

fn throughput(bytes: u64, d: Duration) -> String {
    format!(
        "{:.0} MiB/s",
        bytes as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
    )
}

fn render(args: &TransferArgs, ctx: &Ctx, rows: &[Row], notes: &[String], load: &str) -> String {
    let mut md = String::from("# Benchmark: document transfer (issue 14)\n\n");
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
         bytes), on the same file system as every destination of its scenario. The manifest (`PUT …/manifest`, CSV) gives \
         every document its size and SHA-256, so the worker verifies each one.\n\
         - Ferry: a fresh `ferry all-in-one` release process per scenario (fresh SQLite folder, or \
         a new PostgreSQL database and Redis namespace), default settings \
         (`FERRY_TRANSFER_CONCURRENCY` 8, `FERRY_WORKER_CONCURRENCY` 4, batches of 50,000 \
         documents), tenant store `file://<data>/tenants/` (d: the S3 server). The migration is opened on \
         `file://` source URLs, made `ready` (one-user roster, a plan, commit) and given the \
         manifest before the clock starts; the time runs from `POST …/start` until the job's own \
         `finished_at` (read once `GET /v1/jobs/{id}`, polled every 50 ms, shows it finished: the API \
         caches job views for 250 ms, which a poller would otherwise add). The job must have \
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
