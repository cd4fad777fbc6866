//! Copies that work, and the checks that refuse bad ones.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use ferry_domain::manifest::{DocumentPath, ManifestLimits, ManifestRows};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::super::fault::{Faults, FaultyStore};
use super::*;

#[tokio::test]
async fn small_object_is_copied_and_hashed() {
    let (src, dst) = (mem(), mem());
    let bytes = data(100);
    put(src.as_ref(), "in/doc", &bytes).await;
    let outcome = copy(src.as_ref(), dst.as_ref(), &expect(&bytes), &small_parts()).await;
    assert_eq!(
        outcome,
        Ok(CopyOutcome {
            bytes: 100,
            sha256: sha(&bytes)
        })
    );
    assert_eq!(read(dst.as_ref(), "out/doc").await, Some(bytes));
}

#[tokio::test]
async fn local_files_are_read_in_chunks_and_hashed_without_an_expected_checksum() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (src, dst) = (local(&a), local(&b));
    for n in [0, 1, 700, 3000] {
        let bytes = data(n);
        put(src.as_ref(), "in/doc", &bytes).await;
        let outcome = copy(
            src.as_ref(),
            dst.as_ref(),
            &Expected::default(),
            &small_parts(),
        )
        .await
        .expect("copy");
        assert_eq!((outcome.bytes, outcome.sha256), (n as u64, sha(&bytes)));
        assert_eq!(read(dst.as_ref(), "out/doc").await, Some(bytes));
    }
}

#[tokio::test]
async fn large_object_goes_in_parts_and_completes() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let src = local(&a);
    let dst = FaultyStore::new(local(&b), Faults::default());
    let stats = dst.stats.clone();
    let bytes = data(10_500);
    put(src.as_ref(), "in/doc", &bytes).await;
    let outcome = copy(src.as_ref(), &dst, &expect(&bytes), &small_parts()).await;
    assert_eq!(outcome.map(|o| o.sha256), Ok(sha(&bytes)));
    assert_eq!(stats.parts.load(SeqCst), 11, "10,500 bytes in 1 KiB parts");
    assert_eq!(stats.completed.load(SeqCst), 1);
    assert_eq!(stats.open_uploads.load(SeqCst), 0);
    assert_eq!(read(&dst, "out/doc").await, Some(bytes));
    assert_eq!(files_under(b.path()).len(), 1, "no staged leftovers");
}

#[tokio::test]
async fn parts_in_flight_are_bounded() {
    let src = mem();
    let faults = Faults {
        part_delay: Duration::from_millis(10),
        ..Faults::default()
    };
    let dst = FaultyStore::new(mem(), faults);
    let bytes = data(10_500);
    put(src.as_ref(), "in/doc", &bytes).await;
    copy(src.as_ref(), &dst, &expect(&bytes), &small_parts())
        .await
        .expect("copy");
    assert_eq!(dst.stats.max_parts_in_flight.load(SeqCst), 2);
    assert_eq!(read(&dst, "out/doc").await, Some(bytes));
}

#[tokio::test]
async fn local_files_are_read_in_the_configured_chunk_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = local(&dir);
    put(store.as_ref(), "f", &data(3000)).await;
    let got = store.get(&path("f")).await.expect("get");
    let sizes: Vec<usize> = byte_stream(got, 700)
        .map(|c| c.expect("chunk").len())
        .collect()
        .await;
    assert_eq!(sizes, [700, 700, 700, 700, 200]);
}

