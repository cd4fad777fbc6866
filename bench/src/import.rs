//! `make bench`: the assignment CSV scenario of issue 3 ("Performance").
//!
//! In one run: generate a roster and the matching filled-in assignment CSV
//! (`--small` and `--rows` active users), time the csv crate's raw parse of
//! the file and Ferry's validate-only path in process (best of `--runs`), then
//! start the real `ferry all-in-one` release binary on SQLite and on
//! PostgreSQL+Redis and time the full import through HTTP, recording the
//! server's peak RSS for each size in a fresh process. Prints a markdown table
//! and writes it to `bench/results/csv.md`. Nothing is hard-coded: a target
//! that is missed says so in the table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::data::{self, Dataset};
use crate::parse::{self, Timing};
use crate::report::{self, NONE, Row, count, mib, rate, secs, size, verdict};
use crate::server::{Backend, ImportTiming, Server, Services, State};
use crate::{ferry_bin, say, write_results};

/// The CSV scenario's options (also accepted without a subcommand).
#[derive(Args, Debug, Clone)]
pub struct CsvArgs {
    /// Data rows (active users) of the large file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Data rows of the small file (the peak-memory comparison point).
    #[arg(long, default_value_t = 100_000)]
    small: usize,
    /// Skip the PostgreSQL+Redis run.
    #[arg(long)]
    skip_pg: bool,
    /// Skip the SQLite run (to profile the PostgreSQL one alone).
    #[arg(long)]
    skip_sqlite: bool,
    /// Repetitions of the in-process timings (the best counts).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Give up on the timed HTTP import after this long (reported "timed out").
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Give up on the (untimed) roster upload after this long (fails the bench).
    #[arg(long, default_value_t = 600)]
    setup_timeout_secs: u64,
    /// PostgreSQL server, without a database name.
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
    /// The `ferry` binary (default: next to this one, i.e. target/release/ferry).
    #[arg(long)]
    ferry_bin: Option<PathBuf>,
    /// Where the table goes (default: bench/results/csv.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the temp folder (generated files, server logs) and print its path,
    /// and the PostgreSQL databases (printed too).
    #[arg(long)]
    keep_temp: bool,
    /// Only the in-process timings (raw parse, validate-only,
    /// `Roster::from_inputs`): no server, no databases. The table goes to
    /// stdout, and to a file only if `--out` is given, so a quick run never
    /// overwrites the full results.
    #[arg(long)]
    in_process_only: bool,
}

/// The CSV import targets of issue 3.
const MAX_VALIDATE_RATIO: f64 = 4.0;
const MAX_PG_IMPORT: Duration = Duration::from_secs(10);
const MAX_PEAK_RATIO: f64 = 1.2;
/// Issue 16, part 4: the roster upload at the large size, against the raw
/// parse of the roster file, and the overview after the import against the
/// raw parse of the assignment file.
const MAX_ROSTER_RATIO: f64 = 20.0;
const MAX_OVERVIEW_RATIO: f64 = 1.0;

struct ParseResult {
    raw: Timing,
    validate: Timing,
    /// The raw parse of the roster CSV (the roster upload's baseline).
    roster_raw: Timing,
}

struct HttpRun {
    roster_upload: Duration,
    /// `GET …/overview` with the roster loaded and the draft still empty.
    overview_before: Duration,
    start_peak: u64,
    setup_peak: u64,
    import: Option<ImportTiming>,
    import_peak: Option<u64>,
    overview: Option<Duration>,
    /// The same file imported again by the same process: the roster is
    /// already validated in its cache (`FERRY_ROSTER_CACHE_ENTRIES`).
    import_warm: Option<ImportTiming>,
}

struct Ctx {
    t0: Instant,
    bin: PathBuf,
    tmp: PathBuf,
    services: Services,
    timeout: Duration,
    setup_timeout: Duration,
    /// `--keep-temp`: the PostgreSQL databases stay too, to look into.
    keep_state: bool,
}

