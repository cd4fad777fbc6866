//! Bridges an HTTP request body (async chunks) to the domain's CSV and JSON
//! readers (`std::io::Read`), so uploads are parsed as they arrive, on a
//! blocking thread, with at most a few chunks in memory.

use std::io::{self, Read};

use actix_web::web::{self, Bytes};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::problem::ApiError;

/// A `Read` over chunks sent from the async side.
pub struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Runs `parse` on a blocking thread, feeding it the request body. A body
/// over `max_bytes` stops the upload and answers 413 naming the limit.
pub async fn parse_streamed<T, F>(
    mut payload: web::Payload,
    max_bytes: u64,
    parse: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(ChannelReader) -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    let task = tokio::task::spawn_blocking(move || {
        parse(ChannelReader {
            rx,
            current: Bytes::new(),
        })
    });
    let mut total: u64 = 0;
    let mut too_large = false;
    while let Some(chunk) = payload.next().await {
        let item = match chunk {
            Ok(bytes) => {
                total += bytes.len() as u64;
                if total > max_bytes {
                    too_large = true;
                    Err(io::Error::other("upload too large"))
                } else {
                    Ok(bytes)
                }
            }
            Err(e) => Err(io::Error::other(format!(
                "cannot read the request body: {e}"
            ))),
        };
        let stop = item.is_err();
        // The parser may stop early (a limit or a fatal error): then nobody
        // listens any more and the rest of the body is not needed.
        if tx.send(item).await.is_err() || stop {
            break;
        }
    }
    drop(tx);
    let out = task
        .await
        .map_err(|e| ApiError::Internal(format!("parser task: {e}")))?;
    if too_large {
        return Err(ApiError::LimitExceeded {
            name: "max_bytes",
            limit: max_bytes,
        });
    }
    Ok(out)
}

/// A `Read` that hashes what passes through it: the body hash an
/// `Idempotency-Key` is checked against, computed in the same pass as the
/// parse, so a streamed upload is read once.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads what the parser left (it may stop at its first fatal error) and
    /// returns the hex SHA-256 of the whole body.
    pub fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hasher.update(&out[..n]);
        Ok(n)
    }
}

/// Whether the request declares one of `types` (parameters ignored).
pub fn content_type_is(req: &actix_web::HttpRequest, types: &[&str]) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| types.contains(&v.as_str()))
}
