//! Issue 5, 7a: dashboard polling. `GET /v1/jobs/{id}` (authenticated, a
//! finished upload job) against `GET /healthz` on the same release server,
//! driven by `oha` (JSON output): maximum throughput of each, p99 latency at
//! a fixed rate, and the conditional `If-None-Match` (304) path separately.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use crate::docs;
use crate::report::{self, NONE, Row, count};
use crate::server::{Backend, Server, Services, State};
use crate::{ferry_bin, results_path, say, tools, upload, write_results};

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Seconds of each oha run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Connections of each oha run.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The fixed rate of the latency runs, requests/s.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Backends to run the server on: sqlite, pg.
    #[arg(long, value_delimiter = ',', default_value = "pg,sqlite")]
    backends: Vec<String>,
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
    /// Where the table goes (default: bench/results/load.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The targets of issue 5 (7a).
const MIN_JOB_VS_HEALTHZ: f64 = 0.3;
const MAX_P99_MS: f64 = 20.0;

/// What one oha run measured.
struct Oha {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Status code → answers.
    statuses: Vec<(String, u64)>,
    /// Error → count.
    errors: Vec<(String, u64)>,
}

impl Oha {
    fn statuses(&self) -> String {
        let mut s: Vec<String> = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}: {}", count(*n as usize)))
            .collect();
        for (e, n) in &self.errors {
            s.push(format!("error {e}: {n}"));
        }
        s.join(", ")
    }

    /// Every answer had `status` and nothing failed.
    fn only(&self, status: &str) -> bool {
        self.errors.is_empty() && self.statuses.iter().all(|(c, _)| c == status)
    }
}

struct Target<'a> {
    url: &'a str,
    headers: Vec<String>,
}

fn oha(bin: &Path, args: &LoadArgs, t: &Target, rate: Option<u64>) -> Result<Oha> {
    let mut cmd = Command::new(bin);
    cmd.arg("--no-tui")
        .args(["--output-format", "json"])
        .args(["-z", &format!("{}s", args.secs), "-w"])
        .args(["-c", &args.connections.to_string()]);
    if let Some(q) = rate {
        cmd.args(["-q", &q.to_string(), "--latency-correction"]);
    }
    for h in &t.headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(t.url)
        .stdin(Stdio::null())
        .output()
        .context("running oha")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "oha's JSON: {}",
            crate::server::truncate(&String::from_utf8_lossy(&out.stdout), 2000)
        )
    })?;
    let statuses = v["statusCodeDistribution"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let errors = v["errorDistribution"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Oha {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: v["metrics"]["latency_ms"]["p50"]
            .as_f64()
            .unwrap_or(f64::NAN),
        p99_ms: v["metrics"]["latency_ms"]["p99"]
            .as_f64()
            .unwrap_or(f64::NAN),
        statuses,
        errors,
    })
}

pub async fn run(args: LoadArgs) -> Result<()> {
    let t0 = Instant::now();
    let load_at_start = report::load_average();
    let bin = ferry_bin(args.ferry_bin.as_deref())?;
    let oha_bin = tools::find("oha")?;
    let tmp = tempfile::Builder::new()
        .prefix("ferry-bench-load-")
        .tempdir()?;
    let services = Services {
        pg_base: args.pg_url.trim_end_matches('/').to_owned(),
        redis_url: args.redis_url.clone(),
    };
    let mut rows = Vec::new();
    for b in &args.backends {
        let backend = match b.as_str() {
            "sqlite" => Backend::Sqlite,
            "pg" | "postgres" => Backend::Postgres,
            other => bail!("unknown backend {other}: use sqlite or pg"),
        };
        let state = State::fresh(backend, tmp.path(), &services).await?;
        let result = run_backend(t0, &args, &bin, &oha_bin, backend, &state, tmp.path()).await;
        let removed = state.remove().await;
        rows.extend(result?);
        removed?;
    }
    let load = format!(
        "load average (1/5/15 min) at start: {load_at_start}; at end: {}; run took {:.0} s",
        report::load_average(),
        t0.elapsed().as_secs_f64()
    );
    let md = render(&args, &oha_bin, &rows, &load);
    write_results(t0, &results_path(args.out.as_deref(), "load.md"), &md)
}