#[tokio::test]
async fn part_size_keeps_uploads_under_the_part_limit() {
    let opts = CopyOptions::default();
    assert_eq!(opts.part_size(0), 5 * 1024 * 1024);
    for size in [49 << 30, 1 << 40, 5 << 40] {
        let part = opts.part_size(size) as u64;
        assert!(part >= 5 * 1024 * 1024);
        assert!(size.div_ceil(part) < 10_000, "{size}: {part}");
    }
    // And in a real copy: 10,500 bytes with at most 4 parts → 3 parts.
    let src = mem();
    let dst = FaultyStore::new(mem(), Faults::default());
    let stats = dst.stats.clone();
    let bytes = data(10_500);
    put(src.as_ref(), "in/doc", &bytes).await;
    let opts = CopyOptions {
        max_parts: 4,
        ..small_parts()
    };
    copy(src.as_ref(), &dst, &expect(&bytes), &opts)
        .await
        .expect("copy");
    assert_eq!(stats.parts.load(SeqCst), 3);
    assert_eq!(read(&dst, "out/doc").await, Some(bytes));
}

#[tokio::test]
async fn missing_source_is_missing_not_a_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    for src in [mem(), local(&dir)] {
        let dst = mem();
        let result = copy(
            src.as_ref(),
            dst.as_ref(),
            &Expected::default(),
            &small_parts(),
        )
        .await;
        assert_eq!(result, Err(CopyError::Missing));
        assert_eq!(read(dst.as_ref(), "out/doc").await, None);
    }
}

#[tokio::test]
async fn size_mismatch_writes_nothing() {
    let src = mem();
    let dst = FaultyStore::new(mem(), Faults::default());
    for n in [100, 10_500] {
        let bytes = data(n);
        put(src.as_ref(), "in/doc", &bytes).await;
        let expected = Expected {
            size: Some(n as u64 - 1),
            sha256: None,
        };
        let result = copy(src.as_ref(), &dst, &expected, &small_parts()).await;
        assert_eq!(
            result,
            Err(CopyError::SizeMismatch {
                expected: n as u64 - 1,
                actual: n as u64
            })
        );
        assert_eq!(read(&dst, "out/doc").await, None);
    }
    assert_eq!(dst.stats.parts.load(SeqCst), 0, "not a byte uploaded");
}

#[tokio::test]
async fn checksum_mismatch_writes_nothing_and_aborts_the_upload() {
    let src = mem();
    let dst = FaultyStore::new(mem(), Faults::default());
    for n in [100, 10_500] {
        let bytes = data(n);
        put(src.as_ref(), "in/doc", &bytes).await;
        let expected = Expected {
            size: Some(n as u64),
            sha256: Some("AB".repeat(32)),
        };
        let result = copy(src.as_ref(), &dst, &expected, &small_parts()).await;
        assert_eq!(
            result,
            Err(CopyError::ChecksumMismatch {
                expected: "ab".repeat(32),
                actual: sha(&bytes)
            })
        );
        assert_eq!(read(&dst, "out/doc").await, None, "{n}");
    }
    let stats = &dst.stats;
    assert_eq!(stats.aborted.load(SeqCst), 1);
    assert_eq!(stats.completed.load(SeqCst), 0);
    assert_eq!(stats.open_uploads.load(SeqCst), 0);
}

