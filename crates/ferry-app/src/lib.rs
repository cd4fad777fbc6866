//! Ferry's use cases: what a user (through the API or the CLI) or the
//! service itself (the recovery sweep, a job splitting into batches) does,
//! where it spans more than one edge — the state database, the queue, the
//! audit trail. HTTP handlers parse a request, call one use case and render
//! its answer; the worker calls the same functions, so a start made by the
//! sweep is the start a user makes.
//!
//! Rules live in `ferry-domain`; storage in `ferry-store`; the queue in
//! `ferry-queue`. This crate decides the order in which they are used and
//! what a failure of each means, and gives every use case one error type.

pub mod cancel;
pub mod dispatch;
pub mod import;
pub mod records;
pub mod roster;
pub mod start;

pub use cancel::{CancelError, cancel};
pub use dispatch::{DispatchSettings, Dispatcher};
pub use import::{ImportError, import_csv};
pub use roster::RosterError;
pub use start::{StartError, precopy, start};
