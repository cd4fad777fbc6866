//! The document manifest upload (`PUT …/manifest`): any bytes, as CSV or as
//! NDJSON (the first byte picks). It must never panic, must end, and every
//! accepted row's path must stay below the archive root.
#![no_main]

use ferry_domain::manifest::{ManifestFormat, ManifestLimits, ManifestRows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        ManifestFormat::Csv
    } else {
        ManifestFormat::Ndjson
    };
    let limits = ManifestLimits {
        max_rows: 64,
        max_line_bytes: 512,
    };
    let mut rows = ManifestRows::new(format, body, limits);
    let mut items = 0u64;
    for item in rows.by_ref() {
        items += 1;
        // Every item consumed input (a row, or a fatal error that ends it).
        assert!(items <= body.len() as u64 + 2, "more items than bytes");
        if let Ok(row) = item {
            let path = row.path.as_str();
            assert!(!path.starts_with('/'), "absolute path {path:?}");
            assert!(!path.contains('\\'), "backslash in {path:?}");
            assert!(
                !path.chars().any(char::is_control),
                "control character in {path:?}"
            );
            assert!(
                row.path
                    .segments()
                    .all(|s| s != ".." && s != "." && !s.is_empty()),
                "path escapes or is not normal: {path:?}"
            );
        }
    }
    assert!(rows.rows_read() <= limits.max_rows + 1);
});
