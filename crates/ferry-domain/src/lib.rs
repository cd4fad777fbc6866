//! Ferry's domain: the rules of a migration with no I/O at all.
//!
//! Everything that decides whether something is allowed lives here, so it can be
//! unit-tested without a database, a queue or an HTTP server. The edges (store,
//! queue, tenant store, HTTP, worker) parse into these types and call these rules.

pub mod audit;
pub mod auth;
pub mod delivery;
pub mod error;
pub mod job;
pub mod licensing;
pub mod manifest;
pub mod migration;
pub mod newtypes;
pub mod state;
pub mod text;
pub mod webhook;

pub use auth::{Permission, Role};
pub use error::{FieldError, FieldErrors};
pub use job::{JobKind, JobState};
pub use migration::{NewMigration, NewMigrationInput, SourceUrl};
pub use newtypes::{Email, PersonName, Phone, SourceVersion, TenantSlug};
pub use state::{IllegalTransition, LifecycleEvent, MigrationState};
pub use webhook::WebhookEvent;
