//! The CSV import driven against the store: the domain's streamed import
//! (`ImportCheck`) fed batch by batch inside one draft transaction
//! (`DraftImport`). Neither the roster nor the draft is loaded whole, so the
//! memory of an import is that of a batch whatever the file's size.
//!
//! It runs on a blocking thread over the uploaded file, spooled to a
//! temporary file by the caller (a plain `Read`), and waits for each
//! database read with `Handle::block_on`: the reads are synchronous, the
//! store is async, and a batch's query can only start once its rows are read.
//!
//! Two things keep a million rows within seconds:
//! - the writes are pipelined: the transaction belongs to a task of its own
//!   ([`Writer`]) that writes batch N while this thread reads and checks
//!   batch N + 1, its users read on other pooled connections
//!   (`Store::import_users`, `Store::import_stretch`; why that reads what
//!   the transaction would is in `ferry-store`'s `import_read.rs`);
//! - a file in export order (the usual case: an edited export) is checked
//!   against the roster a stretch at a time, read in upload order from the
//!   roster's stored snapshot ([`Cursor`]); only rows not found there are
//!   looked up by id.

use std::collections::HashMap;
use std::io::Read;
use std::mem;
use std::time::{Duration, Instant};

use ferry_domain::Email;
use ferry_domain::licensing::{
    Assignment, Catalogue, CsvFailure, CsvLimits, DraftChange, IMPORT_BATCH_ROWS, ImportBatch,
    ImportCheck, ImportFailure, ImportReader, ImportSummary, RuleViolation, StoredUser, Unrowed,
};
use ferry_store::{DraftImport, Store, StoreError, attach_entries};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ImportError;

/// Roster stretches a batch may move past (kept until it is checked): a
/// batch of rows in export order spans two or three, more only where long
/// runs of inactive users lie between its rows; the rest are misses. Bounds
/// the stretches held at once whatever the file.
const STALE_STRETCHES: usize = 3;

/// Inactive users read per query after the rows.
const INACTIVE_PAGE: usize = 10_000;

/// What the file turned out to be.
pub(crate) enum Verdict {
    /// Valid: the changes are written in the open transaction, which the
    /// caller commits once the body's hash is known.
    Valid(DraftImport, ImportSummary),
    Invalid(Vec<RuleViolation>),
    TooLarge {
        limit_name: &'static str,
        limit: u64,
    },
}

/// What the import needs besides the file.
pub(crate) struct ImportJob {
    pub rt: Handle,
    pub store: Store,
    pub migration_id: String,
    /// `If-Match` (`None`: any version).
    pub expected: Option<i64>,
    pub catalogue: Catalogue,
    pub acting: Email,
    pub limits: CsvLimits,
}

/// A refused draft transaction: a stale `If-Match` is named as such; a
/// draft that moved under an import without one stays a store error (a
/// concurrent change).
pub(crate) fn version_error(e: StoreError, expected: Option<i64>) -> ImportError {
    match (e, expected) {
        (StoreError::VersionMismatch { .. }, Some(v)) => ImportError::Stale(v),
        (other, _) => other.into(),
    }
}

fn failure(f: ImportFailure) -> Verdict {
    match f {
        CsvFailure::TooLarge { limit_name, limit } => Verdict::TooLarge { limit_name, limit },
        CsvFailure::Invalid(v) => Verdict::Invalid(v),
    }
}

/// Reads, checks and writes the whole file; a refused file's transaction
/// is rolled back before this returns.
pub(crate) fn run<R: Read>(job: &ImportJob, body: R) -> Result<Verdict, ImportError> {
    let rt = &job.rt;
    let import = rt
        .block_on(
            job.store
                .begin_draft_import(&job.migration_id, job.expected),
        )
        .map_err(|e| version_error(e, job.expected))?;
    // On an error the transaction is dropped on the way out, which rolls it
    // back as its connection returns to the pool.
    let (import, outcome) = check_all(job, import, body)?;
    match outcome {
        Ok(summary) => Ok(Verdict::Valid(import, summary)),
        Err(refused) => {
            rt.block_on(import.rollback())?;
            Ok(refused)
        }
    }
}

