//! A roster upload: the source's users (and satellites) replace the
//! migration's roster while it is a draft. Streamed: each user is checked
//! on its own as it is read (`check_upload_user`) and written a batch at a
//! time into one transaction, the id check across users being the table's
//! key. The draft keeps the entries of users still in the roster and the
//! upload's audit record names those it dropped. Memory is a batch's,
//! whatever the roster's size.

use ferry_domain::licensing::{RosterUserInput, RowError, SatelliteInput, check_upload_user};
use ferry_store::{PreparedBatch, RosterReplace, RosterReplaced, Store, StoreError, UserBatch};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::records;

/// Users per batch: one snapshot chunk (`ferry-store`'s
/// `SNAPSHOT_CHUNK_USERS`), a statement or two each.
const BATCH_USERS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// Rows that break the roster's rules; nothing was replaced.
    #[error("the roster has {} invalid row(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The parsing side of an upload, on a blocking thread: checks each user
/// and hands full batches to the writer (waiting while it is a batch
/// behind, so memory stays at two batches).
pub struct UserFeed {
    tx: Option<mpsc::Sender<PreparedBatch>>,
    batch: UserBatch,
    position: usize,
    /// Users accepted so far: the next batch's first `seq`.
    accepted: usize,
    errors: Vec<RowError>,
}

impl UserFeed {
    /// One user as read; its errors are kept for the answer.
    pub fn push(&mut self, input: RosterUserInput) {
        let position = self.position;
        self.position += 1;
        match check_upload_user(&input, position) {
            Ok(user) => {
                self.batch.users.push(user);
                self.batch.origins.push((input.source_row, position));
            }
            Err(mut errors) => self.errors.append(&mut errors),
        }
        if self.batch.users.len() >= BATCH_USERS {
            self.send();
        }
    }

    fn send(&mut self) {
        self.accepted += self.batch.users.len();
        let next = UserBatch {
            first_seq: self.accepted,
            ..UserBatch::default()
        };
        let batch = std::mem::replace(&mut self.batch, next);
        // A writer that stopped (a store error) answers at `finish`; the
        // rest of the file is still read for its errors. A batch that
        // cannot be serialised (it cannot happen to checked users) stops
        // the writer the same way.
        let sent = match (&self.tx, batch.prepare()) {
            (Some(tx), Ok(prepared)) => tx.blocking_send(prepared).is_ok(),
            _ => false,
        };
        if !sent {
            self.tx = None;
        }
    }

    /// Sends the last batch; the rows refused so far.
    pub fn finish(mut self) -> Vec<RowError> {
        if !self.batch.users.is_empty() {
            self.send();
        }
        self.errors
    }
}

/// The writing side of an upload: a task holding the transaction.
pub struct Writer(JoinHandle<Result<RosterReplace, StoreError>>);

/// Starts an upload into `migration_id`'s roster: feed users to the
/// [`UserFeed`] (from a blocking thread), then [`finish`] with the writer.
pub fn start(store: &Store, migration_id: &str) -> (UserFeed, Writer) {
    // Two batches queued: the writer never waits for the next one while
    // this one is serialised.
    let (tx, mut rx) = mpsc::channel::<PreparedBatch>(2);
    let (store, id) = (store.clone(), migration_id.to_owned());
    let task = tokio::spawn(async move {
        let mut replace = store.begin_roster_replace(&id).await?;
        while let Some(batch) = rx.recv().await {
            replace.write(batch).await?;
        }
        Ok(replace)
    });
    let feed = UserFeed {
        tx: Some(tx),
        batch: UserBatch::default(),
        position: 0,
        accepted: 0,
        errors: Vec::new(),
    };
    (feed, Writer(task))
}

/// What the upload read besides the users.
pub struct Ending<'a> {
    pub migration_id: &'a str,
    /// An API key id.
    pub actor: &'a str,
    /// `None` keeps the satellites (a CSV upload carries users only).
    pub satellites: Option<&'a [SatelliteInput]>,
    /// Every refused row: the feed's and the file's own.
    pub errors: Vec<RowError>,
}

/// Ends an upload: commits the new roster, or with any refused row
/// (including a repeated id) changes nothing and names every row.
pub async fn finish(
    store: &Store,
    writer: Writer,
    end: Ending<'_>,
) -> Result<RosterReplaced, RosterError> {
    let replace = writer
        .0
        .await
        .map_err(|e| StoreError::Corrupt(format!("roster writer stopped: {e}")))??;
    let (id, actor) = (end.migration_id, end.actor);
    let done = replace
        .finish(store, end.satellites, None, end.errors, |r| {
            records::roster_uploaded(actor, id, r)
        })
        .await?
        .map_err(RosterError::Invalid)?;
    tracing::info!(migration_id = %id, users = done.users, "roster loaded");
    Ok(done)
}
