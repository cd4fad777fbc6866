//! The result table (markdown) and the machine facts printed with it.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// One line of the table.
pub struct Row {
    pub scenario: String,
    pub value: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub met: String,
}

pub const NONE: &str = "—";

impl Row {
    /// A measured figure without a baseline or target.
    pub fn info(scenario: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            scenario: scenario.into(),
            value: value.into(),
            baseline: NONE.into(),
            ratio: NONE.into(),
            target: NONE.into(),
            met: NONE.into(),
        }
    }

    /// A figure compared with a baseline, with an optional ratio target.
    pub fn compared(
        scenario: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
        ratio: f64,
        max_ratio: Option<(f64, String)>,
    ) -> Row {
        let (target, met) = match max_ratio {
            Some((max, label)) => (label, verdict(ratio <= max)),
            None => (NONE.into(), NONE.into()),
        };
        Row {
            scenario: scenario.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio: format!("{ratio:.2}×"),
            target,
            met,
        }
    }
}

pub fn verdict(ok: bool) -> String {
    if ok { "yes".into() } else { "**no**".into() }
}

pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes in the unit that reads best (B, KiB, MiB).
pub fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => mib(bytes),
    }
}

pub fn rate(rows: usize, d: Duration) -> String {
    let per_s = rows as f64 / d.as_secs_f64().max(1e-9);
    if per_s >= 1e6 {
        format!("{:.2} M rows/s", per_s / 1e6)
    } else {
        format!("{:.0} k rows/s", per_s / 1e3)
    }
}

pub fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | value | baseline | ratio | target | met? |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let cell = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.scenario),
            cell(&r.value),
            cell(&r.baseline),
            cell(&r.ratio),
            cell(&r.target),
            cell(&r.met)
        );
    }
    out
}

fn first_line_with(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The 1/5/15-minute load averages, to tell a quiet machine from a busy one.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Machine and code facts, as markdown list items.
pub fn machine_facts() -> Vec<String> {
    let mut facts = vec![format!(
        "date: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    )];
    let nproc = command_output("nproc", &[]).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    });
    facts.push(format!("nproc: {nproc}"));
    if let Some(cpu) = first_line_with("/proc/cpuinfo", "model name") {
        facts.push(format!("cpu: {cpu}"));
    }
    if let Some(mem) = first_line_with("/proc/meminfo", "MemTotal") {
        facts.push(format!("memory: {mem}"));
    }
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        facts.push(format!("kernel: {}", kernel.trim()));
    }
    if let Some(rev) = command_output("git", &["rev-parse", "--short", "HEAD"]) {
        let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        facts.push(format!(
            "code: commit {rev}{}",
            if dirty {
                " plus uncommitted changes"
            } else {
                ""
            }
        ));
    }
    facts
}