pub async fn run(args: CsvArgs) -> Result<()> {
    let t0 = Instant::now();
    let load_at_start = report::load_average();
    if args.small == 0 || args.rows == 0 {
        bail!("--rows and --small must be positive");
    }
    // The in-process timings need neither the server binary nor a default
    // output file.
    let bin = if args.in_process_only {
        PathBuf::new()
    } else {
        ferry_bin(args.ferry_bin.as_deref())?
    };
    let out = match (&args.out, args.in_process_only) {
        (Some(out), _) => Some(out.clone()),
        (None, true) => None,
        (None, false) => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("results/csv.md")),
    };
    let tmp = tempfile::Builder::new().prefix("ferry-bench-").tempdir()?;
    let ctx = Ctx {
        t0,
        bin,
        tmp: tmp.path().to_path_buf(),
        services: Services {
            pg_base: args.pg_url.trim_end_matches('/').to_owned(),
            redis_url: args.redis_url.clone(),
        },
        timeout: Duration::from_secs(args.timeout_secs),
        setup_timeout: Duration::from_secs(args.setup_timeout_secs),
        keep_state: args.keep_temp,
    };

    // 1. Data.
    let mut datasets = Vec::new();
    for rows in [args.small, args.rows] {
        let start = Instant::now();
        let ds = data::generate(rows, &ctx.tmp)?;
        say(
            t0,
            &format!(
                "generated {} rows: assignment CSV {} ({:.0} B/row), roster CSV {} ({} users) in {}",
                count(rows),
                mib(ds.assignment_csv_bytes),
                ds.assignment_csv_bytes as f64 / rows as f64,
                mib(ds.roster_csv_bytes),
                count(ds.roster_users),
                secs(start.elapsed())
            ),
        );
        datasets.push(ds);
    }

    // 2–3. Raw parse and validate-only, in process.
    let mut parsed = Vec::new();
    for ds in &datasets {
        let (raw, validate) = parse::side_by_side(ds, args.runs)?;
        say(
            t0,
            &format!("raw parse {} rows: {:?}", count(ds.rows), raw.all),
        );
        say(
            t0,
            &format!("validate-only {} rows: {:?}", count(ds.rows), validate.all),
        );
        let roster_raw = parse::roster_raw(ds, args.runs)?;
        say(
            t0,
            &format!(
                "raw parse of the roster, {} users: {:?}",
                count(ds.roster_users),
                roster_raw.all
            ),
        );
        parsed.push(ParseResult {
            raw,
            validate,
            roster_raw,
        });
    }

    // 4. The real server.
    let mut backends = Vec::new();
    if !args.skip_sqlite && !args.in_process_only {
        backends.push(Backend::Sqlite);
    }
    if !args.skip_pg && !args.in_process_only {
        backends.push(Backend::Postgres);
    }
    let mut http: Vec<(Backend, Vec<HttpRun>)> = Vec::new();
    for &backend in &backends {
        let mut runs = Vec::new();
        for ds in &datasets {
            runs.push(http_run(&ctx, backend, ds).await.with_context(|| {
                format!("{} run with {} rows", backend.label(), count(ds.rows))
            })?);
        }
        http.push((backend, runs));
    }

    // 5. The table.
    let rows = table_rows(&datasets, &parsed, &http, args.runs);
    let load = format!(
        "load average (1/5/15 min) at start: {load_at_start}; at end: {}; run took {:.0} s",
        report::load_average(),
        t0.elapsed().as_secs_f64()
    );
    let markdown = render(&args, &datasets, &rows, &load);
    match &out {
        Some(out) => write_results(t0, out, &markdown)?,
        None => println!("{markdown}"),
    }
    if args.keep_temp {
        say(
            t0,
            &format!("files and server logs kept in {}", tmp.keep().display()),
        );
    }
    Ok(())
}

/// One size on one backend: a setup process loads migration, catalogue and
/// roster; a fresh process then takes the timed import, so its peak RSS is
/// the import's own.
async fn http_run(ctx: &Ctx, backend: Backend, ds: &Dataset) -> Result<HttpRun> {
    let state = State::fresh(backend, &ctx.tmp, &ctx.services).await?;
    let run = http_run_in(ctx, backend, ds, &state).await;
    if ctx.keep_state {
        if let Some(url) = &state.database_url {
            say(ctx.t0, &format!("kept the database {url}"));
        }
        return run;
    }
    let removed = state.remove().await;
    let run = run?;
    removed.context("removing the run's database / namespace")?;
    Ok(run)
}

