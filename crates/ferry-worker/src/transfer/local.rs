//! Local → local copies without `object_store` in the loop: when the source
//! (archive or dump) and the tenant store are both folders on this machine,
//! one blocking task opens, reads, hashes and writes a document.
//!
//! Why: through `object_store`, one 4 KiB document cost four hops to the
//! blocking pool (resolve the path, open, read, write + rename) and a
//! multipart upload's bookkeeping for large ones; the profile of the
//! small-document benchmark was dominated by those hops, not by the file
//! system. Here a small document is one task: open, `fstat`, one read, hash,
//! create, one write, rename.
//!
//! The on-disk protocol is `object_store`'s `LocalFileSystem`'s, so what this
//! writes reads back through `object_store` unchanged: the object's bytes go
//! to a staging file `<name>#<digits>` (skipped by its listings, removed by
//! the upload's staging sweep when a killed process leaves one) and are
//! renamed into place only after size and SHA-256 matched, so a mismatching
//! or partial object is never visible under its name.
//!
//! Large documents are pipelined: a reader thread reads and hashes the next
//! block while this thread writes the previous one, with a fixed number of
//! reused blocks (memory per copy: `(PIPELINE_DEPTH + 1) × block`).
//!
//! The archive's symlink rule (see `upload::archive`) is checked on the file
//! actually opened: its resolved path (`/proc/self/fd`) must lie under the
//! archive's resolved root. Sources are opened non-blocking, so a FIFO
//! planted in an archive cannot hang a worker; anything that is not a
//! regular file is `missing`, as `object_store` reports it.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use tokio_util::sync::CancellationToken;

use super::read::Tally;
use super::{CopyError, CopyOutcome, Expected, RetryPolicy};

/// Blocks of a large copy in flight between the reader and the writer.
const PIPELINE_DEPTH: usize = 2;

/// Waits until `bytes` more may be written (the job's bandwidth limit);
/// called on the copying thread.
pub type Pace = Arc<dyn Fn(usize) + Send + Sync>;

/// How local copies run.
#[derive(Clone)]
pub struct LocalOptions {
    /// Documents up to this size are read whole, then written with one call.
    pub whole_below: u64,
    /// Block size of larger documents.
    pub block: usize,
    pub cancel: CancellationToken,
    pub pace: Option<Pace>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            whole_below: 1 << 20,
            block: 1 << 20,
            cancel: CancellationToken::new(),
            pace: None,
        }
    }
}

/// One local copy: the source file, the folder it must stay inside (the
/// archive's resolved root; `None`: no such rule, e.g. the dump), and the
/// destination file.
#[derive(Debug, Clone)]
pub struct LocalCopy {
    pub src: PathBuf,
    pub src_root: Option<PathBuf>,
    pub dst: PathBuf,
    pub expected: Expected,
}

/// [`copy_file_with_retry`] on the blocking pool.
pub async fn copy_local_with_retry(
    job: LocalCopy,
    opts: &LocalOptions,
    retry: &RetryPolicy,
) -> Result<CopyOutcome, CopyError> {
    let (opts, retry) = (opts.clone(), *retry);
    tokio::task::spawn_blocking(move || copy_file_with_retry(&job, &opts, &retry))
        .await
        .unwrap_or_else(|e| Err(CopyError::Transient(format!("the copy task failed: {e}"))))
}

