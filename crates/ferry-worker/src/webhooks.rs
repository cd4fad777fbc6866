//! Webhook delivery: every worker process claims due deliveries from the
//! outbox (`Store::claim_due_deliveries`: one conditional `UPDATE` per
//! delivery, so several workers never send one delivery at once) and POSTs
//! each event's JSON body, signed:
//!
//! ```text
//! Ferry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! Ferry-Event: job.finished
//! Ferry-Delivery: <delivery id>
//! ```
//!
//! A 2xx answer within the timeout is delivered; anything else (another
//! status, a timeout, a refused connection) is retried after an exponential
//! back-off with jitter until `max_attempts`, then the delivery is `failed`
//! (a redelivery can be requested through the API). Redirects are not
//! followed: a subscriber names its final URL.

use std::time::Duration;

use ferry_store::{AttemptResult, ClaimedDelivery, Store, after_now};
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use tokio_util::sync::CancellationToken;

/// Deliveries claimed per round at most.
const CLAIM_BATCH: u32 = 32;
/// Longest error text kept in the delivery log.
const MAX_ERROR_LEN: usize = 500;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How often an idle worker looks for due deliveries.
    pub poll_interval: Duration,
    /// Bound on one POST (connect, send, answer).
    pub timeout: Duration,
    /// Attempts of one delivery before it is `failed` (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest wait between two attempts.
    pub backoff_max: Duration,
    /// POSTs in flight at once per worker process.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            concurrency: 8,
        }
    }
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = match Hmac::<sha2_hmac::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Ferry-Signature` header's value.
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// The wait after failed attempt number `attempt` (1-based): `base · 2^(attempt−1)`,
/// capped at `max`, of which a random half is dropped ("equal jitter"), so
/// subscribers that failed together are not retried in lockstep.
pub fn backoff(attempt: i64, base: Duration, max: Duration) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Runs delivery rounds until `shutdown`.
pub async fn delivery_loop(store: Store, settings: WebhookSettings, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ferry-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client cannot be built; no deliveries");
            return;
        }
    };
    let mut tick = tokio::time::interval(settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Drain a backlog round after round, then wait for the next tick.
        loop {
            let claimed = round(&store, &client, &settings, &shutdown).await;
            if claimed < CLAIM_BATCH as usize || shutdown.is_cancelled() {
                break;
            }
        }
    }
}

/// One round: claims due deliveries and sends them. How many were claimed.
async fn round(
    store: &Store,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    shutdown: &CancellationToken,
) -> usize {
    let claim = uuid::Uuid::new_v4().simple().to_string();
    // The lease outlives the POST's timeout comfortably; a worker that dies
    // mid-attempt leaves the delivery due again when it ends.
    let lease = after_now(settings.timeout * 2 + Duration::from_secs(30));
    let due = match store
        .claim_due_deliveries(&claim, &lease, CLAIM_BATCH)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim webhook deliveries; will retry");
            return 0;
        }
    };
    let n = due.len();
    futures::stream::iter(due)
        .for_each_concurrent(settings.concurrency.max(1), |d| async move {
            let result = tokio::select! {
                r = attempt(client, &d, settings) => r,
                // Shutting down: the lease runs out and another worker (or
                // this one after a restart) sends it.
                _ = shutdown.cancelled() => return,
            };
            match &result {
                AttemptResult::Delivered { status_code } => {
                    tracing::debug!(delivery_id = %d.id, event = %d.event_type, status_code, "webhook delivered")
                }
                AttemptResult::Retry { error, at, .. } => {
                    tracing::info!(delivery_id = %d.id, attempts = d.attempts, error = %error, next = %at, "webhook delivery failed; will retry")
                }
                AttemptResult::GaveUp { error, .. } => {
                    tracing::warn!(delivery_id = %d.id, attempts = d.attempts, error = %error, "webhook delivery failed for good")
                }
            }
            if let Err(e) = store.finish_delivery_attempt(&d, &result).await {
                tracing::warn!(delivery_id = %d.id, error = %e, "cannot record a webhook attempt; it is retried when its lease ends");
            }
        })
        .await;
    n
}

async fn attempt(
    client: &reqwest::Client,
    d: &ClaimedDelivery,
    settings: &WebhookSettings,
) -> AttemptResult {
    let t = chrono::Utc::now().timestamp();
    let sent = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header(
            "ferry-signature",
            signature_header(d.secret.as_bytes(), t, d.body.as_bytes()),
        )
        .header("ferry-event", &d.event_type)
        .header("ferry-delivery", &d.id)
        .body(d.body.clone())
        .send()
        .await;
    let (status_code, error) = match sent {
        Ok(res) if res.status().is_success() => {
            return AttemptResult::Delivered {
                status_code: i64::from(res.status().as_u16()),
            };
        }
        Ok(res) => (
            Some(i64::from(res.status().as_u16())),
            format!("the subscriber answered {}", res.status()),
        ),
        Err(e) => (None, describe(&e)),
    };
    if d.attempts >= i64::from(settings.max_attempts.max(1)) {
        AttemptResult::GaveUp { status_code, error }
    } else {
        let wait = backoff(d.attempts, settings.backoff_base, settings.backoff_max);
        AttemptResult::Retry {
            status_code,
            error,
            at: after_now(wait),
        }
    }
}

/// A transport error with its causes, bounded in length.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"key", b"12.abc", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"key", 12, b"abc"),
            "7b18b86248fb2148eeafc2bfe2952cbfb1ac4807e0c312eea51d6fecd411bc67"
        );
        assert_eq!(
            signature_header(b"Jefe", 0, b"what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for attempt in 1..=12 {
            let full = base.saturating_mul(2u32.pow((attempt - 1) as u32)).min(max);
            let b = backoff(attempt, base, max);
            assert!(b >= full / 2 && b <= full, "{attempt}: {b:?} of {full:?}");
        }
        assert!(backoff(100, base, max) <= max);
    }
}