async fn run_backend(
    t0: Instant,
    args: &LoadArgs,
    bin: &Path,
    oha_bin: &Path,
    backend: Backend,
    state: &State,
    tmp: &Path,
) -> Result<Vec<Row>> {
    let b = backend.label();
    let key = format!("fry_bench_{}", uuid::Uuid::new_v4().simple());
    let log = tmp.join(format!("ferry-load-{backend:?}.log").to_lowercase());
    let server = Server::start_with(bin, state, &[], &key, log).await?;
    // A finished upload job to poll: one small document.
    let src = docs::generate(tmp, &format!("source-{backend:?}"), 1, 4096)?;
    let id = upload::prepare(&server, &src).await?;
    let job_id = upload::start(&server, &id).await?;
    let (job, _) = upload::wait(
        &server,
        &job_id,
        Duration::from_millis(50),
        Duration::from_secs(120),
        || {},
    )
    .await
    .with_context(|| format!("server log (last lines):\n{}", server.log_tail(30)))?;
    upload::check_succeeded(&job, &src)?;
    let job_url = format!("{}/v1/jobs/{job_id}", server.base);
    let res = server.client.get(&job_url).bearer_auth(&key).send().await?;
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .context("GET /v1/jobs/{id} sent no ETag")?;
    let auth = format!("Authorization: Bearer {key}");
    let health_url = format!("{}/healthz", server.base);
    let healthz = Target {
        url: &health_url,
        headers: vec![auth.clone()],
    };
    let status = Target {
        url: &job_url,
        headers: vec![auth.clone()],
    };
    let cached = Target {
        url: &job_url,
        headers: vec![auth.clone(), format!("If-None-Match: {etag}")],
    };
    let run = |what: &str, t: &Target, rate: Option<u64>| -> Result<Oha> {
        let r = oha(oha_bin, args, t, rate)?;
        say(
            t0,
            &format!(
                "{b}: {what}{}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({})",
                rate.map_or(String::new(), |q| format!(" at {q} req/s")),
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.statuses()
            ),
        );
        Ok(r)
    };
    // Warm-up (connections, database pool), not reported.
    let mut warm = args.clone();
    warm.secs = 2;
    oha(oha_bin, &warm, &status, None)?;
    let h_max = run("healthz max", &healthz, None)?;
    let j_max = run("job status max", &status, None)?;
    let c_max = run("job status 304 max", &cached, None)?;
    let h_rate = run("healthz", &healthz, Some(args.rate))?;
    let j_rate = run("job status", &status, Some(args.rate))?;
    let c_rate = run("job status 304", &cached, Some(args.rate))?;
    let peak = server.peak_rss()?;
    server.stop(Duration::from_secs(30))?;
    src.remove();

    for (name, r, want) in [
        ("healthz", &h_max, "200"),
        ("job", &j_max, "200"),
        ("304", &c_max, "304"),
        ("healthz at rate", &h_rate, "200"),
        ("job at rate", &j_rate, "200"),
        ("304 at rate", &c_rate, "304"),
    ] {
        if !r.only(want) {
            bail!(
                "{b}: {name}: expected only {want} answers, got {}",
                r.statuses()
            );
        }
    }
    let q = args.rate;
    let c = args.connections;
    let p99_row = |scenario: String, r: &Oha, baseline: &Oha| Row {
        scenario,
        value: format!(
            "p99 {:.2} ms (p50 {:.2} ms; {:.0} req/s achieved)",
            r.p99_ms, r.p50_ms, r.rps
        ),
        baseline: format!("healthz p99 {:.2} ms", baseline.p99_ms),
        ratio: format!("{:.2}×", r.p99_ms / baseline.p99_ms),
        target: format!("p99 ≤ {MAX_P99_MS} ms"),
        met: report::verdict(r.p99_ms <= MAX_P99_MS && r.rps >= 0.95 * q as f64),
    };
    Ok(vec![
        Row::info(
            format!("{b}: `GET /healthz` max throughput ({c} connections)"),
            format!("{:.0} req/s (p99 {:.2} ms)", h_max.rps, h_max.p99_ms),
        ),
        Row {
            target: format!("≥ {MIN_JOB_VS_HEALTHZ}× healthz"),
            met: report::verdict(j_max.rps / h_max.rps >= MIN_JOB_VS_HEALTHZ),
            ..Row::compared(
                format!("{b}: `GET /v1/jobs/{{id}}` max throughput ({c} connections)"),
                format!("{:.0} req/s (p99 {:.2} ms)", j_max.rps, j_max.p99_ms),
                format!("{:.0} req/s healthz", h_max.rps),
                j_max.rps / h_max.rps,
                None,
            )
        },
        Row::compared(
            format!("{b}: `GET /v1/jobs/{{id}}` with `If-None-Match` (304) max throughput"),
            format!("{:.0} req/s (p99 {:.2} ms)", c_max.rps, c_max.p99_ms),
            format!("{:.0} req/s healthz", h_max.rps),
            c_max.rps / h_max.rps,
            None,
        ),
        Row::info(
            format!("{b}: `GET /healthz` at a fixed {q} req/s"),
            format!(
                "p99 {:.2} ms (p50 {:.2} ms; {:.0} req/s achieved)",
                h_rate.p99_ms, h_rate.p50_ms, h_rate.rps
            ),
        ),
        p99_row(
            format!("{b}: `GET /v1/jobs/{{id}}` at a fixed {q} req/s"),
            &j_rate,
            &h_rate,
        ),
        Row {
            target: NONE.into(),
            met: NONE.into(),
            ..p99_row(
                format!(
                    "{b}: `GET /v1/jobs/{{id}}` with `If-None-Match` (304) at a fixed {q} req/s"
                ),
                &c_rate,
                &h_rate,
            )
        },
        Row::info(
            format!("{b}: server peak RSS (VmHWM) after all runs"),
            report::mib(peak),
        ),
    ])
}