async fn http_run_in(ctx: &Ctx, backend: Backend, ds: &Dataset, state: &State) -> Result<HttpRun> {
    let t0 = ctx.t0;
    let key = format!("fry_bench_{}", uuid::Uuid::new_v4().simple());
    let tag = format!("{} {} rows", backend.label(), count(ds.rows));
    let log = ctx
        .tmp
        .join(format!("ferry-{:?}-{}.log", backend, ds.rows).to_lowercase());
    let with_log = |server: &Server| format!("server log (last lines):\n{}", server.log_tail(30));

    let setup = Server::start(&ctx.bin, state, ds, &key, log.clone()).await?;
    let id = setup.create_migration(ds).await?;
    setup.put_catalogue(&id, ds).await?;
    let roster_upload = setup
        .put_roster(&id, ds, ctx.setup_timeout)
        .await
        .with_context(|| with_log(&setup))?;
    let setup_peak = setup.peak_rss()?;
    // After the peak was read: what loading the roster alone costs.
    let overview_before = setup
        .overview(&id, ds, 0)
        .await
        .with_context(|| with_log(&setup))?;
    say(
        t0,
        &format!(
            "{tag}: roster uploaded in {} (setup process peak RSS {})",
            secs(roster_upload),
            mib(setup_peak)
        ),
    );
    setup.stop(Duration::from_secs(30))?;

    let server = Server::start(&ctx.bin, state, ds, &key, log).await?;
    let start_peak = server.peak_rss()?;
    let import = server
        .import(&id, ds, ctx.timeout, ds.rows as u64)
        .await
        .with_context(|| with_log(&server))?;
    let (import_peak, overview, import_warm) = match &import {
        Some(t) => {
            let peak = server.peak_rss()?;
            say(
                t0,
                &format!(
                    "{tag}: import {} (headers after {}, answer {}), peak RSS {}",
                    secs(t.total),
                    secs(t.headers),
                    size(t.answer_bytes),
                    mib(peak)
                ),
            );
            let overview = server
                .overview(&id, ds, ds.rows)
                .await
                .with_context(|| with_log(&server))?;
            let warm = server
                .import(&id, ds, ctx.timeout, 0)
                .await
                .with_context(|| with_log(&server))?;
            if let Some(w) = &warm {
                say(
                    t0,
                    &format!("{tag}: second import (roster cached) {}", secs(w.total)),
                );
            }
            (Some(peak), Some(overview), warm)
        }
        None => {
            say(
                t0,
                &format!("{tag}: import timed out after {}", secs(ctx.timeout)),
            );
            (None, None, None)
        }
    };
    server.stop(Duration::from_secs(30))?;
    Ok(HttpRun {
        roster_upload,
        overview_before,
        start_peak,
        setup_peak,
        import,
        import_peak,
        overview,
        import_warm,
    })
}

