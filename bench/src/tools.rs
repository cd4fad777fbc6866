//! External programs the scenarios compare with or drive (`cp`, `rclone`,
//! `oha`, `sync`), found on `PATH` or in `bench/.tools/bin` (where
//! `bench/tools.sh` installs `oha`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// `name` in `bench/.tools/bin`, else on `PATH`.
pub fn find(name: &str) -> Result<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/bin")
        .join(name);
    if local.is_file() {
        return Ok(local);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("`{name}` not found: run `bash bench/tools.sh` (make bench does)")
}

/// The first line of `program --version`.
pub fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

/// Runs `cmd` to the end; its wall time. Fails on a non-zero exit.
pub fn timed(cmd: &mut Command, what: &str) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {what}"))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(elapsed)
}

/// `sync`: writes back dirty pages so one run's writes are not flushed in
/// the next run's time.
pub fn sync() -> Result<()> {
    timed(&mut Command::new("sync"), "sync").map(|_| ())
}

/// Writes to and frees twice `bytes` of memory, right before a timed copy
/// that writes `bytes` (every contender alike, after its `sync`).
///
/// Why: this machine is a VM that hands memory the guest freed back to its
/// host after a few seconds (virtio-balloon free page reporting). A copy
/// whose new page-cache pages come from such memory pays a host fault per
/// page: the same `copy_file_range` of 2 GiB took 0.36–0.39 s of system
/// time started at once after the previous copy was deleted, and 1.6–1.9 s
/// started 6 s later. Which contender was measured cold then depended on
/// how long its own setup took (Ferry's: a server start and the manifest;
/// `cp`'s: none), not on how it copies. Touched just before, the freed
/// memory is backed again (2 × the bytes made the runs consistently warm;
/// 1.25 × did not). Capped at half of the available memory.
pub fn warm_memory(bytes: u64) {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024);
    let n = bytes.saturating_mul(2).min(available / 2);
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    // A non-zero fill writes every page (zeros could come from untouched
    // `calloc` memory).
    let touched = vec![1u8; n];
    std::hint::black_box(&touched);
}

/// Bytes of the regular files under `dir`.
pub fn tree_bytes(dir: &Path) -> Result<(u64, usize)> {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                bytes += entry.metadata()?.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}

/// Reads every file under `dir` once, so every run starts from a warm page
/// cache for the source.
pub fn warm(dir: &Path) -> Result<()> {
    timed(
        Command::new("sh").arg("-c").arg(format!(
            "find '{}' -type f -print0 | xargs -0 cat > /dev/null",
            dir.display()
        )),
        "warming the page cache",
    )
    .map(|_| ())
}

/// Files a discarded tree may hold and still be deleted at once.
const DELETE_BELOW_FILES: usize = 1000;

/// Gets a destination tree out of the way between timed runs. Deleting
/// thousands of files is not free for whoever creates files next: this
/// machine's ext4 has no journal, and then ext4 will not reuse an inode
/// freed in the last minutes, scanning past every such inode on each
/// create (`find_inode_bit` → `recently_deleted` in the profile). A run
/// after a deletion of 20,000 files took up to 15× as long as one before
/// it. So trees of many files are moved under `graveyard` (same file
/// system: a rename) and deleted when every timed run is over, by
/// [`bury`]; trees of a few large files are deleted at once.
/// `graveyard` `None`: delete at once (a RAM file system, where deleting
/// costs the next run nothing).
pub fn discard(dir: &Path, files: usize, graveyard: &Option<PathBuf>) -> Result<()> {
    let Some(graveyard) = graveyard.as_ref().filter(|_| files >= DELETE_BELOW_FILES) else {
        std::fs::remove_dir_all(dir)?;
        return Ok(());
    };
    std::fs::create_dir_all(graveyard)?;
    let to = graveyard.join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::rename(dir, &to).with_context(|| format!("moving {} aside", dir.display()))
}

/// Deletes what [`discard`] kept; after the last timed run.
pub fn bury(graveyard: &Path) {
    let _ = std::fs::remove_dir_all(graveyard);
}

/// Whether `path` lies on a RAM file system (`tmpfs`, `ramfs`), by the
/// longest mount point of `/proc/mounts` that contains it.
pub fn is_ram_fs(path: &Path) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind == "tmpfs" || kind == "ramfs"))
        })
        .max_by_key(|(len, _)| *len)
        .is_some_and(|(_, ram)| ram)
}
