//! Broken sources and destinations, cancellation, retries, concurrency.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use futures::StreamExt;

use super::super::fault::{Faults, FaultyStore};
use super::*;

/// The source breaks (or "changes") half-way through a multipart copy.
async fn broken_copy(
    faults: Faults,
    opts: &CopyOptions,
) -> (Result<CopyOutcome, CopyError>, Arc<fault::Stats>, usize) {
    let out = tempfile::tempdir().expect("tmp");
    let inner = mem();
    put(inner.as_ref(), "in/doc", &data(10_500)).await;
    let src = FaultyStore::new(inner, faults);
    let dst = FaultyStore::new(local(&out), Faults::default());
    let result = copy(&src, &dst, &Expected::default(), opts).await;
    assert_eq!(
        read(&dst, "out/doc").await,
        None,
        "no object at the destination"
    );
    (result, dst.stats.clone(), files_under(out.path()).len())
}

#[tokio::test]
async fn a_source_failing_mid_way_aborts_the_upload() {
    let faults = Faults {
        break_after: Some(5000),
        ..Faults::default()
    };
    let (result, stats, files) = broken_copy(faults, &small_parts()).await;
    assert!(matches!(result, Err(CopyError::Transient(_))), "{result:?}");
    assert!(
        stats.parts.load(SeqCst) >= 4,
        "failed after some parts were uploaded"
    );
    assert_eq!(stats.aborted.load(SeqCst), 1);
    assert_eq!(stats.open_uploads.load(SeqCst), 0);
    assert_eq!(files, 0, "the staged file is gone");
}

#[tokio::test]
async fn a_failing_part_aborts_the_upload() {
    let out = tempfile::tempdir().expect("tmp");
    let src = mem();
    put(src.as_ref(), "in/doc", &data(10_500)).await;
    let faults = Faults {
        fail_part: Some(2),
        ..Faults::default()
    };
    let dst = FaultyStore::new(local(&out), faults);
    let result = copy(src.as_ref(), &dst, &Expected::default(), &small_parts()).await;
    assert!(matches!(result, Err(CopyError::Transient(_))), "{result:?}");
    assert_eq!(dst.stats.open_uploads.load(SeqCst), 0);
    assert_eq!(dst.stats.completed.load(SeqCst), 0);
    assert_eq!(read(&dst, "out/doc").await, None);
    assert_eq!(files_under(out.path()).len(), 0);
}

#[tokio::test]
async fn a_source_changing_while_read_is_transient_and_writes_nothing() {
    for (size_delta, threshold) in [
        (-1, 4096),
        (1, 4096),
        (-1, 100_000),
        (1, 100_000),
        (-5000, 4096),
    ] {
        let faults = Faults {
            size_delta,
            ..Faults::default()
        };
        let opts = CopyOptions {
            multipart_threshold: threshold,
            ..small_parts()
        };
        let (result, stats, files) = broken_copy(faults, &opts).await;
        assert!(
            matches!(result, Err(CopyError::Transient(_))),
            "{size_delta}: {result:?}"
        );
        if size_delta == -5000 {
            // Stopped as soon as it went past the announced 5,500 bytes,
            // not after uploading all 10,500.
            assert!(
                stats.parts.load(SeqCst) <= 6,
                "{}",
                stats.parts.load(SeqCst)
            );
        }
        assert_eq!(stats.open_uploads.load(SeqCst), 0);
        assert_eq!(files, 0);
    }
}