/// [`copy_file`], retried per `retry` while it fails transiently (as
/// `copy_with_retry` does for `object_store` copies). Blocking: the waits
/// between tries end early when the copy is cancelled.
pub fn copy_file_with_retry(
    job: &LocalCopy,
    opts: &LocalOptions,
    retry: &RetryPolicy,
) -> Result<CopyOutcome, CopyError> {
    let mut attempt = 1;
    loop {
        match copy_file(job, opts) {
            Err(e) if e.is_transient() && attempt < retry.attempts => {
                let delay = retry.delay(attempt, rand::random::<f64>());
                tracing::debug!(path = %job.src.display(), attempt, ?delay, error = %e, "retrying a transient copy failure");
                let until = std::time::Instant::now() + delay;
                while std::time::Instant::now() < until {
                    if opts.cancel.is_cancelled() {
                        return Err(CopyError::Cancelled);
                    }
                    std::thread::sleep(delay.min(std::time::Duration::from_millis(50)));
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether `dst` already holds the expected document (an idempotent re-run
/// after a crash between writing and recording): the right size and, when a
/// checksum is expected, the right SHA-256. Any error means "no". Blocking.
pub fn already_present_local(dst: &Path, expected: &Expected) -> bool {
    let Ok(mut file) = File::open(dst) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if !meta.is_file() || expected.size.is_some_and(|s| s != meta.len()) {
        return false;
    }
    let Some(want) = expected.sha256.as_deref() else {
        return true;
    };
    let mut tally = Tally::new(meta.len());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if tally.add(&buf[..n]).is_ok() => {}
            _ => return false,
        }
    }
    let want = Expected {
        size: None,
        sha256: Some(want.to_owned()),
    };
    tally.finish(&want).is_ok()
}

/// Copies one file, verified; see the module documentation. Blocking.
pub fn copy_file(job: &LocalCopy, opts: &LocalOptions) -> Result<CopyOutcome, CopyError> {
    if opts.cancel.is_cancelled() {
        return Err(CopyError::Cancelled);
    }
    let (mut src, size) = open_source(job)?;
    if let Some(want) = job.expected.size
        && want != size
    {
        return Err(CopyError::SizeMismatch {
            expected: want,
            actual: size,
        });
    }
    if size <= opts.whole_below {
        copy_whole(&mut src, size, job, opts)
    } else {
        copy_pipelined(src, size, job, opts)
    }
}

/// Small documents: read whole, verify, then write (nothing is created when
/// the bytes are wrong).
fn copy_whole(
    src: &mut File,
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<CopyOutcome, CopyError> {
    // One byte more than announced: a source that grew is noticed.
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    src.take(size.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| source_error(&job.src, &e))?;
    let mut tally = Tally::new(size);
    tally.add(&buf)?;
    let outcome = tally.finish(&job.expected)?;
    if let Some(pace) = &opts.pace {
        pace(buf.len());
    }
    let mut staged = Staged::create(&job.dst)?;
    staged.write(&buf)?;
    staged.commit()?;
    Ok(outcome)
}

/// Large documents: a reader thread reads and hashes block after block
/// while this thread writes them to the staging file; renamed into place
/// once the tally matches.
fn copy_pipelined(
    src: File,
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<CopyOutcome, CopyError> {
    let mut staged = Staged::create(&job.dst)?;
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH + 1);
    for _ in 0..=PIPELINE_DEPTH {
        // Capacity only: pages are touched as blocks are filled.
        let _ = free_tx.send(Vec::with_capacity(opts.block));
    }
    let (read, written) = std::thread::scope(|s| {
        let reader = s.spawn(|| read_blocks(src, size, job, opts, free_rx, full_tx));
        let written = write_blocks(&mut staged, opts, full_rx, free_tx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(CopyError::Transient("the reader thread panicked".into())));
        (read, written)
    });
    // A reader error explains a writer that stopped early; report it first.
    let outcome = read?;
    written?;
    staged.commit()?;
    Ok(outcome)
}

fn read_blocks(
    mut src: File,
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
    free: Receiver<Vec<u8>>,
    full: SyncSender<Vec<u8>>,
) -> Result<CopyOutcome, CopyError> {
    let mut tally = Tally::new(size);
    // One byte past the announced size is read, so growth is noticed.
    let mut left = size.saturating_add(1);
    while left > 0 {
        if opts.cancel.is_cancelled() {
            return Err(CopyError::Cancelled);
        }
        let Ok(mut buf) = free.recv() else {
            // The writer stopped (its error is reported).
            return Err(CopyError::Transient("the write side stopped".into()));
        };
        buf.clear();
        let want = left.min(opts.block as u64);
        (&mut src)
            .take(want)
            .read_to_end(&mut buf)
            .map_err(|e| source_error(&job.src, &e))?;
        if buf.is_empty() {
            break;
        }
        left -= buf.len() as u64;
        tally.add(&buf)?;
        if full.send(buf).is_err() {
            return Err(CopyError::Transient("the write side stopped".into()));
        }
    }
    drop(full);
    tally.finish(&job.expected)
}

fn write_blocks(
    staged: &mut Staged,
    opts: &LocalOptions,
    full: Receiver<Vec<u8>>,
    free: SyncSender<Vec<u8>>,
) -> Result<(), CopyError> {
    for buf in full {
        if let Some(pace) = &opts.pace {
            pace(buf.len());
        }
        staged.write(&buf)?;
        // The reader may have finished; the block is then simply dropped.
        let _ = free.send(buf);
    }
    Ok(())
}

/// Opens the source and checks it: a regular file, inside the archive.
fn open_source(job: &LocalCopy) -> Result<(File, u64), CopyError> {
    let file = match open_nonblocking(&job.src) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // A dangling link is refused for where it points, not reported
            // as missing: putting a file "back" would not make it readable.
            return match std::fs::symlink_metadata(&job.src) {
                Ok(meta) if meta.file_type().is_symlink() && job.src_root.is_some() => {
                    Err(outside())
                }
                _ => Err(CopyError::Missing),
            };
        }
        Err(e) if e.kind() == ErrorKind::NotADirectory => return Err(CopyError::Missing),
        Err(e) => return Err(source_error(&job.src, &e)),
    };
    if let Some(root) = &job.src_root
        && !resolved(&file, &job.src)?.starts_with(root)
    {
        return Err(outside());
    }
    let meta = file.metadata().map_err(|e| source_error(&job.src, &e))?;
    if !meta.is_file() {
        return Err(CopyError::Missing);
    }
    Ok((file, meta.len()))
}

fn outside() -> CopyError {
    CopyError::Permanent(
        "the path resolves outside the archive (a symbolic link leaves it); not followed"
            .to_owned(),
    )
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Where the opened file really is: on Linux the kernel's own answer for the
/// descriptor (the file that will be read, one system call); elsewhere the
/// path resolved again.
fn resolved(file: &File, path: &Path) -> Result<PathBuf, CopyError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(p) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Ok(p);
        }
    }
    let _ = file;
    std::fs::canonicalize(path).map_err(|e| source_error(path, &e))
}

/// A file being written under a staging name, renamed into place by
/// [`Staged::commit`] and removed when dropped before that.
struct Staged {
    file: Option<File>,
    staging: PathBuf,
    dst: PathBuf,
}

impl Staged {
    fn create(dst: &Path) -> Result<Staged, CopyError> {
        let mut made_dirs = false;
        loop {
            let mut name = dst.as_os_str().to_owned();
            name.push(format!("#{}", rand::random::<u32>()));
            let staging = PathBuf::from(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)
            {
                Ok(file) => {
                    return Ok(Staged {
                        file: Some(file),
                        staging,
                        dst: dst.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound && !made_dirs => {
                    if let Some(parent) = dst.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| dest_error(parent, &e))?;
                    }
                    made_dirs = true;
                }
                Err(e) => return Err(dest_error(&staging, &e)),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), CopyError> {
        let Some(file) = self.file.as_mut() else {
            return Err(CopyError::Transient("the staging file is closed".into()));
        };
        file.write_all(bytes)
            .map_err(|e| dest_error(&self.staging, &e))
    }

    fn commit(mut self) -> Result<(), CopyError> {
        drop(self.file.take());
        std::fs::rename(&self.staging, &self.dst).map_err(|e| dest_error(&self.dst, &e))?;
        self.staging.clear();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.staging.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}

fn source_error(path: &Path, e: &std::io::Error) -> CopyError {
    io_error(format!("reading {}: {e}", path.display()), e)
}

fn dest_error(path: &Path, e: &std::io::Error) -> CopyError {
    io_error(format!("writing {}: {e}", path.display()), e)
}

/// Errors that waiting cannot fix are permanent; the rest (a full disk, an
/// interrupted device) are worth the bounded retries.
fn io_error(message: String, e: &std::io::Error) -> CopyError {
    match e.kind() {
        ErrorKind::PermissionDenied
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::InvalidInput
        | ErrorKind::InvalidFilename
        | ErrorKind::ReadOnlyFilesystem
        | ErrorKind::DirectoryNotEmpty => CopyError::Permanent(message),
        _ => CopyError::Transient(message),
    }
}

#[cfg(test)]
mod tests;
