//! A test-only `ObjectStore` wrapper that injects failures and counts what
//! the copy engine does (gets, parts, open multipart uploads).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};

/// What to break.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// The first `n` gets fail like a network error.
    pub transient_gets: u32,
    /// Every get fails with "permission denied".
    pub deny_gets: bool,
    /// The object's stream fails after this many bytes…
    pub break_after: Option<u64>,
    /// …or, with this set, hangs there forever.
    pub stall: bool,
    /// The metadata's size is off by this much (the object "changes").
    pub size_delta: i64,
    /// Every get takes this long (to observe concurrency).
    pub get_delay: Duration,
    /// Upload part number `n` (1-based, across uploads) fails.
    pub fail_part: Option<u32>,
    /// Every part upload takes this long (to observe back-pressure).
    pub part_delay: Duration,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub gets: AtomicU32,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub parts: AtomicU32,
    pub parts_in_flight: AtomicUsize,
    pub max_parts_in_flight: AtomicUsize,
    pub open_uploads: AtomicI64,
    pub completed: AtomicU32,
    pub aborted: AtomicU32,
    transient_left: AtomicU32,
    denied: AtomicBool,
}

#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
    pub stats: Arc<Stats>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Faults) -> Self {
        let stats = Stats::default();
        stats.transient_left.store(faults.transient_gets, SeqCst);
        stats.denied.store(faults.deny_gets, SeqCst);
        Self {
            inner,
            faults,
            stats: Arc::new(stats),
        }
    }
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "Faulty",
        source: format!("injected {what}").into(),
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.stats.open_uploads.fetch_add(1, SeqCst);
        Ok(Box::new(Tracked {
            inner,
            stats: self.stats.clone(),
            fail_part: self.faults.fail_part,
            part_delay: self.faults.part_delay,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.stats.gets.fetch_add(1, SeqCst);
        let now = self.stats.in_flight.fetch_add(1, SeqCst) + 1;
        self.stats.max_in_flight.fetch_max(now, SeqCst);
        tokio::time::sleep(self.faults.get_delay).await;
        self.stats.in_flight.fetch_sub(1, SeqCst);
        let left = &self.stats.transient_left;
        if left
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(injected("network error"));
        }
        if self.stats.denied.load(SeqCst) {
            return Err(object_store::Error::PermissionDenied {
                path: location.to_string(),
                source: "injected".into(),
            });
        }
        let mut got = self.inner.get_opts(location, options).await?;
        got.meta.size = got.meta.size.saturating_add_signed(self.faults.size_delta);
        let Some(after) = self.faults.break_after else {
            return Ok(got);
        };
        let (meta, range, attributes) =
            (got.meta.clone(), got.range.clone(), got.attributes.clone());
        let data = got.bytes().await?;
        let head = data.slice(..data.len().min(after as usize));
        let pieces: Vec<Result<Bytes>> = head
            .chunks(1000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let tail = if self.faults.stall {
            stream::pending().boxed()
        } else {
            stream::once(async { Err(injected("broken stream")) }).boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::iter(pieces).chain(tail).boxed()),
            meta,
            range,
            attributes,
            extensions: Default::default(),
        })
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
struct Tracked {
    inner: Box<dyn MultipartUpload>,
    stats: Arc<Stats>,
    fail_part: Option<u32>,
    part_delay: Duration,
}

#[async_trait]
impl MultipartUpload for Tracked {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = self.stats.parts.fetch_add(1, SeqCst) + 1;
        if self.fail_part == Some(n) {
            return Box::pin(async { Err(injected("part failure")) });
        }
        let (stats, delay) = (self.stats.clone(), self.part_delay);
        let upload = self.inner.put_part(data);
        Box::pin(async move {
            let now = stats.parts_in_flight.fetch_add(1, SeqCst) + 1;
            stats.max_parts_in_flight.fetch_max(now, SeqCst);
            tokio::time::sleep(delay).await;
            let result = upload.await;
            stats.parts_in_flight.fetch_sub(1, SeqCst);
            result
        })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let result = self.inner.complete().await;
        if result.is_ok() {
            self.stats.open_uploads.fetch_sub(1, SeqCst);
            self.stats.completed.fetch_add(1, SeqCst);
        }
        result
    }

    async fn abort(&mut self) -> Result<()> {
        self.stats.open_uploads.fetch_sub(1, SeqCst);
        self.stats.aborted.fetch_add(1, SeqCst);
        self.inner.abort().await
    }
}
