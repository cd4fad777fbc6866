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
//! Large documents are hashed on one thread while the kernel copies them on
//! another (see `copy_pipelined`); memory per copy: one block.
//!
//! The archive's symlink rule (see `upload::archive`) is checked on the file
//! actually opened: its resolved path (`/proc/self/fd`) must lie under the
//! archive's resolved root. Sources are opened non-blocking, so a FIFO
//! planted in an archive cannot hang a worker; anything that is not a
//! regular file is `missing`, as `object_store` reports it.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::read::Tally;
use super::{CopyError, CopyOutcome, Expected, RetryPolicy};

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
    /// Archive folders whose path resolved to itself (no symbolic link in
    /// any component), shared by one job's copies: a document in such a
    /// folder opened with `O_NOFOLLOW` needs no resolution of its own.
    pub plain_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            whole_below: 1 << 20,
            block: 1 << 20,
            cancel: CancellationToken::new(),
            pace: None,
            plain_dirs: Arc::default(),
        }
    }
}

/// Folders remembered in [`LocalOptions::plain_dirs`] at most (the set is
/// emptied when full: it only saves a system call per document).
const PLAIN_DIRS_MAX: usize = 100_000;

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
/// `copy_with_retry` does for `object_store` copies). Blocking.
pub fn copy_file_with_retry(
    job: &LocalCopy,
    opts: &LocalOptions,
    retry: &RetryPolicy,
) -> Result<CopyOutcome, CopyError> {
    retry_blocking(retry, &opts.cancel, &job.src, || copy_file(job, opts))
}

