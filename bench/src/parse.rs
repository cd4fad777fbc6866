//! In-process timings of the assignment CSV: the csv crate's raw
//! `read_byte_record` loop (the floor any CSV reader is judged against) and
//! Ferry's validate-only path (`import_assignment_csv` with the roster,
//! catalogue and an empty base draft in memory). Both read the same file from
//! the page cache (it was just written), best of `runs`, taken in turns
//! (raw, validate, raw, …): on a shared machine whose speed drifts, the ratio
//! then compares runs from the same minutes.

use std::fs::File;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_domain::licensing::{Assignments, CsvFailure, CsvLimits, import_assignment_csv};

use crate::data::Dataset;

pub struct Timing {
    pub best: Duration,
    pub all: Vec<Duration>,
}

impl Timing {
    fn of(all: Vec<Duration>) -> Self {
        let best = all.iter().copied().min().unwrap_or_default();
        Timing { best, all }
    }
}

/// The raw parse and validate-only, `runs` of each in turns: (raw, validate).
pub fn side_by_side(ds: &Dataset, runs: usize) -> Result<(Timing, Timing)> {
    let (mut raw, mut validate) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        raw.push(raw_parse(ds)?);
        validate.push(validate_only(ds).context("validate-only")?);
    }
    Ok((Timing::of(raw), Timing::of(validate)))
}

/// The raw parse of the roster CSV, best of `runs`: the baseline of the
/// roster upload (issue 16).
pub fn roster_raw(ds: &Dataset, runs: usize) -> Result<Timing> {
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        all.push(raw_parse_file(&ds.roster_csv, ds.roster_users)?);
    }
    Ok(Timing::of(all))
}

fn raw_parse(ds: &Dataset) -> Result<Duration> {
    raw_parse_file(&ds.assignment_csv, ds.rows)
}

/// The raw parse: `csv::Reader` (default builder: 8 KiB buffer, header row)
/// counting records with `read_byte_record`, no UTF-8 check, no allocation
/// per row.
fn raw_parse_file(path: &std::path::Path, rows: usize) -> Result<Duration> {
    let start = Instant::now();
    let mut reader = csv::Reader::from_reader(File::open(path)?);
    let mut record = csv::ByteRecord::new();
    let mut n = 0usize;
    while reader.read_byte_record(&mut record)? {
        n += 1;
    }
    let elapsed = start.elapsed();
    if n != rows {
        bail!("raw parse read {n} records, expected {rows}");
    }
    Ok(elapsed)
}

/// Limits that let the file through (the defaults are sized for 1M rows).
pub fn limits_for(ds: &Dataset) -> CsvLimits {
    let d = CsvLimits::default();
    CsvLimits {
        max_rows: d.max_rows.max(ds.roster_users as u64),
        max_bytes: d
            .max_bytes
            .max(2 * ds.assignment_csv_bytes.max(ds.roster_csv_bytes)),
        max_field_len: d.max_field_len,
    }
}

/// Ferry's validate-only: every rule of SPEC §3.4 over the whole file. The
/// outcome (the new draft) is dropped outside the timed part.
fn validate_only(ds: &Dataset) -> Result<Duration> {
    let base = Assignments::new();
    let limits = limits_for(ds);
    let file = File::open(&ds.assignment_csv)?;
    let start = Instant::now();
    let outcome = import_assignment_csv(file, &ds.roster, &ds.catalogue, &base, &ds.acting, limits);
    let elapsed = start.elapsed();
    match outcome {
        Ok(ok) => {
            if ok.rows != ds.rows as u64 || ok.assignments.len() != ds.rows {
                bail!(
                    "validate-only read {} rows into {} assignments, expected {}",
                    ok.rows,
                    ok.assignments.len(),
                    ds.rows
                );
            }
        }
        Err(CsvFailure::TooLarge { limit_name, limit }) => {
            bail!("validate-only refused the file: {limit_name} = {limit}")
        }
        Err(CsvFailure::Invalid(errors)) => {
            eprintln!("validate-only found {} errors; the first:", errors.len());
            for e in errors.iter().take(10) {
                eprintln!(
                    "  row {:?} column {} value {:?}: {} ({})",
                    e.row, e.column, e.value, e.message, e.code
                );
            }
            bail!("the generated file does not validate");
        }
    }
    Ok(elapsed)
}