/// Where the time of an import goes, for its log line.
#[derive(Default)]
struct Laps {
    read: Duration,
    lookup: Duration,
    rules: Duration,
    /// Waiting for the writer to take a batch (it is still writing the last).
    write_wait: Duration,
}

fn check_all<R: Read>(
    job: &ImportJob,
    mut import: DraftImport,
    body: R,
) -> Result<(DraftImport, Result<ImportSummary, Verdict>), ImportError> {
    let rt = &job.rt;
    let started = Instant::now();
    let (users, active) = rt.block_on(import.roster_size())?;
    let mut check = ImportCheck::new(&job.catalogue, &job.acting, users);
    let mut laps = Laps::default();
    let mut writer = Writer::spawn(rt, import);
    let rows = check_rows(
        job,
        &mut check,
        &mut writer,
        (users, active),
        body,
        &mut laps,
    );
    // The writer's end comes first: if it failed, that is the cause.
    let (mut import, write_busy) = writer.finish(rt)?;
    let scope = match rows? {
        Ok(scope) => scope,
        Err(refused) => return Ok((import, Err(refused))),
    };
    let whole = Instant::now();
    let mut from = 0;
    while from < users {
        let page = match scope {
            Unrowed::Inactive => rt.block_on(import.inactive_page(from, INACTIVE_PAGE))?,
            Unrowed::All => rt.block_on(import.roster_page(from, IMPORT_BATCH_ROWS))?,
        };
        check.visit_unrowed(page.iter().map(StoredUser::as_ref));
        from = match (scope, page.last()) {
            (Unrowed::All, _) => from + IMPORT_BATCH_ROWS,
            (Unrowed::Inactive, Some(last)) if page.len() == INACTIVE_PAGE => last.pos + 1,
            (Unrowed::Inactive, _) => users,
        };
    }
    let candidates = check.name_candidates();
    check.repeated_usernames(rt.block_on(import.name_holders(&candidates))?);
    let ms = |d: Duration| d.as_millis() as u64;
    tracing::info!(
        migration_id = %job.migration_id,
        total_ms = ms(started.elapsed()),
        read_ms = ms(laps.read),
        lookup_ms = ms(laps.lookup),
        rules_ms = ms(laps.rules),
        write_wait_ms = ms(laps.write_wait),
        write_busy_ms = ms(write_busy),
        whole_draft_ms = ms(whole.elapsed()),
        "csv import checked"
    );
    Ok((import, check.finish().map_err(Verdict::Invalid)))
}

/// The file's rows, batch by batch: read, users looked up, checked, and the
/// changes handed to the writer. Ends with which users without a row the
/// whole-draft pass must visit, or the verdict on a file refused early.
fn check_rows<R: Read>(
    job: &ImportJob,
    check: &mut ImportCheck<'_>,
    writer: &mut Writer,
    (users, active): (usize, usize),
    body: R,
    laps: &mut Laps,
) -> Result<Result<Unrowed, Verdict>, ImportError> {
    let rt = &job.rt;
    let mut file = match ImportReader::open(body, job.limits) {
        Ok(f) => f,
        Err(f) => return Ok(Err(failure(f))),
    };
    let mut clock = Instant::now();
    let mut lap = |into: &mut Duration| {
        let now = Instant::now();
        *into += now - clock;
        clock = now;
    };
    let mut batch = ImportBatch::default();
    let draft_empty = rt.block_on(job.store.import_draft_is_empty(&job.migration_id))?;
    let mut cursor = Cursor::new(users, !draft_empty);
    loop {
        let more = file.read_batch(&mut batch, IMPORT_BATCH_ROWS);
        lap(&mut laps.read);
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(f) => return Ok(Err(failure(f))),
        }
        let mut hits: Vec<(&str, usize)> = Vec::new();
        let mut misses: Vec<&str> = Vec::new();
        for id in batch.user_ids() {
            match cursor.find(job, id)? {
                Some(pos) => hits.push((id, pos)),
                None => misses.push(id),
            }
        }
        misses.sort_unstable();
        misses.dedup();
        let found = rt.block_on(job.store.import_users(&job.migration_id, &misses))?;
        lap(&mut laps.lookup);
        let mut by_id: HashMap<&str, &StoredUser> =
            found.iter().map(|u| (u.user.user_id(), u)).collect();
        by_id.extend(
            hits.iter()
                .filter_map(|&(id, pos)| Some((id, cursor.get(pos)?))),
        );
        let mut changes = Vec::new();
        check.check_batch(&batch, |id| by_id.get(id).map(|u| u.as_ref()), &mut changes);
        lap(&mut laps.rules);
        drop(by_id);
        cursor.release();
        if !changes.is_empty() && !writer.send(changes) {
            // The writer failed; `finish` tells why.
            return Ok(Ok(Unrowed::Inactive));
        }
        lap(&mut laps.write_wait);
    }
    Ok(Ok(check.rows_done(file.finish(), active)))
}

