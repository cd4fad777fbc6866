//! The state-derived part of `/metrics` (see `ferry_store::Stats`), written
//! in the Prometheus text format next to the process's own HTTP metrics.
//! Rendered per scrape from the app's own database — not through the
//! process-wide recorder, which several apps in one test process share.

use std::fmt::Write;

use ferry_store::Stats;

/// Appends the families of `stats` to `out`.
pub fn render(stats: &Stats, out: &mut String) {
    family(
        out,
        "ferry_jobs",
        "gauge",
        "Jobs by state (batches of a split job not counted).",
    );
    for (state, n) in &stats.jobs_by_state {
        let _ = writeln!(out, "ferry_jobs{{state=\"{}\"}} {n}", label(state));
    }
    family(
        out,
        "ferry_migrations",
        "gauge",
        "Migrations by lifecycle state.",
    );
    for (state, n) in &stats.migrations_by_state {
        let _ = writeln!(out, "ferry_migrations{{state=\"{}\"}} {n}", label(state));
    }
    let single: [(&str, &str, &str, i64); 9] = [
        (
            "ferry_queue_depth",
            "gauge",
            "Queue messages (jobs and batches) waiting for a worker.",
            stats.queue_depth,
        ),
        (
            "ferry_job_retries_total",
            "counter",
            "Attempts after the first, over all jobs and batches.",
            stats.job_retries,
        ),
        (
            "ferry_transfer_bytes_total",
            "counter",
            "Bytes copied to tenant stores (dump and documents).",
            stats.bytes_done,
        ),
        (
            "ferry_transfer_precopy_bytes_total",
            "counter",
            "Of ferry_transfer_bytes_total, the bytes pre-copies copied while sources were live.",
            stats.precopy_bytes_done,
        ),
        (
            "ferry_transfer_documents_uploaded_total",
            "counter",
            "Documents uploaded with a verified checksum.",
            stats.documents_uploaded,
        ),
        (
            "ferry_transfer_documents_missing",
            "gauge",
            "Documents recorded missing by the latest run of each job.",
            stats.documents_missing,
        ),
        (
            "ferry_transfer_documents_failed",
            "gauge",
            "Documents recorded failed by the latest run of each job.",
            stats.documents_failed,
        ),
        (
            "ferry_transfer_running_bytes_total",
            "gauge",
            "Bytes the running jobs copy in all.",
            stats.running_bytes_total,
        ),
        (
            "ferry_transfer_running_bytes_done",
            "gauge",
            "Bytes the running jobs have copied so far.",
            stats.running_bytes_done,
        ),
    ];
    for (name, kind, help, value) in single {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// States come from the database; escape what the format reserves anyway.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_family_with_help_and_type() {
        let stats = Stats {
            jobs_by_state: vec![("running".into(), 2), ("succeeded".into(), 5)],
            migrations_by_state: vec![("uploading".into(), 2)],
            queue_depth: 3,
            bytes_done: 1024,
            precopy_bytes_done: 512,
            ..Stats::default()
        };
        let mut out = String::new();
        render(&stats, &mut out);
        assert!(out.contains("# TYPE ferry_jobs gauge\n"));
        assert!(out.contains("ferry_jobs{state=\"running\"} 2\n"));
        assert!(out.contains("ferry_jobs{state=\"succeeded\"} 5\n"));
        assert!(out.contains("ferry_migrations{state=\"uploading\"} 2\n"));
        assert!(out.contains("ferry_queue_depth 3\n"));
        assert!(out.contains(
            "# TYPE ferry_transfer_bytes_total counter\nferry_transfer_bytes_total 1024\n"
        ));
        assert!(out.contains("ferry_transfer_precopy_bytes_total 512\n"));
        assert_eq!(label("a\"b"), "a\\\"b");
    }
}
