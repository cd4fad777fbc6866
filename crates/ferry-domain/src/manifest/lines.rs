//! What both manifest formats share below the row: the header's columns,
//! the byte-order mark, and the cap on a physical line's length.

use std::fmt;
use std::io::{self, Read};

use super::{ManifestError, codes};

pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";
pub(super) const COLUMNS: [&str; 4] = ["document_id", "path", "size", "sha256"];

/// Fails a read once a physical line exceeds `max` bytes, so neither format
/// ever buffers more than that for one line.
pub(super) struct LineCapped<R> {
    inner: R,
    max: usize,
    run: usize,
    line: u64,
    overflowed: bool,
}

#[derive(Debug)]
struct LineTooLong {
    line: u64,
    max: usize,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} is longer than {} bytes", self.line, self.max)
    }
}

impl std::error::Error for LineTooLong {}

impl<R: Read> LineCapped<R> {
    pub(super) fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            run: 0,
            line: 1,
            overflowed: false,
        }
    }
}

impl<R: Read> Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.overflowed {
            let (line, max) = (self.line, self.max);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LineTooLong { line, max },
            ));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                self.run = 0;
                self.line += 1;
            } else {
                self.run += 1;
                if self.run > self.max {
                    // Hand out the complete lines before the long one; the
                    // error comes with the next read.
                    self.overflowed = true;
                    return if i > 0 { Ok(i) } else { self.read(buf) };
                }
            }
        }
        Ok(n)
    }
}

/// A read failure as a fatal error: the line cap names its own line.
pub(super) fn fatal_io(e: &io::Error, line: u64) -> ManifestError {
    if let Some(too_long) = e.get_ref().and_then(|i| i.downcast_ref::<LineTooLong>()) {
        return ManifestError::Malformed {
            line: too_long.line,
            code: codes::LINE_TOO_LONG,
            message: too_long.to_string(),
        };
    }
    ManifestError::Malformed {
        line,
        code: codes::READ_FAILED,
        message: format!("the manifest could not be read: {e}"),
    }
}