fn table_rows(
    datasets: &[Dataset],
    parsed: &[ParseResult],
    http: &[(Backend, Vec<HttpRun>)],
    runs: usize,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (ds, p) in datasets.iter().zip(parsed) {
        let n = count(ds.rows);
        rows.push(Row::info(
            format!(
                "Raw parse: csv `read_byte_record` loop, {n} rows, {} (best of {runs})",
                mib(ds.assignment_csv_bytes)
            ),
            format!("{} ({})", secs(p.raw.best), rate(ds.rows, p.raw.best)),
        ));
        rows.push(Row::compared(
            format!("Validate-only: `import_assignment_csv`, {n} rows, roster in memory (best of {runs})"),
            format!("{} ({})", secs(p.validate.best), rate(ds.rows, p.validate.best)),
            format!("{} raw parse", secs(p.raw.best)),
            p.validate.best.as_secs_f64() / p.raw.best.as_secs_f64(),
            Some((MAX_VALIDATE_RATIO, "≤ 4× raw parse".into())),
        ));
    }
    for (ds, p) in datasets.iter().zip(parsed) {
        rows.push(Row::info(
            format!(
                "Raw parse of the roster CSV: csv `read_byte_record` loop, {} users, {} (best of {runs})",
                count(ds.roster_users),
                mib(ds.roster_csv_bytes)
            ),
            format!("{} ({})", secs(p.roster_raw.best), rate(ds.roster_users, p.roster_raw.best)),
        ));
    }
    // In-process pieces of the server's import request (informational).
    for ds in datasets {
        let n = count(ds.rows);
        rows.push(Row::info(
            format!(
                "In process, {n} rows: `Roster::from_inputs` of {} users (every licence request repeats it after reading the roster)",
                count(ds.roster_users)
            ),
            secs(ds.roster_check),
        ));
    }
    let last = datasets.len() - 1;
    for (backend, runs) in http {
        let b = backend.label();
        for ((ds, p), run) in datasets.iter().zip(parsed).zip(runs) {
            let n = count(ds.rows);
            let scenario = format!(
                "{b}: full import via HTTP, {n} rows (`POST …/assignments.csv` streamed; parse, validate, save draft, answer)"
            );
            let target = (*backend == Backend::Postgres && ds.rows == datasets[last].rows)
                .then_some(MAX_PG_IMPORT);
            let target_label = target.map_or(NONE.to_owned(), |t| format!("≤ {} s", t.as_secs()));
            rows.push(match &run.import {
                Some(t) => Row {
                    scenario,
                    value: format!("{} ({})", secs(t.total), rate(ds.rows, t.total)),
                    baseline: format!("{} validate-only", secs(p.validate.best)),
                    ratio: format!(
                        "{:.2}×",
                        t.total.as_secs_f64() / p.validate.best.as_secs_f64()
                    ),
                    target: target_label,
                    met: target.map_or(NONE.to_owned(), |max| verdict(t.total <= max)),
                },
                None => Row {
                    scenario,
                    value: "timed out".into(),
                    baseline: format!("{} validate-only", secs(p.validate.best)),
                    ratio: NONE.into(),
                    target: target_label,
                    met: if target.is_some() {
                        "**no** (timed out)".into()
                    } else {
                        "timed out".into()
                    },
                },
            });
        }
        // The same import with the roster already validated in the process.
        for (ds, run) in datasets.iter().zip(runs) {
            let Some(t) = &run.import_warm else { continue };
            let target = (*backend == Backend::Postgres && ds.rows == datasets[last].rows)
                .then_some(MAX_PG_IMPORT);
            rows.push(Row {
                scenario: format!(
                    "{b}: full import via HTTP, {} rows, roster cached (the same file again, same process: parse, validate, write only changed rows — none)",
                    count(ds.rows)
                ),
                value: format!("{} ({})", secs(t.total), rate(ds.rows, t.total)),
                baseline: NONE.into(),
                ratio: NONE.into(),
                target: target.map_or(NONE.to_owned(), |t| format!("≤ {} s", t.as_secs())),
                met: target.map_or(NONE.to_owned(), |max| verdict(t.total <= max)),
            });
        }
        // Peak memory of the import process, small vs large.
        let small = runs.first().and_then(|r| r.import_peak);
        for (i, (ds, run)) in datasets.iter().zip(runs).enumerate() {
            let scenario = format!(
                "{b}: server peak RSS (VmHWM) after the import of {} rows, fresh process",
                count(ds.rows)
            );
            rows.push(match (i, run.import_peak, small) {
                (0, Some(peak), _) => Row::info(scenario, mib(peak)),
                (_, Some(peak), Some(base)) => Row::compared(
                    scenario,
                    mib(peak),
                    format!("{} at {}", mib(base), count(datasets[0].rows)),
                    peak as f64 / base as f64,
                    Some((MAX_PEAK_RATIO, "≤ 1.20× (within 20 %)".into())),
                ),
                _ => Row {
                    met: if i == 0 {
                        NONE.into()
                    } else {
                        "**no** (import timed out)".into()
                    },
                    ..Row::info(scenario, "n/a (import timed out)")
                },
            });
        }
        // Issue 16, part 4: the roster upload and the overview at scale.
        let small_setup = runs.first().map(|r| r.setup_peak);
        for (i, ((ds, p), run)) in datasets.iter().zip(parsed).zip(runs).enumerate() {
            let large = i == last;
            let n = count(ds.roster_users);
            rows.push(Row::compared(
                format!(
                    "{b}: roster upload, {n} users (`PUT …/roster` CSV, streamed; start → answer)"
                ),
                format!(
                    "{} ({})",
                    secs(run.roster_upload),
                    rate(ds.roster_users, run.roster_upload)
                ),
                format!("{} raw parse of the roster", secs(p.roster_raw.best)),
                run.roster_upload.as_secs_f64() / p.roster_raw.best.as_secs_f64(),
                large.then(|| (MAX_ROSTER_RATIO, "≤ 20× raw parse".into())),
            ));
            let scenario = format!(
                "{b}: peak RSS (VmHWM) of the process that uploaded the roster of {n} users"
            );
            rows.push(match (i, small_setup) {
                (0, _) | (_, None) => Row::info(scenario, mib(run.setup_peak)),
                (_, Some(base)) => Row::compared(
                    scenario,
                    mib(run.setup_peak),
                    format!("{} at {}", mib(base), count(datasets[0].roster_users)),
                    run.setup_peak as f64 / base as f64,
                    Some((MAX_PEAK_RATIO, "≤ 1.20× (within 20 %)".into())),
                ),
            });
            if let Some(o) = run.overview {
                rows.push(Row::compared(
                    format!(
                        "{b}: `GET …/overview` after the import of {} rows (stored counts)",
                        count(ds.rows)
                    ),
                    secs(o),
                    format!("{} raw parse of the assignment CSV", secs(p.raw.best)),
                    o.as_secs_f64() / p.raw.best.as_secs_f64(),
                    large.then(|| (MAX_OVERVIEW_RATIO, "≤ 1× raw parse".into())),
                ));
            }
        }
        // Where the time and memory go (informational).
        for (ds, run) in datasets.iter().zip(runs) {
            let n = count(ds.rows);
            if let Some(t) = &run.import {
                rows.push(Row::info(
                    format!("{b}, {n} rows: import answer headers after (then the answer body)"),
                    format!("{} (answer body {})", secs(t.headers), size(t.answer_bytes)),
                ));
            }
            rows.push(Row::info(
                format!(
                    "{b}, {n} rows: `GET …/overview` before the import (stored counts; draft empty)"
                ),
                secs(run.overview_before),
            ));

            rows.push(Row::info(
                format!("{b}, {n} rows: import process peak RSS before the import (after start)"),
                mib(run.start_peak),
            ));
        }
    }
    rows
}