#[tokio::test]
async fn cancelling_stops_a_stalled_copy_and_aborts_the_upload() {
    let opts = small_parts();
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let faults = Faults {
        break_after: Some(5000),
        stall: true,
        ..Faults::default()
    };
    let copying = broken_copy(faults, &opts);
    let (result, stats, files) = tokio::time::timeout(Duration::from_secs(5), copying)
        .await
        .expect("cancel ends the copy");
    assert_eq!(result, Err(CopyError::Cancelled));
    assert_eq!(stats.aborted.load(SeqCst), 1);
    assert_eq!(stats.open_uploads.load(SeqCst), 0);
    assert_eq!(files, 0);
    // Once cancelled, nothing starts.
    let src = FaultyStore::new(mem(), Faults::default());
    let result = copy(&src, mem().as_ref(), &Expected::default(), &opts).await;
    assert_eq!(result, Err(CopyError::Cancelled));
    assert_eq!(src.stats.gets.load(SeqCst), 0);
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

async fn retried(
    faults: Faults,
    attempts: u32,
    expected: Expected,
) -> (Result<CopyOutcome, CopyError>, u32) {
    let inner = mem();
    put(inner.as_ref(), "in/doc", &data(100)).await;
    let src = FaultyStore::new(inner, faults);
    let dst = mem();
    let opts = small_parts();
    let result = copy_with_retry(
        &src,
        &path("in/doc"),
        dst.as_ref(),
        &path("out/doc"),
        &expected,
        &opts,
        &fast_retry(attempts),
    )
    .await;
    (result, src.stats.gets.load(SeqCst))
}

#[tokio::test]
async fn transient_failures_are_retried_until_they_pass() {
    let flaky = || Faults {
        transient_gets: 2,
        ..Faults::default()
    };
    let (result, gets) = retried(flaky(), 3, Expected::default()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(gets, 3);
    let (result, gets) = retried(flaky(), 2, Expected::default()).await;
    assert!(matches!(result, Err(CopyError::Transient(_))), "{result:?}");
    assert_eq!(gets, 2, "gave up after the allowed attempts");
}

#[tokio::test]
async fn other_failures_are_not_retried() {
    let denied = Faults {
        deny_gets: true,
        ..Faults::default()
    };
    let (result, gets) = retried(denied, 5, Expected::default()).await;
    assert!(matches!(result, Err(CopyError::Permanent(_))), "{result:?}");
    assert_eq!(gets, 1);
    let wrong = Expected {
        size: None,
        sha256: Some("0".repeat(64)),
    };
    let (result, gets) = retried(Faults::default(), 5, wrong).await;
    assert!(matches!(result, Err(CopyError::ChecksumMismatch { .. })));
    assert_eq!(gets, 1);
    let src = FaultyStore::new(mem(), Faults::default());
    let result = copy_with_retry(
        &src,
        &path("nope"),
        mem().as_ref(),
        &path("out"),
        &Expected::default(),
        &small_parts(),
        &fast_retry(5),
    )
    .await;
    assert_eq!(
        (result, src.stats.gets.load(SeqCst)),
        (Err(CopyError::Missing), 1)
    );
}

#[tokio::test]
async fn cancelling_interrupts_the_back_off() {
    let src = FaultyStore::new(
        mem(),
        Faults {
            transient_gets: 1,
            ..Faults::default()
        },
    );
    let opts = small_parts();
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let slow = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(60),
    };
    let (dst, from, to, expected) = (mem(), path("x"), path("y"), Expected::default());
    let copying = copy_with_retry(&src, &from, dst.as_ref(), &to, &expected, &opts, &slow);
    let result = tokio::time::timeout(Duration::from_secs(5), copying).await;
    assert_eq!(result, Ok(Err(CopyError::Cancelled)));
}

#[tokio::test]
async fn copy_many_bounds_concurrency_and_reports_every_job() {
    let inner = mem();
    for i in 0..6 {
        put(inner.as_ref(), &format!("in/{i}"), &data(100 + i)).await;
    }
    let faults = Faults {
        get_delay: Duration::from_millis(20),
        ..Faults::default()
    };
    let src = Arc::new(FaultyStore::new(inner, faults));
    let stats = src.stats.clone();
    let dst = mem();
    let jobs: Vec<CopyJob<usize>> = (0..7)
        .map(|i| CopyJob {
            id: i,
            src_path: path(&format!("in/{i}")),
            dst_path: path(&format!("out/{i}")),
            expected: Expected::default(),
        })
        .collect();
    let stream = copy_many(src, dst.clone(), jobs, 2, small_parts(), fast_retry(1));
    // Spawned: the stream is Send and 'static, as a job handler needs.
    let mut results = tokio::spawn(stream.collect::<Vec<_>>())
        .await
        .expect("join");
    results.sort_by_key(|(id, _)| *id);
    assert_eq!(results.len(), 7);
    for (id, result) in &results[..6] {
        assert_eq!(result.as_ref().map(|o| o.bytes), Ok(100 + *id as u64));
    }
    assert_eq!(results[6], (6, Err(CopyError::Missing)));
    assert_eq!(stats.max_in_flight.load(SeqCst), 2);
    assert_eq!(read(dst.as_ref(), "out/5").await, Some(data(105)));
}