/// The import's transaction on a task of its own, writing each batch's
/// changes while the next batch is read and checked. One batch waits in
/// the channel at most, so memory stays that of two batches.
struct Writer {
    sender: Option<mpsc::Sender<Vec<DraftChange>>>,
    task: JoinHandle<Result<(DraftImport, Duration), StoreError>>,
}

impl Writer {
    fn spawn(rt: &Handle, mut import: DraftImport) -> Self {
        let (sender, mut batches) = mpsc::channel::<Vec<DraftChange>>(1);
        let task = rt.spawn(async move {
            let mut busy = Duration::ZERO;
            while let Some(changes) = batches.recv().await {
                let t = Instant::now();
                import.write(&changes).await?;
                busy += t.elapsed();
            }
            Ok((import, busy))
        });
        Self {
            sender: Some(sender),
            task,
        }
    }

    /// Hands a batch over, waiting while the writer is busy with the one
    /// before; `false` once the writer has stopped (on an error).
    fn send(&mut self, changes: Vec<DraftChange>) -> bool {
        self.sender
            .as_ref()
            .is_some_and(|s| s.blocking_send(changes).is_ok())
    }

    /// Waits for the last write; the transaction and the writer's busy time.
    fn finish(mut self, rt: &Handle) -> Result<(DraftImport, Duration), ImportError> {
        self.sender = None;
        match rt.block_on(self.task) {
            Ok(done) => Ok(done?),
            Err(e) => Err(ImportError::Internal(format!("the import's writer: {e}"))),
        }
    }
}

/// A roster stretch (see `Store::import_stretch`) with its users' positions
/// sorted by user id.
struct Stretch {
    users: Vec<StoredUser>,
    by_id: Vec<u32>,
    /// The position after the last active user of the stretch.
    active_end: usize,
}

impl Stretch {
    fn new(users: Vec<StoredUser>) -> Self {
        let mut by_id: Vec<u32> = (0..users.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| {
            users[a as usize]
                .user
                .user_id()
                .cmp(users[b as usize].user.user_id())
        });
        let active_end = users
            .iter()
            .rev()
            .find(|u| u.user.active())
            .map_or(0, |u| u.pos + 1);
        Self {
            users,
            by_id,
            active_end,
        }
    }

    /// The position of user `id`, if in this stretch.
    fn find(&self, id: &str) -> Option<usize> {
        let i = self
            .by_id
            .binary_search_by(|&i| self.users[i as usize].user.user_id().cmp(id))
            .ok()?;
        Some(self.users[self.by_id[i] as usize].pos)
    }

    fn get(&self, pos: usize) -> Option<&StoredUser> {
        let first = self.users.first()?.pos;
        self.users.get(pos.checked_sub(first)?)
    }

    /// The position after the stretch.
    fn end(&self) -> usize {
        self.users.last().map_or(0, |u| u.pos + 1)
    }
}