fn render(args: &CsvArgs, datasets: &[Dataset], rows: &[Row], load: &str) -> String {
    let mut md = String::from("# Benchmark: assignment CSV import (issue 3, “Performance”)\n\n");
    md.push_str(&format!(
        "Produced by `make bench` (`ferry-bench --rows {} --small {}{}{}{}`). Every figure below was \
         measured in this run; nothing is hard-coded. A missed target reads **no**.\n\n",
        args.rows,
        args.small,
        if args.skip_pg { " --skip-pg" } else { "" },
        if args.skip_sqlite { " --skip-sqlite" } else { "" },
        if args.in_process_only {
            " --in-process-only"
        } else {
            ""
        }
    ));
    md.push_str(&report::table(rows));
    md.push_str("\n## Data\n\n");
    for ds in datasets {
        md.push_str(&format!(
            "- {} rows: assignment CSV {} ({:.0} B/row; `write_assignment_csv` of a draft giving every \
             active user a plan and a unique user name, i.e. a filled-in export); roster {} users \
             (1 % inactive, not exported), roster CSV {}\n",
            count(ds.rows),
            mib(ds.assignment_csv_bytes),
            ds.assignment_csv_bytes as f64 / ds.rows as f64,
            count(ds.roster_users),
            mib(ds.roster_csv_bytes),
        ));
    }
    md.push_str(
        "\n## How it is measured\n\n\
         - Raw parse and validate-only run in the benchmark process on the same file (page cache), in turns (raw, validate, raw, …), best of the runs of each.\n\
         - Each HTTP size runs against fresh state (SQLite folder, or a new PostgreSQL database `ferry_bench_<uuid>` \
         and Redis namespace): a first `ferry all-in-one` (release) process creates the migration, sets the catalogue \
         and uploads the roster (then, after its `VmHWM` was read, times `GET …/overview` on the empty draft); it is \
         stopped, and a fresh process takes the timed import, so its `VmHWM` is the import's peak. The import time runs from sending the request (body streamed from the file, 64 KiB chunks, \
         with `Content-Length`) to the last byte of the 200 answer; the answer and a following `GET …/overview` are \
         checked against the file.\n\
         - “In process” rows time domain steps the server's import request also runs, to locate the time: the rest \
         of an HTTP import is the database (reading the roster, writing the draft) and the HTTP transfer.\n\
         - Client, server and PostgreSQL share the machine.\n",
    );
    md.push_str("\n## Machine\n\n");
    for fact in report::machine_facts() {
        md.push_str(&format!("- {fact}\n"));
    }
    md.push_str(&format!("- {load}\n"));
    md
}
