//! Retrying transient copy failures with exponential back-off and jitter.

use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path;
use tokio_util::sync::CancellationToken;

use super::{CopyError, CopyOptions, CopyOutcome, Expected, copy_object};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least one is always made).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Cap on the delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (1-based): exponential,
    /// capped, then "equal jitter" — between half and all of it, with
    /// `jitter` in `[0, 1]` — so that workers failing together (a store
    /// restarting) do not all come back at the same instant, yet no retry
    /// follows immediately.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let full = self.base_delay.saturating_mul(factor).min(self.max_delay);
        full / 2 + (full / 2).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// [`copy_object`], retried per `retry` while it fails transiently. Missing
/// documents, mismatches, permanent errors and cancellation return at once.
pub async fn copy_with_retry(
    src: &dyn ObjectStore,
    src_path: &Path,
    dst: &dyn ObjectStore,
    dst_path: &Path,
    expected: &Expected,
    opts: &CopyOptions,
    retry: &RetryPolicy,
) -> Result<CopyOutcome, CopyError> {
    with_retry(retry, &opts.cancel, src_path, || {
        copy_object(src, src_path, dst, dst_path, expected, opts)
    })
    .await
}

/// `attempt` tried again per `retry` while it fails transiently (waits end
/// early when `cancel` fires); `what` names it in the log.
pub async fn with_retry<T, F, Fut>(
    retry: &RetryPolicy,
    cancel: &CancellationToken,
    what: &(dyn std::fmt::Display + Sync),
    mut attempt: F,
) -> Result<T, CopyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CopyError>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && tried < retry.attempts => {
                let delay = retry.delay(tried, rand::random::<f64>());
                tracing::debug!(path = %what, attempt = tried, ?delay, error = %e, "retrying a transient copy failure");
                tokio::select! {
                    () = cancel.cancelled() => return Err(CopyError::Cancelled),
                    () = tokio::time::sleep(delay) => {}
                }
                tried += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_with_jitter_and_a_cap() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(300));
        assert_eq!(p.delay(5, 1.0), Duration::from_secs(1), "capped");
        assert_eq!(
            p.delay(u32::MAX, 1.0),
            Duration::from_secs(1),
            "no overflow"
        );
        assert_eq!(
            p.delay(1, 7.0),
            Duration::from_millis(100),
            "jitter clamped"
        );
    }
}
