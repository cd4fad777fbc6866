//! How often the worker asks its queue for work: a fixed interval whose
//! timer is armed again the moment it fires.
//!
//! apalis-core 1.0's `IntervalStrategy` makes a fresh timer when one fires
//! but does not poll it, so nothing is registered to wake the worker at the
//! next tick. When the tick that fired also finds the queue's fetch
//! finished and empty (the fetch was in flight when the timer woke the
//! worker), the worker parks with no timer armed and sleeps until its next
//! heartbeat (seconds): an enqueued job waited up to 5 s in the queue
//! benchmark and after idling (issue 18). This strategy polls the new timer
//! at once, so a tick always has a successor.
//!
//! In a process that also dispatches (all-in-one), the dispatcher's push
//! signal ends the wait early: the worker fetches right after a job was
//! pushed instead of up to a whole interval later.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use tokio::sync::{Notify, futures::OwnedNotified};
use tokio::time::{Instant, Sleep};

/// Wakes the worker every `every`, whatever else it is doing, and when
/// `nudge` is signalled.
pub struct ArmedInterval {
    every: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    nudge: Option<(Arc<Notify>, Pin<Box<OwnedNotified>>)>,
}

impl std::fmt::Debug for ArmedInterval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmedInterval")
            .field("every", &self.every)
            .field("nudged", &self.nudge.is_some())
            .finish()
    }
}

impl ArmedInterval {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            timer: None,
            nudge: None,
        }
    }

    /// Also wakes when `signal` is notified (the dispatcher's push).
    pub fn nudged_by(mut self, signal: Arc<Notify>) -> Self {
        let waiting = Box::pin(signal.clone().notified_owned());
        self.nudge = Some((signal, waiting));
        self
    }
}

impl PollStrategy for ArmedInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        if let Some((signal, waiting)) = &mut self.nudge
            && waiting.as_mut().poll(cx).is_ready()
        {
            // Wait for the next signal, registered with this task's waker
            // (a signal given meanwhile is kept as a permit).
            *waiting = Box::pin(signal.clone().notified_owned());
            let _ = waiting.as_mut().poll(cx);
            return Poll::Ready(Some(()));
        }
        let every = self.every;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        timer.as_mut().reset(Instant::now() + every);
        // Registers this task's waker with the next tick (it cannot be due
        // yet, so this is always Pending).
        let _ = timer.as_mut().poll(cx);
        Poll::Ready(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The worker polls the strategy once per wake-up. After a tick fired,
    /// the next one must wake the worker without the worker polling again in
    /// between — the lost wake-up apalis' own interval has.
    #[tokio::test]
    async fn a_fired_tick_arms_the_next() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = ArmedInterval::new(Duration::from_millis(20));
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the first tick woke the worker"
        );
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        // No poll here: the worker found nothing and parked.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "the tick after a fired one wakes the worker by itself"
        );
    }

    /// A nudge fetches at once, long before the tick, and the next nudge
    /// (given while the worker was busy) is not lost.
    #[tokio::test]
    async fn a_nudge_wakes_the_worker_before_the_tick() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let signal = Arc::new(Notify::new());
        let mut strategy = ArmedInterval::new(Duration::from_secs(3600)).nudged_by(signal.clone());
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        signal.notify_one();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the nudge woke the worker"
        );
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        // Given while the worker is not waiting: kept for its next poll.
        signal.notify_one();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
    }

    /// Why this module exists: apalis-core's own interval loses the tick
    /// after a fired one. When this starts failing, apalis fixed it and
    /// `poll_with_interval` can come back.
    #[tokio::test]
    async fn apalis_interval_loses_the_tick_after_a_fired_one() {
        use apalis_core::backend::ext::poll_strategy::IntervalStrategy;
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = IntervalStrategy::new(Duration::from_millis(20));
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "no second wake-up");
    }
}