/// The draft entries of a stretch being read on the runtime, as (position,
/// entry).
type EntriesRead = JoinHandle<Result<Vec<(usize, Assignment)>, StoreError>>;

/// Follows a file through the roster: the rows of an edited export name
/// the active users in upload order, so the row after user `p`'s most
/// likely names a user of the stretch holding `p`, or, once the file has
/// named the stretch's last active user, of the next stretch. A row whose
/// user is in neither is a miss, looked up by id.
struct Cursor {
    current: Stretch,
    /// The stretches before, kept while the batch that moved past them may
    /// still name their users (a batch can span several stretches).
    stale: Vec<Stretch>,
    /// Roster size.
    len: usize,
    /// The position after the furthest user the file named.
    next: usize,
    /// Whether stretches need their users' draft entries (not when the
    /// committed draft is empty, which the import's lock keeps it).
    entries: bool,
    /// The entries of the stretch after the current one, read on the
    /// runtime while this thread checks the current one's rows (the
    /// database probes its draft index meanwhile), with where it starts.
    next_entries: Option<(usize, EntriesRead)>,
}

impl Cursor {
    fn new(len: usize, entries: bool) -> Self {
        Self {
            current: Stretch::new(Vec::new()),
            stale: Vec::new(),
            len,
            next: 0,
            entries,
            next_entries: None,
        }
    }

    /// The roster position of user `id` if it is in the stretch at hand,
    /// reading the next stretch when the file has come to its end.
    fn find(&mut self, job: &ImportJob, id: &str) -> Result<Option<usize>, ImportError> {
        loop {
            if let Some(pos) = self.current.find(id) {
                self.next = self.next.max(pos + 1);
                return Ok(Some(pos));
            }
            if let Some(pos) = self.stale.iter().find_map(|s| s.find(id)) {
                return Ok(Some(pos));
            }
            let at = self.current.end();
            if self.stale.len() >= STALE_STRETCHES
                || at >= self.len
                || self.next < self.current.active_end
            {
                return Ok(None);
            }
            let users = self.read_stretch(job, at)?;
            if users.is_empty() {
                self.len = at;
                return Ok(None);
            }
            let fresh = Stretch::new(users);
            self.next = self.next.max(at);
            // The batch's users found so far may be in the one replaced.
            self.stale.push(mem::replace(&mut self.current, fresh));
        }
    }

    /// The stretch from `at`, with its entries if they are needed: read
    /// beforehand if they were, and the next stretch's are then started.
    fn read_stretch(&mut self, job: &ImportJob, at: usize) -> Result<Vec<StoredUser>, ImportError> {
        let (rt, store, id) = (&job.rt, &job.store, &job.migration_id);
        let ready = match self.next_entries.take() {
            Some((from, task)) if from == at => Some(task),
            Some((_, task)) => {
                task.abort();
                None
            }
            None => None,
        };
        let users = match ready {
            Some(task) => {
                let mut users = rt.block_on(store.import_stretch(id, at, false))?;
                let entries = rt
                    .block_on(task)
                    .map_err(|e| ImportError::Internal(format!("reading draft entries: {e}")))??;
                attach_entries(&mut users, entries);
                users
            }
            None => rt.block_on(store.import_stretch(id, at, self.entries))?,
        };
        if let Some(end) = users
            .last()
            .map(|u| u.pos + 1)
            .filter(|&e| self.entries && e < self.len)
        {
            let (store, id) = (store.clone(), id.clone());
            let task = rt.spawn(async move { store.import_stretch_entries(&id, end).await });
            self.next_entries = Some((end, task));
        }
        Ok(users)
    }

    /// A user found by [`Cursor::find`] during this batch.
    fn get(&self, pos: usize) -> Option<&StoredUser> {
        self.current
            .get(pos)
            .or_else(|| self.stale.iter().find_map(|s| s.get(pos)))
    }

    /// Between batches: the stretches before are no longer named.
    fn release(&mut self) {
        self.stale.clear();
    }
}
