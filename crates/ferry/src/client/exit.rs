//! Exit codes of the client commands. They are part of the CLI's contract
//! (scripts branch on them), so each has one meaning and is listed in
//! docs/cli.md; never renumber one.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// Something unexpected on this side, e.g. a file could not be written;
    /// for `ferry receipt verify`: the tenant store does not match its
    /// receipt (the issue asked for 0/1 there, as `cmp` and `sha256sum -c`
    /// answer).
    Internal = 1,
    /// Bad arguments, no key, an unreadable input file (clap also uses 2).
    Usage = 2,
    /// The server could not be reached or answered 502/503/504: retry later.
    Network = 3,
    /// The server refused the request: unknown id, wrong state, no permission.
    Refused = 4,
    /// The input was refused with a list of errors, or pre-flight fails.
    Invalid = 5,
    /// The watched job failed.
    JobFailed = 6,
    /// The job finished but documents are missing or failed: put them back
    /// and start a recovery.
    DocumentsRemain = 7,
    /// The watched job was cancelled.
    JobCancelled = 8,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A command that stopped: the code to exit with and what to tell the user.
/// `body` is the server's problem document, printed on stdout under `--json`
/// so scripts see the same structure the API returned.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub body: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            body: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Internal, message)
    }
}

/// What every client command returns: the exit code of a finished command
/// (not always `Ok`: a failing pre-flight report is a result, not an error).
pub type Outcome = Result<Exit, Failure>;
