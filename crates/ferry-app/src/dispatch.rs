//! The dispatcher: pushes committed dispatch records (`ferry_store::outbox`)
//! to the queue. Every process that has a queue runs one (API, worker,
//! all-in-one); their rounds take turns on the outbox's lock row.
//!
//! A round runs when this process committed new records (`kick`: a start,
//! a split into batches, a batch's end that frees a slot of its migration)
//! and otherwise every `interval`, which picks up what other processes
//! committed, pushes again what the queue lost and hands out the batch
//! slots freed in other processes.

use std::sync::Arc;
use std::time::Duration;

use ferry_queue::{JobMessage, Queue};
use ferry_store::{Dispatch, DispatchLimits, Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Time between two rounds when nothing in this process asks for one.
    pub interval: Duration,
    /// Batches of one migration in the queue or running at once.
    pub batches_per_migration: i64,
    /// A job still `queued` this long after its last push is pushed again.
    pub repush_after: Duration,
    /// Bound on one queue round trip (the start's check that it answers).
    pub queue_timeout: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            batches_per_migration: 4,
            repush_after: Duration::from_secs(60),
            queue_timeout: Duration::from_secs(3),
        }
    }
}

/// Records pushed per round at most; a full round is followed by another
/// at once.
const ROUND_MAX: i64 = 500;

/// Cheap to clone; every clone shares one wake-up signal.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    queue: Queue,
    settings: DispatchSettings,
    wake: Notify,
    /// Signalled after a round pushed something: a worker in this process
    /// fetches at once instead of at its next poll tick.
    pushed: Arc<Notify>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("queue", &self.inner.queue)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the queue refused job {job_id}: {error}")]
    Queue {
        job_id: String,
        error: ferry_queue::QueueError,
    },
}

impl Dispatcher {
    pub fn new(store: Store, queue: Queue, settings: DispatchSettings) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                queue,
                settings,
                wake: Notify::new(),
                pushed: Arc::new(Notify::new()),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    pub fn settings(&self) -> &DispatchSettings {
        &self.inner.settings
    }

    /// Asks for a round soon: call after committing dispatch records or
    /// ending a batch. Several kicks before the round make one round.
    pub fn kick(&self) {
        self.inner.wake.notify_one();
    }

    /// Signalled (one stored permit) whenever a round pushed a message to
    /// the queue: a worker of this process can fetch at once rather than at
    /// its next poll tick, which is most of a job's wait in the queue.
    pub fn pushed(&self) -> Arc<Notify> {
        self.inner.pushed.clone()
    }

    /// One round; how many records it pushed. A push the queue refuses
    /// puts that record and the rest of the round back for the next one.
    pub async fn round(&self) -> Result<usize, DispatchError> {
        let s = &self.inner.settings;
        let picked = self
            .inner
            .store
            .claim_dispatch(&DispatchLimits {
                batches_per_migration: s.batches_per_migration,
                repush_before: ferry_store::ago(s.repush_after),
                max: ROUND_MAX,
            })
            .await?;
        for (i, d) in picked.iter().enumerate() {
            let message = JobMessage {
                job_id: d.job_id.clone(),
                push: d.push,
            };
            if let Err(error) = self.inner.queue.push(message).await {
                self.put_back(&picked[i..]).await;
                return Err(DispatchError::Queue {
                    job_id: d.job_id.clone(),
                    error,
                });
            }
            if d.push > 1 {
                tracing::warn!(job_id = %d.job_id, push = d.push, "job still queued long after its push; pushed again");
            }
        }
        if !picked.is_empty() {
            self.inner.pushed.notify_one();
        }
        Ok(picked.len())
    }

    async fn put_back(&self, rest: &[Dispatch]) {
        for d in rest {
            if let Err(e) = self.inner.store.dispatch_failed(d).await {
                // The age rule pushes it again later.
                tracing::warn!(job_id = %d.job_id, error = %e, "cannot put a dispatch record back");
            }
        }
    }

    /// Runs rounds until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = self.inner.settings.interval;
        loop {
            match self.round().await {
                // A full round: more may be waiting.
                Ok(n) if n as i64 >= ROUND_MAX => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "dispatch round failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
