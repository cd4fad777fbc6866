//! A local archive into an object store (S3 in production): lanes open,
//! read and verify the small documents (`transfer::local::read_whole`, the
//! archive's symlink rule included) and hand the bytes to futures that `put`
//! them, `concurrency` at a time; larger documents are streamed in parts by
//! `copy_with_retry`, as from any other source.
//!
//! Why: through `object_store`, a small local document cost three hops to
//! the blocking pool before its upload (resolving the path, open + `fstat`,
//! the read), then a wake-up to come back, and switching threads was the
//! largest cost of uploading 20,000 × 4 KiB to S3 (futex waits and wakes,
//! about 40 % of the process's CPU). A lane reads document after document
//! without being woken for each, as the local → local lanes do.
//!
//! Memory: a document is read whole only up to `LocalOptions::whole_below`
//! (1 MiB), and at most `READY` read documents wait for a free upload.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use ferry_store::{DocumentOutcome, StoreError, WorkItem};
use futures::{Stream, StreamExt};
use object_store::path::Path;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Copier, lanes, outcome_of};
use crate::transfer::local::{read_whole, retry_blocking};
use crate::transfer::{CopyError, CopyOutcome, put_whole, with_retry};

/// Read documents waiting for an upload slot.
const READY: usize = 16;

/// Lanes reading: the documents are in the page cache or on a local disk,
/// so two keep both cores' worth of uploads fed.
const READERS: usize = 2;

/// A work item after its lane.
pub(super) enum Prepared {
    /// Read whole and verified: only the `put` is left.
    Read {
        item: WorkItem,
        dst: Path,
        bytes: Bytes,
        outcome: CopyOutcome,
    },
    /// Too large to read whole: streamed by `Copier::copy`.
    Stream(WorkItem),
    /// Nothing to upload: its outcome (`missing`, `failed`), or `None` when
    /// cancelled.
    Ended(Option<DocumentOutcome>),
}

/// Copies `work` from the local archive into the object store; the work
/// list's error, if reading it failed. Outcomes go to `tx`.
pub async fn run(
    copier: Arc<Copier>,
    work: impl Stream<Item = Result<WorkItem, StoreError>>,
    concurrency: usize,
    tx: mpsc::Sender<DocumentOutcome>,
    cancel: CancellationToken,
) -> Option<StoreError> {
    let (ready_tx, ready_rx) = mpsc::channel::<Prepared>(READY);
    let step: lanes::Step<Prepared> = {
        let copier = copier.clone();
        Arc::new(move |item| Some(copier.prepare(item)))
    };
    let readers = lanes::run(step, work, READERS, ready_tx, cancel.clone());
    let uploads = async {
        let finished = futures::stream::unfold(ready_rx, |mut rx| async move {
            rx.recv().await.map(|p| (p, rx))
        })
        .map(|p| {
            let copier = copier.clone();
            async move { copier.finish(p).await }
        })
        .buffer_unordered(concurrency.max(1));
        let mut finished = std::pin::pin!(finished);
        while let Some(next) = finished.next().await {
            if let Some(outcome) = next
                && tx.send(outcome).await.is_err()
            {
                // The recorder stopped; its error is the job's.
                cancel.cancel();
            }
        }
    };
    let (failure, ()) = tokio::join!(readers, uploads);
    failure
}

impl Copier {
    /// A lane's part (blocking): plan, open, read and verify a small
    /// document of the local archive, retrying transient read failures.
    fn prepare(&self, item: WorkItem) -> Prepared {
        let planned = self.plan(&item).and_then(|(doc, dst, expected)| {
            match self.archive.local_file(&doc)? {
                Some((file, root)) => Ok(Some((file, root, dst, expected))),
                None => Ok(None),
            }
        });
        let (file, root, dst, expected): (PathBuf, PathBuf, Path, _) = match planned {
            Ok(Some(p)) => p,
            Ok(None) => return Prepared::Stream(item),
            Err(e) => return Prepared::Ended(outcome_of(item, Err(e))),
        };
        let read = retry_blocking(&self.retry, &self.opts.cancel, &file, || {
            read_whole(&file, Some(&root), &expected, &self.reads)
        });
        match read {
            Ok(Some((bytes, outcome))) => Prepared::Read {
                item,
                dst,
                bytes,
                outcome,
            },
            Ok(None) => Prepared::Stream(item),
            Err(e) => Prepared::Ended(outcome_of(item, Err(e))),
        }
    }

    /// The futures' part: the `put` (retried while it fails transiently),
    /// or the streamed copy.
    async fn finish(&self, prepared: Prepared) -> Option<DocumentOutcome> {
        match prepared {
            Prepared::Read {
                item,
                dst,
                bytes,
                outcome,
            } => {
                let put = with_retry(&self.retry, &self.opts.cancel, &dst, || {
                    put_whole(self.dst.as_ref(), &dst, bytes.clone(), &self.opts.cancel)
                })
                .await;
                let result: Result<_, CopyError> = put.map(|()| (outcome.sha256, outcome.bytes));
                outcome_of(item, result)
            }
            Prepared::Stream(item) => self.copy(item).await,
            Prepared::Ended(outcome) => outcome,
        }
    }
}
