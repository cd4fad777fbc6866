//! An optional bandwidth limit for one job's writes to the tenant store
//! (`TransferSettings::max_bytes_per_sec`): every `put` and every multipart
//! part waits for its share of the budget before it is written, so a job
//! averages at most the limit (bursts of one part). Useful against a
//! customer's uplink; the crash test also uses it to make an upload last
//! long enough to be killed in the middle of its multipart writes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};
use tokio::time::Instant;

/// A shared byte budget refilled at `rate` bytes per second.
#[derive(Debug)]
pub struct Pacer {
    rate: u64,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits until `bytes` more may be written.
    pub async fn wait(&self, bytes: usize) {
        let cost = Duration::from_secs_f64(bytes as f64 / self.rate as f64);
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + cost);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// `inner` with its writes paced by `pacer`.
#[derive(Debug)]
pub struct Throttled {
    pub inner: Arc<dyn ObjectStore>,
    pub pacer: Arc<Pacer>,
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Throttled({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Throttled {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.pacer.wait(payload.content_length()).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(PacedUpload {
            inner,
            pacer: self.pacer.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct PacedUpload {
    inner: Box<dyn MultipartUpload>,
    pacer: Arc<Pacer>,
}

#[async_trait]
impl MultipartUpload for PacedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let pacer = self.pacer.clone();
        let len = data.content_length();
        // Futures are lazy: the part is written when polled, after the wait.
        let upload = self.inner.put_part(data);
        Box::pin(async move {
            pacer.wait(len).await;
            upload.await
        })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_budget_is_shared_and_spaced() {
        let pacer = Pacer::new(100_000);
        let t0 = Instant::now();
        pacer.wait(5_000).await;
        pacer.wait(10_000).await;
        pacer.wait(100).await;
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(145), "{waited:?}");
        assert!(waited < Duration::from_millis(1000), "{waited:?}");
    }
}