fn render(args: &LoadArgs, oha_bin: &Path, rows: &[Row], load: &str) -> String {
    let mut md = String::from("# Benchmark: dashboard polling load (issue 5, 7a)\n\n");
    md.push_str(&format!(
        "Produced by `make bench` (`ferry-bench load --secs {} --connections {} --rate {} --backends {}`). \
         Every figure below was measured in this run; nothing is hard-coded. A missed target reads **no**. \
         A ratio is the row's figure divided by the same figure for `/healthz` in the same run.\n\n",
        args.secs,
        args.connections,
        args.rate,
        args.backends.join(",")
    ));
    md.push_str(&report::table(rows));
    md.push_str(&format!(
        "\n## How it is measured\n\n\
         - One `ferry all-in-one` release process per backend (default settings: `FERRY_HTTP_WORKERS` = \
         cores, `FERRY_DB_MAX_CONNECTIONS` 10) with a finished upload job (one 4 KiB document); every \
         request carries `Authorization: Bearer <admin key>`, `/healthz` too (it ignores it).\n\
         - Load generator: {} (`--no-tui --output-format json -z {}s -w -c {}`, i.e. requests in flight at the end are waited for; the fixed-rate runs add \
         `-q {} --latency-correction`, so a stalled request counts from when it should have been sent). \
         A 2 s warm-up on the job URL precedes the runs. Every answer of every run must be 200 (304 for \
         the `If-None-Match` runs) or the bench fails.\n\
         - The p99 target counts as met only if the run also achieved ≥ 95 % of the fixed rate.\n\
         - The load generator, the server and PostgreSQL/Redis share the machine's cores (2, shared with \
         other work), so the maximum throughputs are a floor; `/healthz` (no auth lookup, no database) is \
         the ceiling on this machine with this load generator, which is why the target is a ratio to it.\n",
        tools::version(oha_bin),
        args.secs,
        args.connections,
        args.rate
    ));
    md.push_str("\n## Machine\n\n");
    for fact in report::machine_facts() {
        md.push_str(&format!("- {fact}\n"));
    }
    md.push_str(&format!("- {load}\n"));
    md
}
