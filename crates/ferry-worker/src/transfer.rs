//! The streaming copy engine of the upload job (SPEC §3.6): one object from a
//! source store to the tenant store, through `object_store` on both sides.
//!
//! - Never a whole object in memory: the source is read as a byte stream and
//!   written in parts; memory per copy is about
//!   `(part_concurrency + 1) × part size` (small objects: at most the
//!   multipart threshold).
//! - SHA-256 is computed on the way, and size and checksum are compared
//!   *before* the write is committed (the multipart `complete` or the single
//!   `put`), so a mismatching object is never visible at the destination and
//!   nothing has to be deleted afterwards — deleting would also race with
//!   another worker that copies the same document correctly at the same time.
//! - Every failure after a multipart upload started aborts it, so no upload
//!   is left open (for S3, also configure a lifecycle rule that aborts
//!   incomplete uploads: a killed process cannot abort anything).

pub mod local;
mod read;
mod retry;

use std::sync::Arc;

use bytes::Bytes;
use ferry_domain::manifest::{DocumentPath, ManifestRow};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio_util::sync::CancellationToken;

pub use read::already_present;
use read::{Tally, byte_stream};
pub use retry::{RetryPolicy, copy_with_retry, with_retry};

/// What the manifest says about a document; `None` means "not known".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    /// Hex digest; compared ignoring case.
    pub sha256: Option<String>,
}

impl From<&ManifestRow> for Expected {
    fn from(row: &ManifestRow) -> Self {
        Self {
            size: Some(row.size),
            sha256: row.sha256.as_ref().map(|s| s.as_str().to_owned()),
        }
    }
}

/// A finished copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    pub bytes: u64,
    /// Lowercase hex SHA-256 of what was written (computed even when the
    /// manifest gave none, for the ledger).
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// Not in the source: an expected outcome (`missing`), not a failure.
    #[error("the document is not in the source archive")]
    Missing,
    #[error("size mismatch: expected {expected} bytes, the source has {actual}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("checksum mismatch: expected SHA-256 {expected}, the source has {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    /// I/O or network trouble that may pass; worth retrying.
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    /// Stopped through [`CopyOptions::cancel`]; nothing was written.
    #[error("the copy was cancelled")]
    Cancelled,
}

impl CopyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// Stable code for the outcome ledger.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::SizeMismatch { .. } => "size_mismatch",
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::Transient(_) => "io_error",
            Self::Permanent(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Which side an `object_store` error came from: "not found" means a missing
/// document on the source side, but a vanished upload on the destination.
#[derive(Clone, Copy)]
enum Side {
    Source,
    Destination,
}

fn classify(e: object_store::Error, side: Side) -> CopyError {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } if matches!(side, Side::Source) => CopyError::Missing,
        // Configuration, permission and path errors do not go away by waiting.
        E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::UnknownConfigurationKey { .. }
        | E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::NotModified { .. } => CopyError::Permanent(with_causes(&e)),
        // `Generic` is how stores report I/O and network failures (after
        // their own HTTP retries); unknown future variants are treated
        // alike, as retrying costs only a bounded number of attempts.
        _ => CopyError::Transient(with_causes(&e)),
    }
}

/// The error and every cause its message does not already show: an HTTP
/// client reports a stalled body as "request or response body error", and
/// only the cause says "operation timed out" — the reason the ledger needs.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Objects smaller than this are buffered and written with one `put`.
    pub multipart_threshold: u64,
    /// Smallest part of a multipart upload (S3: 5 MiB, except the last).
    pub min_part_size: usize,
    /// Parts an upload may have at most (S3: 10,000); part sizes are chosen
    /// so that an object needs fewer.
    pub max_parts: u64,
    /// Parts of one object uploaded at the same time.
    pub part_concurrency: usize,
    /// Read size for sources on the local file system (object_store's own
    /// 8 KiB reads cost one blocking-pool hop each).
    pub read_chunk: usize,
    /// Cancelling stops copies cleanly: uploads aborted, nothing written.
    pub cancel: CancellationToken,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            multipart_threshold: 8 * MIB,
            min_part_size: 5 * MIB as usize,
            max_parts: 10_000,
            part_concurrency: 4,
            read_chunk: MIB as usize,
            cancel: CancellationToken::new(),
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl CopyOptions {
    /// The part size for an object of `size` bytes: the minimum, or larger
    /// so that the object needs fewer than `max_parts` parts.
    pub fn part_size(&self, size: u64) -> usize {
        let parts = self.max_parts.saturating_sub(1).max(1);
        let needed = size.div_ceil(parts);
        usize::try_from(needed).map_or(usize::MAX, |n| n.max(self.min_part_size))
    }
}

/// The object at `prefix/<doc>`, e.g. the tenant store's
/// `<tenant>/documents/<doc>` or a document under the source archive root.
/// Uses `Path::parse` (not `Path::from_iter`, which would percent-encode
/// characters such as `%` and `#` into a different key).
pub fn under(prefix: &Path, doc: &DocumentPath) -> Result<Path, CopyError> {
    let joined = if prefix.as_ref().is_empty() {
        doc.as_str().to_owned()
    } else {
        format!("{prefix}/{doc}")
    };
    Path::parse(joined).map_err(|e| CopyError::Permanent(e.to_string()))
}

