//! Webhook subscriptions: which events exist, and what a subscription's
//! URL and secret must look like. The HTTP layer parses with these; the
//! OpenAPI document states the same rules as patterns (see
//! [`patterns`]), so a request is refused for its shape exactly when the
//! schema says so.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::newtypes::string_schema;

/// Something that happened, as a subscriber sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEvent {
    /// A migration moved through its lifecycle (`from` → `to`).
    #[serde(rename = "migration.state_changed")]
    MigrationStateChanged,
    /// A job passed 25, 50 or 75 % of its documents (each once).
    #[serde(rename = "job.progress")]
    JobProgress,
    /// A job succeeded.
    #[serde(rename = "job.finished")]
    JobFinished,
    /// A job failed; `error` says why.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// A job was cancelled.
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    /// A job finished with documents missing from the source archive.
    #[serde(rename = "documents.missing")]
    DocumentsMissing,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 6] = [
        Self::MigrationStateChanged,
        Self::JobProgress,
        Self::JobFinished,
        Self::JobFailed,
        Self::JobCancelled,
        Self::DocumentsMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MigrationStateChanged => "migration.state_changed",
            Self::JobProgress => "job.progress",
            Self::JobFinished => "job.finished",
            Self::JobFailed => "job.failed",
            Self::JobCancelled => "job.cancelled",
            Self::DocumentsMissing => "documents.missing",
        }
    }

    /// The event announcing a job's end in `state`, if it ended.
    pub fn for_job_end(state: crate::JobState) -> Option<WebhookEvent> {
        match state {
            crate::JobState::Succeeded => Some(Self::JobFinished),
            crate::JobState::Failed => Some(Self::JobFailed),
            crate::JobState::Cancelled => Some(Self::JobCancelled),
            crate::JobState::Queued | crate::JobState::Running => None,
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event '{s}' (one of {})",
                    Self::ALL.map(|e| e.as_str()).join(", ")
                )
            })
    }
}

/// Progress milestones announced by `job.progress`, in percent of a job's
/// documents.
pub const PROGRESS_MILESTONES: [i64; 3] = [25, 50, 75];

/// The milestones passed when a job's processed documents went from `before`
/// to `after` of `total`: each milestone is passed by exactly one step.
pub fn milestones_passed(before: i64, after: i64, total: i64) -> Vec<i64> {
    if total <= 0 {
        return Vec::new();
    }
    PROGRESS_MILESTONES
        .into_iter()
        .filter(|m| before * 100 < m * total && m * total <= after * 100)
        .collect()
}

pub mod patterns {
    /// [`WebhookUrl`](super::WebhookUrl), with `maxLength` 2048.
    pub const WEBHOOK_URL: &str = "^https?://[A-Za-z0-9._~%:\\[\\]-]+(?:[/?#][!-~]*)?$";
    /// [`WebhookSecret`](super::WebhookSecret).
    pub const WEBHOOK_SECRET: &str = "^[!-~]{16,256}$";
}

/// Where deliveries are POSTed: `http://` or `https://`, a host (and
/// port), no credentials, no spaces or non-ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |msg: &str| FieldError::new("url", "invalid_url", msg);
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| bad("a webhook URL starts with http:// or https://"))?;
        if raw.len() > Self::MAX_LEN {
            return Err(bad("a webhook URL has at most 2048 characters"));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let host_char = |c: char| c.is_ascii_alphanumeric() || "._~%:[]-".contains(c);
        if authority.is_empty() || !authority.chars().all(host_char) {
            return Err(bad(
                "a webhook URL names a host (letters, digits, '.', '-', ':' and [IPv6]) and no user",
            ));
        }
        if !tail.chars().all(|c| c.is_ascii_graphic()) {
            return Err(bad(
                "a webhook URL has no spaces, control or non-ASCII characters (percent-encode them)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_schema!(
    WebhookUrl,
    "Where deliveries are POSTed: http:// or https://, a host (letters, digits, '.', '-', ':', [IPv6], percent-escapes) without user info, then visible ASCII only; at most 2048 characters.",
    patterns::WEBHOOK_URL,
    (None, Some(2048)),
    "https://hooks.example.com/ferry"
);

/// The shared secret deliveries are signed with: 16 to 256 visible ASCII
/// characters.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if (16..=256).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "secret",
                "invalid_secret",
                "a webhook secret has 16 to 256 visible ASCII characters (no spaces)",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

string_schema!(
    WebhookSecret,
    "The HMAC-SHA256 key of the signatures: 16 to 256 visible ASCII characters. Leave it out to have one generated (returned once).",
    patterns::WEBHOOK_SECRET,
    (Some(16), Some(256)),
    "whsec_5f2b8c0d9e7a4b1c3d6e8f0a"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        for e in WebhookEvent::ALL {
            assert_eq!(e.as_str().parse::<WebhookEvent>(), Ok(e));
            assert_eq!(
                serde_json::to_value(e).ok(),
                Some(serde_json::json!(e.as_str()))
            );
        }
        assert!("job.exploded".parse::<WebhookEvent>().is_err());
    }

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://hooks.example.com",
            "https://[::1]:9000/a?b=c#d",
            "https://x.example/%20",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x.example/",
            "https://",
            "https:///path",
            "https://user@x.example/",
            "https://x.example/a b",
            " https://x.example/",
            "HTTPS://x.example/",
            "https://x.example/ä",
            "javascript:alert(1)",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets() {
        assert!(WebhookSecret::parse("0123456789abcdef").is_ok());
        assert!(WebhookSecret::parse("short").is_err());
        assert!(WebhookSecret::parse("0123456789 abcdef").is_err());
        assert!(!format!("{:?}", WebhookSecret::parse("0123456789abcdef")).contains("0123"));
    }

    #[test]
    fn milestones() {
        assert_eq!(milestones_passed(0, 4, 4), vec![25, 50, 75]);
        assert_eq!(milestones_passed(0, 1, 4), vec![25]);
        assert_eq!(milestones_passed(1, 2, 4), vec![50]);
        assert_eq!(milestones_passed(2, 3, 4), vec![75]);
        assert_eq!(milestones_passed(3, 4, 4), Vec::<i64>::new());
        assert_eq!(milestones_passed(0, 0, 0), Vec::<i64>::new());
        assert_eq!(milestones_passed(0, 2, 10), Vec::<i64>::new());
        assert_eq!(milestones_passed(2, 3, 10), vec![25]);
    }
}
