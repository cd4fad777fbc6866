//! The HTTP side of the client: one `Api` per run, holding the server URL
//! and the key. Every request goes through [`Api::call`], which retries what
//! is safe to retry and turns answers into either a [`Reply`] or a
//! [`Problem`] (the API's RFC 9457 documents).

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use super::exit::{Exit, Failure};

/// Attempts for requests that may be repeated (reads, and writes carrying
/// an `Idempotency-Key`): a blip between a laptop and the server should not
/// end a command that is safe to send again.
const ATTEMPTS: u32 = 3;

pub struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

/// A successful (2xx or 304) answer, read whole. Only small bodies come
/// through here; exports are streamed by [`Api::download`].
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Failure::new(
                Exit::Refused,
                format!("the server's answer is not the expected JSON: {e}"),
            )
        })
    }

    pub fn etag(&self) -> Option<String> {
        header_string(&self.headers, header::ETAG)
    }
}

/// An answer of 4xx/5xx. `body` is the problem document when the server
/// sent one (it always does for its own errors; a proxy may not).
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub body: Value,
}

impl Problem {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The exit code a problem ends a command with when the command has no
    /// better reading of it.
    pub fn exit(&self) -> Exit {
        match self.status.as_u16() {
            413 | 422 => Exit::Invalid,
            502..=504 => Exit::Network,
            _ => Exit::Refused,
        }
    }

    pub fn message(&self) -> String {
        let detail = self.body["detail"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.status.to_string());
        let mut m = format!("{detail} ({} {})", self.status.as_u16(), self.code());
        if let Some(state) = self.body["current_state"].as_str() {
            m.push_str(&format!("; the migration is {state}"));
        }
        m
    }
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Failure {
        Failure {
            exit: p.exit(),
            message: p.message(),
            body: Some(p.body),
        }
    }
}

/// How a call can end without a success.
pub enum CallError {
    Problem(Problem),
    Failure(Failure),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        match e {
            CallError::Problem(p) => p.into(),
            CallError::Failure(f) => f,
        }
    }
}

impl From<Failure> for CallError {
    fn from(f: Failure) -> CallError {
        CallError::Failure(f)
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn network(e: &reqwest::Error, base: &str) -> Failure {
    // The error chain says why (refused, DNS, TLS, timeout); the top line
    // alone is only "error sending request".
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    Failure::new(Exit::Network, format!("cannot reach {base}: {cause}"))
}

impl Api {
    pub fn new(server: &str, key: &str, timeout: Duration) -> Result<Api, Failure> {
        let base = server.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&base)
            .map_err(|e| Failure::usage(format!("--server {server:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure::usage(format!(
                "--server must be an http:// or https:// URL, not {server:?}"
            )));
        }
        if HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
            return Err(Failure::usage(
                "the API key holds characters a header cannot",
            ));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("ferry-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A read timeout, not a total one: a large manifest may take
            // minutes to send, but the server never stays silent that long.
            .read_timeout(timeout)
            .build()
            .map_err(|e| Failure::internal(format!("HTTP client: {e}")))?;
        Ok(Api {
            base,
            key: key.to_owned(),
            client,
        })
    }

    /// A request to `path` (under the server URL) with the key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// Sends `req`, retrying transport errors when `retry` says the request
    /// may be repeated (and its body can be replayed), and reads the answer.
    pub async fn call(&self, req: RequestBuilder, retry: bool) -> Result<Reply, CallError> {
        let res = self.send(req, retry).await?;
        self.read(res).await
    }

    /// Reads a response whole: a [`Reply`] for 2xx/304, else the problem.
    pub async fn read(&self, res: reqwest::Response) -> Result<Reply, CallError> {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .bytes()
            .await
            .map_err(|e| CallError::Failure(network(&e, &self.base)))?;
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(Reply {
                status,
                headers,
                body,
            });
        }
        let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
            serde_json::json!({
                "status": status.as_u16(),
                "detail": String::from_utf8_lossy(&body).trim().chars().take(500).collect::<String>(),
            })
        });
        Err(CallError::Problem(Problem { status, body }))
    }

    /// Every item of a paged list: `GET path?<query>&cursor=…` until the
    /// server gives no `next_cursor` (each page retried like any GET).
    /// Parameters whose value is `None` are left out.
    pub async fn all_pages(
        &self,
        path: &str,
        query: &[(&str, Option<String>)],
    ) -> Result<Vec<Value>, Failure> {
        let given: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self.get(path).query(&given);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page = self.call(req, true).await?.json()?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                return Ok(items);
            }
        }
    }

    /// Sends a GET, which is always safe to repeat.
    pub async fn get_json(&self, path: &str) -> Result<Value, Failure> {
        self.call(self.get(path), true).await?.json()
    }

    /// Sends `req` and returns the raw response (any status), retrying
    /// transport errors if `retry`.
    pub async fn send(
        &self,
        mut req: RequestBuilder,
        retry: bool,
    ) -> Result<reqwest::Response, Failure> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            // A streamed body cannot be cloned: such a request gets one try.
            let spare = if retry && attempt < ATTEMPTS {
                req.try_clone()
            } else {
                None
            };
            match req.send().await {
                Ok(res) => return Ok(res),
                Err(e) => match spare {
                    Some(next) if e.is_connect() || e.is_timeout() => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                        attempt += 1;
                        req = next;
                    }
                    _ => return Err(network(&e, &self.base)),
                },
            }
        }
    }
}

/// `/v1/migrations/{id}…`, with the id checked enough to keep it one path
/// segment (the server answers 404 for anything that is not a UUID anyway).
pub fn migration_path(id: &str, rest: &str) -> String {
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("/v1/migrations/{id}{rest}")
}
