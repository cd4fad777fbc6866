//! Reading objects: the byte stream of a source, the running size and
//! checksum tally, and the "already there?" check of idempotent re-runs.

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetResult, GetResultPayload, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::{CopyError, CopyOptions, CopyOutcome, Expected};

/// Bytes and SHA-256 of what went through, checked against the source's
/// announced size (a source that grows or shrinks while being read is being
/// changed: worth a retry, never worth storing) and the expected checksum.
pub(super) struct Tally {
    hasher: Sha256,
    bytes: u64,
    size: u64,
}

impl Tally {
    pub(super) fn new(size: u64) -> Self {
        Self {
            hasher: Sha256::new(),
            bytes: 0,
            size,
        }
    }

    pub(super) fn add(&mut self, chunk: &[u8]) -> Result<(), CopyError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.size {
            return Err(CopyError::Transient(format!(
                "the source grew while being read (more than its {} bytes)",
                self.size
            )));
        }
        self.hasher.update(chunk);
        Ok(())
    }

    pub(super) fn finish(&mut self, expected: &Expected) -> Result<CopyOutcome, CopyError> {
        if self.bytes != self.size {
            return Err(CopyError::Transient(format!(
                "the source ended after {} of {} bytes",
                self.bytes, self.size
            )));
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if let Some(want) = &expected.sha256
            && !want.eq_ignore_ascii_case(&sha256)
        {
            return Err(CopyError::ChecksumMismatch {
                expected: want.to_ascii_lowercase(),
                actual: sha256,
            });
        }
        Ok(CopyOutcome {
            bytes: self.bytes,
            sha256,
        })
    }
}

/// The object's bytes as a stream. Local files are read in `chunk`-sized
/// blocks on the blocking pool; everything else streams as the store sends it.
pub(super) fn byte_stream(
    got: GetResult,
    chunk: usize,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    match got.payload {
        GetResultPayload::File(file, path) if got.range.start == 0 => {
            let remaining = got.range.end;
            let chunk = chunk.max(1) as u64;
            futures::stream::try_unfold((file, remaining), move |(mut file, remaining)| {
                let path = path.clone();
                async move {
                    if remaining == 0 {
                        return Ok(None);
                    }
                    let want = remaining.min(chunk);
                    let (file, read) = tokio::task::spawn_blocking(move || {
                        use std::io::Read;
                        let mut buf = Vec::with_capacity(want as usize);
                        let read = (&mut file).take(want).read_to_end(&mut buf).map(|_| buf);
                        (file, read)
                    })
                    .await
                    .map_err(|e| local_error(&path, e.to_string()))?;
                    let buf = read.map_err(|e| local_error(&path, e.to_string()))?;
                    if buf.is_empty() {
                        return Ok(None); // shrank: the tally reports it
                    }
                    let left = remaining - buf.len() as u64;
                    Ok(Some((Bytes::from(buf), (file, left))))
                }
            })
            .boxed()
        }
        payload => GetResult { payload, ..got }.into_stream(),
    }
}

fn local_error(path: &std::path::Path, message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: format!("reading {}: {message}", path.display()).into(),
    }
}

/// Whether `dst_path` already holds the expected document, so an idempotent
/// re-run (after a crash between writing and recording) can skip it: right
/// size and, when a checksum is expected, the right SHA-256 (re-hashed by
/// streaming the stored object). Without expectations, any object counts:
/// writes are atomic, so an object that exists is complete. Any error means
/// "not present": copying again is always safe.
pub async fn already_present(dst: &dyn ObjectStore, dst_path: &Path, expected: &Expected) -> bool {
    let Some(want) = expected.sha256.as_deref() else {
        return match dst.head(dst_path).await {
            Ok(meta) => expected.size.is_none_or(|s| s == meta.size),
            Err(_) => false,
        };
    };
    let Ok(got) = dst.get(dst_path).await else {
        return false;
    };
    if expected.size.is_some_and(|s| s != got.meta.size) {
        return false;
    }
    let mut tally = Tally::new(got.meta.size);
    let mut stream = byte_stream(got, CopyOptions::default().read_chunk);
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) if tally.add(&chunk).is_ok() => {}
            Ok(None) => break,
            _ => return false,
        }
    }
    let want = Expected {
        size: None,
        sha256: Some(want.to_owned()),
    };
    tally.finish(&want).is_ok()
}
