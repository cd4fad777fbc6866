//! The client's command line. Nouns with several verbs are groups
//! (`ferry migrations create`); the lifecycle steps a migrator runs in order
//! are plain verbs (`ferry preflight`, `ferry commit`, `ferry start`, …).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// How to reach the server; global, so they may stand anywhere on the line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Client options")]
pub struct Connection {
    /// URL of the Ferry server.
    #[arg(
        long,
        global = true,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API key (Bearer). Prefer the variable: arguments show in `ps`.
    #[arg(long, global = true, env = "FERRY_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Print the server's JSON documents on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the server to answer before giving up.
    #[arg(long, global = true, default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,
}

impl Connection {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Open, list and show migrations.
    #[command(subcommand)]
    Migrations(MigrationsCommand),
    /// Load the source's users.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// The licence assignment as a CSV round trip.
    #[command(subcommand)]
    Assignments(AssignmentsCommand),
    /// The target tenant's plans and add-ons with the contract's capacity.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// Per plan and add-on: holders today, assigned in the draft, capacity
    /// and what remains; the old licences under their own names.
    Overview {
        /// Migration id.
        id: String,
    },
    /// The source's users with their draft assignment and problems.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Edit the assignment draft for chosen users.
    #[command(subcommand)]
    Draft(DraftCommand),
    /// Run the pre-flight checks and print them (exit 5 when one fails).
    Preflight {
        /// Migration id.
        id: String,
    },
    /// Show the draft as a diff: who changes, who loses access.
    Review {
        /// Migration id.
        id: String,
    },
    /// Commit the draft: draft → ready (pre-flight must pass).
    Commit(Lifecycle),
    /// Load the document manifest.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// List the manifest's documents and their outcomes.
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// Start the upload (from ready) or a recovery (from uploaded).
    Start(Start),
    /// Copy the documents while the source stays live (draft or ready), so
    /// the cutover (`ferry start`) only copies what changed since.
    Precopy(Start),
    /// Follow a job until it ends, with a progress bar.
    Watch(Watch),
    /// Close an uploaded migration: uploaded → completed; lifts the freeze.
    Complete(Lifecycle),
    /// Cancel a migration (any state before completed); lifts the freeze.
    Cancel(Lifecycle),
    /// Go back to editing a committed draft: ready → draft.
    Reopen(Lifecycle),
    /// Check what an upload delivered, against its receipt.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a tenant store against the receipt (`<tenant>/MIGRATION.json`)
    /// the upload wrote: every delivered file and every uploaded document,
    /// by size and SHA-256. Reads the store directly, no server or key
    /// needed. Exit 0 when all matches, 1 when anything does not.
    Verify {
        /// The tenant store: `file:///folder` or `s3://bucket/prefix`
        /// (credentials and endpoint from the `AWS_*` variables).
        tenant_store: String,
        /// The tenant (its folder in the store).
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrationsCommand {
    /// Open a migration from a JSON file (the API's body) and/or flags.
    Create(Box<Create>),
    /// List migrations (all pages).
    List {
        /// Only this state (draft, ready, uploading, …).
        #[arg(long)]
        state: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one migration with its latest job and the upload estimate.
    Show {
        /// Migration id.
        id: String,
    },
}

/// Flags override the file's fields, so one template serves many tenants.
#[derive(Debug, Args)]
pub struct Create {
    /// JSON body of `POST /v1/migrations` (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub customer_name: Option<String>,
    /// Source product version, e.g. "8.3 R05".
    #[arg(long)]
    pub source_version: Option<String>,
    /// URL of the source's database dump.
    #[arg(long)]
    pub database_url: Option<String>,
    /// URL (prefix) of the source's document archive.
    #[arg(long)]
    pub archive_url: Option<String>,
    #[arg(long)]
    pub requested_by_name: Option<String>,
    #[arg(long)]
    pub requested_by_email: Option<String>,
    #[arg(long)]
    pub migrator_name: Option<String>,
    #[arg(long)]
    pub migrator_email: Option<String>,
    #[arg(long)]
    pub migrator_phone: Option<String>,
    /// Makes a retried create safe: the same key returns the first answer.
    /// Default: a fresh key per run (protects this run's own retries).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RosterFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Upload the roster (CSV or JSON; replaces the previous one).
    Upload {
        /// Migration id.
        id: String,
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Default: from the file name (.json is JSON, anything else CSV).
        #[arg(long)]
        format: Option<RosterFormat>,
        /// Where to save the error report if the file is refused
        /// (default: next to the file, `<name>.errors.csv`).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssignmentsCommand {
    /// Download the assignment CSV to edit in a spreadsheet.
    Export {
        /// Migration id.
        id: String,
        /// Where to write it (`-` for stdout).
        file: PathBuf,
    },
    /// Upload the edited CSV; all or nothing (exit 5 with the errors).
    Import {
        /// Migration id.
        id: String,
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Refuse the import if the draft changed since this version (the
        /// export prints it), instead of overwriting a colleague's edit.
        #[arg(long)]
        draft_version: Option<i64>,
        /// Where to save the error report if the file is refused
        /// (default: next to the file, `<name>.errors.csv`).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Print the catalogue (`--json`: the document `set` takes).
    Get {
        /// Migration id.
        id: String,
    },
    /// Replace the catalogue with a JSON file (`{"plans": [...],
    /// "addons": [...]}`, as `get --json` prints it); the migration must be
    /// a draft.
    Set {
        /// Migration id.
        id: String,
        /// The JSON file (`-` for stdin).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users (all pages), filtered like the API's `GET …/users`.
    List {
        /// Migration id.
        id: String,
        /// Free text over name, addresses, group and position.
        #[arg(long)]
        q: Option<String>,
        /// Only holders of this plan in the draft (`none`: without a plan).
        #[arg(long)]
        plan: Option<String>,
        /// Only users with a problem (a broken rule, on travel, no usable
        /// address).
        #[arg(long)]
        problems: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DraftCommand {
    /// Set plan, add-ons and/or user name for the chosen users at once: all
    /// or nothing (exit 5 with the rule violations). Sends `If-Match` with
    /// `--draft-version`, or else with the version read just before, so a
    /// colleague's newer edit is reported (exit 4), never overwritten.
    Edit(DraftEdit),
}

#[derive(Debug, Args)]
pub struct DraftEdit {
    /// Migration id.
    pub id: String,
    /// The users to edit: ids separated by commas.
    #[arg(long, value_delimiter = ',', required = true, value_name = "IDS")]
    pub users: Vec<String>,
    /// Give this plan.
    #[arg(long, conflicts_with = "no_plan")]
    pub plan: Option<String>,
    /// Take the licence away (also clears add-ons and user name).
    #[arg(long)]
    pub no_plan: bool,
    /// Exactly these add-ons, separated by commas (`""`: none).
    #[arg(long, value_name = "NAMES")]
    pub addons: Option<String>,
    /// The user name: one of the user's addresses or a new one.
    #[arg(long, conflicts_with = "no_username")]
    pub username: Option<String>,
    /// Clear the user name.
    #[arg(long)]
    pub no_username: bool,
    /// Refuse (exit 4) if the draft is no longer at this version.
    #[arg(long)]
    pub draft_version: Option<i64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ManifestFormat {
    Csv,
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Upload the document manifest (CSV or NDJSON; streamed).
    Upload {
        /// Migration id.
        id: String,
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Default: from the file name (.ndjson/.jsonl are NDJSON, else CSV).
        #[arg(long)]
        format: Option<ManifestFormat>,
        /// Where to save the error report if the file is refused
        /// (default: next to the file, `<name>.errors.csv`).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// List documents (all pages), e.g. `--status missing` before a recovery.
    List {
        /// Migration id.
        id: String,
        /// pending, uploaded, missing or failed.
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct Lifecycle {
    /// Migration id.
    pub id: String,
    /// Refuse (exit 4) if the migration's version is no longer this one.
    #[arg(long)]
    pub expect_version: Option<i64>,
}

#[derive(Debug, Args)]
pub struct Start {
    /// Migration id.
    pub id: String,
    /// Makes a retried start safe (default: a fresh key per run).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Follow the job at once, as `ferry watch` does.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub poll: Poll,
}

#[derive(Debug, Args)]
pub struct Watch {
    /// A job id, or a migration id (its latest job).
    pub id: String,
    #[command(flatten)]
    pub poll: Poll,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Poll {
    /// Milliseconds between two polls of the job.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub interval: u64,
}