/// `attempt` tried again per `retry` while it fails transiently, on this
/// (blocking) thread: the waits between tries end early when `cancel` fires.
pub fn retry_blocking<T>(
    retry: &RetryPolicy,
    cancel: &CancellationToken,
    path: &Path,
    mut attempt: impl FnMut() -> Result<T, CopyError>,
) -> Result<T, CopyError> {
    let mut tried = 1;
    loop {
        match attempt() {
            Err(e) if e.is_transient() && tried < retry.attempts => {
                let delay = retry.delay(tried, rand::random::<f64>());
                tracing::debug!(path = %path.display(), attempt = tried, ?delay, error = %e, "retrying a transient copy failure");
                let until = std::time::Instant::now() + delay;
                while std::time::Instant::now() < until {
                    if cancel.is_cancelled() {
                        return Err(CopyError::Cancelled);
                    }
                    std::thread::sleep(delay.min(std::time::Duration::from_millis(50)));
                }
                tried += 1;
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
    let (mut src, size) = open_expected(&job.src, job.src_root.as_deref(), &job.expected, opts)?;
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
    WHOLE_BUF.with_borrow_mut(|buf| {
        buf.clear();
        read_announced(src, size, buf).map_err(|e| source_error(&job.src, &e))?;
        write_whole(buf, size, job, opts)
    })
}

/// A small local document (up to `whole_below`) read whole and verified,
/// for a destination that is not a local folder: the caller `put`s the
/// bytes (see `upload::reads`); `None` when it is larger (the caller
/// streams it). Blocking.
pub fn read_whole(
    src: &Path,
    src_root: Option<&Path>,
    expected: &Expected,
    opts: &LocalOptions,
) -> Result<Option<(bytes::Bytes, CopyOutcome)>, CopyError> {
    let (file, size) = open_expected(src, src_root, expected, opts)?;
    if size > opts.whole_below {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    read_announced(file, size, &mut buf).map_err(|e| source_error(src, &e))?;
    let mut tally = Tally::new(size);
    tally.add(&buf)?;
    let outcome = tally.finish(expected)?;
    Ok(Some((buf.into(), outcome)))
}

/// The source opened (see `open_source`) and its size, which must be the
/// expected one: a wrong size is known before a byte is read.
fn open_expected(
    src: &Path,
    src_root: Option<&Path>,
    expected: &Expected,
    opts: &LocalOptions,
) -> Result<(File, u64), CopyError> {
    if opts.cancel.is_cancelled() {
        return Err(CopyError::Cancelled);
    }
    let (file, size) = open_source(src, src_root, opts)?;
    if let Some(want) = expected.size
        && want != size
    {
        return Err(CopyError::SizeMismatch {
            expected: want,
            actual: size,
        });
    }
    Ok((file, size))
}

/// Reads `file` into `buf`, one byte more than its announced `size`: a
/// source that grew is noticed (the tally refuses the extra byte).
fn read_announced(file: impl Read, size: u64, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    file.take(size.saturating_add(1)).read_to_end(buf)
}

thread_local! {
    /// The block a thread reads small documents into, reused: a fresh
    /// allocation per document cost page faults (4 % of a 20,000-document
    /// upload in the profile).
    static WHOLE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn write_whole(
    buf: &[u8],
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<CopyOutcome, CopyError> {
    let mut tally = Tally::new(size);
    tally.add(buf)?;
    let outcome = tally.finish(&job.expected)?;
    if let Some(pace) = &opts.pace {
        pace(buf.len());
    }
    let mut staged = Staged::create(&job.dst)?;
    staged.write(buf)?;
    staged.commit()?;
    Ok(outcome)
}

/// Large documents: a hashing thread reads the source block after block
/// (positional reads) while this thread has the kernel copy the same bytes
/// into the staging file (`copy_file_range` through `std::io::copy`), both
/// from the page cache; renamed into place once the tally matches and the
/// source is unchanged.
///
/// Why not write the hashed blocks: on this machine's ext4 the copy of
/// user memory into fresh page-cache pages (`copy_folio_from_iter_atomic`)
/// took 70 % of an 8 × 256 MiB upload, more than hashing; the kernel's own
/// copy is what `cp` does. The bytes written are then not the bytes hashed,
/// so the source's size, modification and change times are compared before
/// and after: a file written to in between (ctime moves on every write) is
/// a transient failure, copied again, never stored with a wrong checksum.
fn copy_pipelined(
    src: File,
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<CopyOutcome, CopyError> {
    let before = Stamp::of(&src, &job.src)?;
    let mut staged = Staged::create(&job.dst)?;
    let (hashed, copied) = std::thread::scope(|s| {
        let hasher = s.spawn(|| hash_blocks(&src, size, job, opts));
        let copied = copy_blocks(&src, size, &mut staged, job, opts);
        let hashed = hasher
            .join()
            .unwrap_or_else(|_| Err(CopyError::Transient("the hashing thread panicked".into())));
        (hashed, copied)
    });
    // A hashing error explains a copy that stopped early; report it first.
    let outcome = hashed?;
    copied?;
    if Stamp::of(&src, &job.src)? != before {
        return Err(CopyError::Transient(
            "the source changed while being copied".to_owned(),
        ));
    }
    staged.commit()?;
    Ok(outcome)
}

/// What tells that a file was written to: size, modification and change time.
#[derive(PartialEq, Eq)]
struct Stamp(u64, Option<std::time::SystemTime>, i64, i64);

impl Stamp {
    fn of(file: &File, path: &Path) -> Result<Stamp, CopyError> {
        let meta = file.metadata().map_err(|e| source_error(path, &e))?;
        #[cfg(unix)]
        let changed = {
            use std::os::unix::fs::MetadataExt;
            (meta.ctime(), meta.ctime_nsec())
        };
        #[cfg(not(unix))]
        let changed = (0, 0);
        Ok(Stamp(
            meta.len(),
            meta.modified().ok(),
            changed.0,
            changed.1,
        ))
    }
}

/// Reads `src` from the start (positional reads: the copy moves the
/// descriptor's offset) and hashes it; one byte past `size` is asked for, so
/// growth is noticed.
fn hash_blocks(
    src: &File,
    size: u64,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<CopyOutcome, CopyError> {
    let mut tally = Tally::new(size);
    let mut buf = vec![0u8; opts.block.max(1)];
    let mut pos = 0u64;
    loop {
        if opts.cancel.is_cancelled() {
            return Err(CopyError::Cancelled);
        }
        let n = read_at(src, &mut buf, pos).map_err(|e| source_error(&job.src, &e))?;
        if n == 0 {
            break;
        }
        tally.add(&buf[..n])?;
        pos += n as u64;
    }
    tally.finish(&job.expected)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    use std::os::windows::fs::FileExt;
    file.seek_read(buf, pos)
}

/// Copies `size` bytes of `src` (from its current offset, the start) into
/// the staging file, a block per call so that pacing and cancelling act
/// between blocks.
fn copy_blocks(
    mut src: &File,
    size: u64,
    staged: &mut Staged,
    job: &LocalCopy,
    opts: &LocalOptions,
) -> Result<(), CopyError> {
    let step = (opts.block as u64).max(1) * COPY_BLOCKS;
    let mut left = size;
    while left > 0 {
        if opts.cancel.is_cancelled() {
            return Err(CopyError::Cancelled);
        }
        let want = left.min(step);
        if let Some(pace) = &opts.pace {
            pace(usize::try_from(want).unwrap_or(usize::MAX));
        }
        let file = staged.file_mut()?;
        let n = std::io::copy(&mut (&mut src).take(want), file)
            .map_err(|e| dest_error(&job.dst, &e))?;
        if n == 0 {
            // Shrank: the hashing side reports it (and the stamps differ).
            return Ok(());
        }
        left -= n;
    }
    Ok(())
}

/// Blocks per kernel copy call: fewer calls, yet pacing and cancelling still
/// act every few MiB.
const COPY_BLOCKS: u64 = 8;

/// Opens the source and checks it: a regular file, inside the archive.
///
/// The symlink rule costs a resolution of the opened descriptor — unless
/// the document's folder is known to be free of links (`plain_dirs`) and
/// the document itself is no link (`O_NOFOLLOW`): then its path, under the
/// archive's resolved root, is where it is.
fn open_source(
    src: &Path,
    src_root: Option<&Path>,
    opts: &LocalOptions,
) -> Result<(File, u64), CopyError> {
    let parent = src.parent().map(Path::to_path_buf);
    if src_root.is_some()
        && let Some(dir) = &parent
        && opts
            .plain_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(dir)
        && let Ok(file) = open_nonblocking_nofollow(src)
    {
        return checked(file, src);
    }
    let file = match open_nonblocking(src) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // A dangling link is refused for where it points, not reported
            // as missing: putting a file "back" would not make it readable.
            return match std::fs::symlink_metadata(src) {
                Ok(meta) if meta.file_type().is_symlink() && src_root.is_some() => Err(outside()),
                _ => Err(CopyError::Missing),
            };
        }
        Err(e) if e.kind() == ErrorKind::NotADirectory => return Err(CopyError::Missing),
        Err(e) => return Err(source_error(src, &e)),
    };
    if let Some(root) = src_root {
        let real = resolved(&file, src)?;
        if !real.starts_with(root) {
            return Err(outside());
        }
        if real == src
            && let Some(dir) = parent
        {
            let mut plain = opts.plain_dirs.lock().unwrap_or_else(|e| e.into_inner());
            if plain.len() >= PLAIN_DIRS_MAX {
                plain.clear();
            }
            plain.insert(dir);
        }
    }
    checked(file, src)
}

/// The opened source's size, if it is a regular file.
fn checked(file: File, src: &Path) -> Result<(File, u64), CopyError> {
    let meta = file.metadata().map_err(|e| source_error(src, &e))?;
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

/// [`open_nonblocking`], failing on a symbolic link as the last component.
#[cfg(unix)]
fn open_nonblocking_nofollow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking_nofollow(_path: &Path) -> std::io::Result<File> {
    Err(std::io::Error::from(ErrorKind::Unsupported))
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

    fn file_mut(&mut self) -> Result<&mut File, CopyError> {
        self.file
            .as_mut()
            .ok_or_else(|| CopyError::Transient("the staging file is closed".into()))
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
