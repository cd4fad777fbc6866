//! Blocking work per document on a fixed set of threads ("lanes"), each
//! taking the next work item as soon as it finished the last: local → local
//! uploads copy there and hand outcomes to the recorder; a local archive
//! into an object store reads small documents there (`reads`).
//!
//! Why not one future per document, as for `object_store` copies: a small
//! local document is a handful of system calls, and the profile of 20,000
//! × 4 KiB showed the process mostly switching threads (`spawn_blocking`
//! per step, wake-ups, channel hand-offs) rather than copying. A lane pays
//! the hop to the blocking pool once per job, not once per document.

use std::sync::{Arc, Mutex};

use ferry_store::{StoreError, WorkItem};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Work items queued for the lanes: a few pages of the work list, so a lane
/// never waits for the next page's query.
const QUEUED_ITEMS: usize = 2048;

/// What a lane does with one work item, on its (blocking) thread; `None`:
/// nothing to hand on (a cancelled copy).
pub type Step<T> = Arc<dyn Fn(WorkItem) -> Option<T> + Send + Sync>;

/// Runs `lanes` lanes of `step` over `work`; the work list's error, if
/// reading it failed. Results go to `tx`; a closed `tx` (its consumer
/// failed) or a lane that panicked cancels the job's work.
pub async fn run<T: Send + 'static>(
    step: Step<T>,
    work: impl Stream<Item = Result<WorkItem, StoreError>>,
    lanes: usize,
    tx: mpsc::Sender<T>,
    cancel: CancellationToken,
) -> Option<StoreError> {
    let (item_tx, item_rx) = mpsc::channel::<WorkItem>(QUEUED_ITEMS);
    let item_rx = Arc::new(Mutex::new(item_rx));
    let handles: Vec<_> = (0..lanes.max(1))
        .map(|_| {
            let (step, rx, tx, cancel) =
                (step.clone(), item_rx.clone(), tx.clone(), cancel.clone());
            tokio::task::spawn_blocking(move || lane(&*step, &rx, &tx, &cancel))
        })
        .collect();
    // Only the lanes hold the receiver: if they all stop, feeding fails
    // instead of waiting on a full channel.
    drop(item_rx);
    drop(tx);
    let mut failure = None;
    let mut work = std::pin::pin!(work);
    while let Some(next) = work.next().await {
        match next {
            Ok(item) => {
                if item_tx.send(item).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(e);
                cancel.cancel();
                break;
            }
        }
    }
    drop(item_tx);
    tracing::debug!("work list fed to the lanes");
    for handle in handles {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "a copy lane panicked");
            cancel.cancel();
        }
    }
    tracing::debug!("lanes done");
    failure
}

fn lane<T>(
    step: &(dyn Fn(WorkItem) -> Option<T> + Send + Sync),
    rx: &Mutex<mpsc::Receiver<WorkItem>>,
    tx: &mpsc::Sender<T>,
    cancel: &CancellationToken,
) {
    loop {
        // The lock is held while waiting: the other lanes queue behind it,
        // and whoever holds it takes the next item.
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(item) = next else {
            return;
        };
        if cancel.is_cancelled() {
            // Drain what was queued: nothing is recorded for it.
            continue;
        }
        if let Some(out) = step(item)
            && tx.blocking_send(out).is_err()
        {
            // The consumer stopped; its error is the job's.
            cancel.cancel();
            return;
        }
    }
}