#[tokio::test]
async fn expected_checksum_is_compared_ignoring_case() {
    let (src, dst) = (mem(), mem());
    let bytes = data(100);
    put(src.as_ref(), "in/doc", &bytes).await;
    let expected = Expected {
        size: None,
        sha256: Some(sha(&bytes).to_uppercase()),
    };
    assert!(
        copy(src.as_ref(), dst.as_ref(), &expected, &small_parts())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn already_present_checks_size_and_checksum() {
    let dir = tempfile::tempdir().expect("tmp");
    for dst in [mem(), local(&dir)] {
        let at = path("out/doc");
        let bytes = data(3000);
        let mut want = expect(&bytes);
        assert!(!already_present(dst.as_ref(), &at, &want).await, "absent");
        put(dst.as_ref(), "out/doc", &bytes).await;
        assert!(
            already_present(dst.as_ref(), &at, &want).await,
            "right size and checksum"
        );
        want.sha256 = want.sha256.map(|s| s.to_uppercase());
        assert!(
            already_present(dst.as_ref(), &at, &want).await,
            "checksum case"
        );
        let size_only = Expected {
            size: Some(3000),
            sha256: None,
        };
        assert!(
            already_present(dst.as_ref(), &at, &size_only).await,
            "size only"
        );
        assert!(
            already_present(dst.as_ref(), &at, &Expected::default()).await,
            "exists"
        );
        let wrong_size = Expected {
            size: Some(2999),
            sha256: None,
        };
        assert!(
            !already_present(dst.as_ref(), &at, &wrong_size).await,
            "wrong size"
        );
        // Same size, different content (e.g. an older version of the file).
        let mut other = bytes.clone();
        other[1234] ^= 1;
        put(dst.as_ref(), "out/doc", &other).await;
        assert!(
            !already_present(dst.as_ref(), &at, &want).await,
            "wrong checksum"
        );
    }
}

#[test]
fn object_store_errors_are_classified() {
    use object_store::Error as E;
    let not_found = || E::NotFound {
        path: "x".into(),
        source: "gone".into(),
    };
    assert_eq!(classify(not_found(), Side::Source), CopyError::Missing);
    assert!(classify(not_found(), Side::Destination).is_transient());
    let generic = E::Generic {
        store: "S3",
        source: "connection reset".into(),
    };
    assert!(classify(generic, Side::Source).is_transient());
    let denied = E::PermissionDenied {
        path: "x".into(),
        source: "no".into(),
    };
    assert!(matches!(
        classify(denied, Side::Destination),
        CopyError::Permanent(_)
    ));
}

#[test]
fn error_codes_and_transience() {
    let all = [
        (CopyError::Missing, "missing", false),
        (
            CopyError::SizeMismatch {
                expected: 1,
                actual: 2,
            },
            "size_mismatch",
            false,
        ),
        (
            CopyError::ChecksumMismatch {
                expected: "a".into(),
                actual: "b".into(),
            },
            "checksum_mismatch",
            false,
        ),
        (CopyError::Transient("x".into()), "io_error", true),
        (CopyError::Permanent("x".into()), "failed", false),
        (CopyError::Cancelled, "cancelled", false),
    ];
    for (e, code, transient) in all {
        assert_eq!((e.code(), e.is_transient()), (code, transient), "{e}");
    }
}

#[test]
fn document_paths_join_as_the_same_object_store_keys() {
    let prefix = Path::from_iter(["acme", "documents"]);
    for raw in [
        "a.pdf",
        "100% sicher/Rechnung #12.pdf",
        "x/[1]/ä ö.txt",
        "a%41b",
    ] {
        let doc = DocumentPath::parse(raw).expect(raw);
        assert_eq!(
            under(&prefix, &doc).expect(raw).as_ref(),
            format!("acme/documents/{raw}")
        );
        assert_eq!(under(&Path::default(), &doc).expect(raw).as_ref(), raw);
    }
    // Why the domain has its own rules: `Path::parse` lets these through
    // (stripping the leading '/' silently); `DocumentPath` refuses them.
    for raw in ["/etc/passwd", "a\\..\\b", "a%2F..%2Fb", "C:/x", "a\u{85}b"] {
        assert!(Path::parse(raw).is_ok(), "{raw:?}");
        assert!(DocumentPath::parse(raw).is_err(), "{raw:?}");
    }
}

#[test]
fn expectations_come_from_manifest_rows() {
    let sha = "AB".repeat(32);
    let text = format!("document_id,path,size,sha256\nd1,a.pdf,7,{sha}\nd2,b.pdf,8,\n");
    let rows: Vec<_> = ManifestRows::csv(text.as_bytes(), ManifestLimits::default())
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(
        Expected::from(&rows[0]),
        Expected {
            size: Some(7),
            sha256: Some(sha.to_lowercase())
        }
    );
    assert_eq!(Expected::from(&rows[1]).sha256, None);
}