/// Copies one object, streaming; see the module documentation.
pub async fn copy_object(
    src: &dyn ObjectStore,
    src_path: &Path,
    dst: &dyn ObjectStore,
    dst_path: &Path,
    expected: &Expected,
    opts: &CopyOptions,
) -> Result<CopyOutcome, CopyError> {
    if opts.cancel.is_cancelled() {
        return Err(CopyError::Cancelled);
    }
    let got = src
        .get(src_path)
        .await
        .map_err(|e| classify(e, Side::Source))?;
    let size = got.meta.size;
    // Checked before reading a byte: a wrong size is known from the metadata.
    if let Some(want) = expected.size
        && want != size
    {
        return Err(CopyError::SizeMismatch {
            expected: want,
            actual: size,
        });
    }
    let mut source = byte_stream(got, opts.read_chunk);
    let mut tally = Tally::new(size);
    if size < opts.multipart_threshold {
        let chunks = with_cancel(&opts.cancel, async {
            let mut chunks = Vec::new();
            while let Some(chunk) = next_chunk(&mut source).await? {
                tally.add(&chunk)?;
                chunks.push(chunk);
            }
            Ok(chunks)
        })
        .await?;
        let outcome = tally.finish(expected)?;
        dst.put(dst_path, PutPayload::from_iter(chunks))
            .await
            .map_err(|e| classify(e, Side::Destination))?;
        return Ok(outcome);
    }
    let upload = dst
        .put_multipart(dst_path)
        .await
        .map_err(|e| classify(e, Side::Destination))?;
    let part_size = opts.part_size(size);
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
    let pumped = with_cancel(&opts.cancel, async {
        while let Some(mut chunk) = next_chunk(&mut source).await? {
            tally.add(&chunk)?;
            // Back-pressure: at most `part_concurrency` parts in flight. A
            // source chunk may span many parts (in-memory stores hand out the
            // whole object), so it is fed at most one part's worth at a
            // time: each `put` then starts at most one part.
            while !chunk.is_empty() {
                let piece = chunk.split_to(chunk.len().min(part_size));
                writer
                    .wait_for_capacity(opts.part_concurrency.max(1))
                    .await
                    .map_err(|e| classify(e, Side::Destination))?;
                writer.put(piece);
            }
        }
        Ok(())
    })
    .await;
    let verified = pumped.and_then(|()| tally.finish(expected));
    match verified {
        // `finish` aborts the upload itself when a part or `complete` fails.
        Ok(outcome) => match writer.finish().await {
            Ok(_) => Ok(outcome),
            Err(e) => Err(classify(e, Side::Destination)),
        },
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(path = %dst_path, error = %abort, "aborting a multipart upload failed");
            }
            Err(e)
        }
    }
}

/// Writes a document already read and verified (see `local::read_whole`)
/// with one `put`.
pub async fn put_whole(
    dst: &dyn ObjectStore,
    dst_path: &Path,
    bytes: Bytes,
    cancel: &CancellationToken,
) -> Result<(), CopyError> {
    with_cancel(cancel, async {
        dst.put(dst_path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Side::Destination))
    })
    .await
}

async fn with_cancel<T>(
    cancel: &CancellationToken,
    work: impl Future<Output = Result<T, CopyError>>,
) -> Result<T, CopyError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(CopyError::Cancelled),
        result = work => result,
    }
}

async fn next_chunk(
    source: &mut BoxStream<'static, object_store::Result<Bytes>>,
) -> Result<Option<Bytes>, CopyError> {
    source
        .try_next()
        .await
        .map_err(|e| classify(e, Side::Source))
}

/// One document to copy.
#[derive(Debug, Clone)]
pub struct CopyJob<Id> {
    pub id: Id,
    pub src_path: Path,
    pub dst_path: Path,
    pub expected: Expected,
}

/// Copies `jobs` with at most `concurrency` copies at a time (each retried
/// per `retry`), yielding every job's result as it finishes, in completion
/// order. Jobs are taken from the iterator only as slots free up.
pub fn copy_many<Id, I>(
    src: Arc<dyn ObjectStore>,
    dst: Arc<dyn ObjectStore>,
    jobs: I,
    concurrency: usize,
    opts: CopyOptions,
    retry: RetryPolicy,
) -> impl Stream<Item = (Id, Result<CopyOutcome, CopyError>)>
where
    I: IntoIterator<Item = CopyJob<Id>>,
{
    let opts = Arc::new(opts);
    futures::stream::iter(jobs)
        .map(move |job| {
            let (src, dst, opts) = (src.clone(), dst.clone(), opts.clone());
            async move {
                let result = copy_with_retry(
                    src.as_ref(),
                    &job.src_path,
                    dst.as_ref(),
                    &job.dst_path,
                    &job.expected,
                    &opts,
                    &retry,
                )
                .await;
                (job.id, result)
            }
        })
        .buffer_unordered(concurrency.max(1))
}

#[cfg(test)]
mod fault;
#[cfg(test)]
mod tests;
