//! `make bench`: Ferry's benchmarks against the real `ferry` release binary,
//! each measured side by side with its baseline in the same run and written
//! as a markdown table to `bench/results/`. Nothing is hard-coded: a target
//! that is missed says so in the table.
//!
//! - `csv` (also the default without a subcommand): the assignment CSV import
//!   of issue 3 → `csv.md`.
//! - `transfer`: the document upload of issue 4 against `cp -r` and
//!   `rclone copy`, and the server's peak RSS for one large document →
//!   `transfer.md`.
//! - `load`: dashboard polling, `GET /v1/jobs/{id}` against `GET /healthz`
//!   (issue 5, 7a) → `load.md`.
//! - `queue`: no-op jobs through apalis-redis against a plain Redis list
//!   (issue 5, 7b) → `queue.md`.
//! - `cutover`: the freeze window of a cutover after a pre-copy against a
//!   full upload (issue 15) → `cutover.md`.
//! - `all`: every scenario with its defaults.

mod cutover;
mod data;
mod docs;
mod import;
mod load;
mod parse;
mod queue;
mod report;
mod s3;
mod server;
mod tools;
mod transfer;
mod upload;

/// As in the `ferry` binary (see its `main.rs`): validate-only and the other
/// in-process timings then measure the code as the server runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    about = "Ferry's benchmarks (`make bench`)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the CSV scenario (as before the subcommands).
    #[command(flatten)]
    csv: import::CsvArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assignment CSV import (issue 3) → bench/results/csv.md.
    Csv(import::CsvArgs),
    /// Document upload vs cp -r / rclone copy, and peak RSS (issue 4) → transfer.md.
    Transfer(transfer::TransferArgs),
    /// Job status polling vs /healthz under load (issue 5, 7a) → load.md.
    Load(load::LoadArgs),
    /// No-op jobs through apalis-redis vs a plain Redis list (issue 5, 7b) → queue.md.
    Queue(queue::QueueArgs),
    /// Freeze window of a cutover after a pre-copy vs a full upload (issue 15) → cutover.md.
    Cutover(cutover::CutoverArgs),
    /// Every scenario with its defaults.
    All,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => import::run(cli.csv).await,
        Some(Command::Csv(a)) => import::run(a).await,
        Some(Command::Transfer(a)) => transfer::run(a).await,
        Some(Command::Load(a)) => load::run(a).await,
        Some(Command::Queue(a)) => queue::run(a).await,
        Some(Command::Cutover(a)) => cutover::run(a).await,
        Some(Command::All) => {
            let defaults = |sub: &str| {
                Cli::try_parse_from(["ferry-bench", sub]).map(|c| c.command.expect("subcommand"))
            };
            for sub in ["csv", "transfer", "load", "queue", "cutover"] {
                match defaults(sub)? {
                    Command::Csv(a) => import::run(a).await?,
                    Command::Transfer(a) => transfer::run(a).await?,
                    Command::Load(a) => load::run(a).await?,
                    Command::Queue(a) => queue::run(a).await?,
                    Command::Cutover(a) => cutover::run(a).await?,
                    Command::All => unreachable!("not in the list"),
                }
            }
            Ok(())
        }
    }
}

/// Progress on stderr, with the time since the start.
pub fn say(t0: Instant, msg: &str) {
    eprintln!("[{:7.1} s] {msg}", t0.elapsed().as_secs_f64());
}

/// The `ferry` binary: `explicit`, else next to this one (target/release).
pub fn ferry_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    let bin = match explicit {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("ferry"))
            .context("no folder around this binary")?,
    };
    if !bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p ferry` (make bench does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// `bench/results/<name>` unless `explicit`.
pub fn results_path(explicit: Option<&Path>, name: &str) -> PathBuf {
    explicit.map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("results")
                .join(name)
        },
        Path::to_path_buf,
    )
}

/// Prints the table and writes it to `out`.
pub fn write_results(t0: Instant, out: &Path, markdown: &str) -> Result<()> {
    println!("{markdown}");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, markdown).with_context(|| format!("writing {}", out.display()))?;
    say(t0, &format!("table written to {}", out.display()));
    Ok(())
}
