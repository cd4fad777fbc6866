//! Error reports: when the server refuses a file, the errors are printed as
//! a table and also saved as CSV, so the migrator can sort and filter them
//! next to the file they fix.

use std::path::{Path, PathBuf};

use ferry_domain::licensing::neutralise;
use serde_json::Value;

use super::exit::Failure;
use super::output::render::s;

/// `<dir>/<stem>.errors.csv` beside `input`; `errors.csv` for stdin.
pub fn default_path(input: &Path) -> PathBuf {
    if input.as_os_str() == "-" {
        return PathBuf::from("errors.csv");
    }
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".to_owned());
    input.with_file_name(format!("{stem}.errors.csv"))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so
/// a reader never sees half a file and a failed write leaves no stale one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::internal(format!("cannot write {}: {e}", path.display()));
    let tmp = part_path(path);
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// `<path>.part`: where a file is written before it is renamed into place.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// The `validation_failed` errors (roster, manifest) as CSV. Values come
/// from the uploaded file, so cells are neutralised like every export.
pub fn field_errors_csv(errors: &[Value]) -> Result<Vec<u8>, Failure> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Failure::internal(format!("writing the report: {e}"));
    w.write_record(["where", "code", "message"]).map_err(fail)?;
    for e in errors {
        let cells = [s(&e["field"]), s(&e["code"]), s(&e["message"])];
        w.write_record(cells.iter().map(|c| neutralise(c).into_owned()))
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Failure::internal(format!("writing the report: {e}")))
}
