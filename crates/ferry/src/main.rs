//! `ferry`: one binary for every role. This file only parses arguments and
//! calls the library, so tests drive exactly what production runs. The
//! client commands (talking to a server by URL + key) live in `client`.

mod client;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferry::{Application, Parts, Settings};
use ferry_domain::{Role, TenantSlug};
use ferry_store::{AuditEvent, NewApiKey, Store};

/// mimalloc instead of the system allocator: a large CSV import reads the
/// roster in stretches of 50,000 users, and glibc's malloc kept the pages of
/// each freed stretch fragmented, so the process's peak grew with the file
/// (1.4× at a million rows against 100,000); mimalloc reuses and returns
/// them, keeping the peak flat as the memory target of issue 3 requires.
///
/// Built with `no_thp`: mimalloc 3 otherwise asks for transparent huge pages
/// (`madvise`), so every fresh allocator page was a 2 MiB page the kernel
/// zeroes. That was half the idle process (90 → 46 MiB RSS) and 28 % of the
/// CPU of a 20,000-document upload (`clear_page_erms` under mimalloc's
/// page faults in the profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Moves an on-premises CRM installation into a cloud tenant"
)]
struct Cli {
    /// TOML configuration file (also FERRY_CONFIG); FERRY_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    client: client::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API only.
    Serve,
    /// Run the job worker only.
    Worker,
    /// API and worker in one process (the embedded default of `make run`).
    AllInOne,
    /// Bring the database and queue schemas up to date, then exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage API keys directly in the database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail in the database.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Client commands: talk to a running server (--server, --key).
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it (shown this once).
    Create {
        /// admin, sales, migrator or ops.
        #[arg(long)]
        role: Role,
        /// Limit the key to one tenant's migrations.
        #[arg(long)]
        tenant: Option<String>,
        /// What the key is for.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain from the first record: exit 0 when intact, 1
    /// naming the first record that does not verify.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client needs no configuration, database or logging of its own.
    if let Command::Client(command) = cli.command {
        return client::run(cli.client, command);
    }
    if let Command::Openapi = cli.command {
        print!("{}", ferry_http::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferry: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    ferry::telemetry::init(settings.log_format, &settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ferry failed");
            eprintln!("ferry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let parts = match command {
        Command::Serve => Parts::Api,
        Command::Worker => Parts::Worker,
        Command::AllInOne => Parts::AllInOne,
        Command::Migrate => {
            ferry::Services::connect(&settings).await?;
            println!("schemas are up to date");
            return Ok(());
        }
        Command::Keys { command } => return keys(command, &settings).await,
        Command::Audit { command } => return audit(command, &settings).await,
        Command::Openapi | Command::Client(_) => return Ok(()),
    };
    let app = Application::build(settings, parts).await?;
    if let Some(key) = &app.new_admin_key {
        // Printed, not logged: logs are shipped elsewhere, a terminal is not.
        println!(
            "\n  No API key existed, so an admin key was created. It is shown only now:\n\n    {key}\n"
        );
    }
    if let Some(addr) = app.addr() {
        println!("ferry listening on http://{addr} (docs at http://{addr}/docs/)");
    }
    app.run(ferry::shutdown_on_signals()).await
}

async fn connect_store(settings: &Settings) -> anyhow::Result<Store> {
    settings.prepare_data_dir()?;
    Store::connect(
        &settings.database_url(),
        2,
        std::time::Duration::from_secs(10),
    )
    .await
    .context("connecting to the state database")
}

async fn audit(command: AuditCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect_store(settings).await?;
    match command {
        AuditCommand::Verify => match store.verify_audit().await? {
            Ok(chain) => println!(
                "audit chain intact: {} records, head {}",
                chain.records, chain.head_hash
            ),
            Err(broken) => anyhow::bail!("audit chain broken at seq {}: {broken}", broken.seq),
        },
    }
    Ok(())
}

async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect_store(settings).await?;
    match command {
        KeysCommand::Create { role, tenant, name } => {
            let tenant = tenant
                .map(|t| {
                    TenantSlug::parse(&t)
                        .map(|t| t.to_string())
                        .map_err(|e| anyhow::anyhow!(e.message))
                })
                .transpose()?;
            let key = ferry_http::auth::generate_key();
            let record = store
                .insert_key(
                    &NewApiKey {
                        id: uuid::Uuid::now_v7().hyphenated().to_string(),
                        name,
                        role,
                        tenant,
                        key_hash: ferry_http::auth::hash_key(&key),
                    },
                    |k| vec![AuditEvent::key_created(Some("cli"), k)],
                )
                .await?;
            eprintln!(
                "created {} key {} (shown once; store it now)",
                record.role, record.id
            );
            println!("{key}");
        }
        KeysCommand::List => {
            for k in store.list_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.role,
                    k.tenant.as_deref().unwrap_or("*"),
                    k.name,
                    k.revoked_at
                        .as_deref()
                        .map_or("active".to_owned(), |t| format!("revoked {t}"))
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let audit = vec![AuditEvent::key_revoked(Some("cli"), &id)];
            if !store.revoke_key(&id, audit).await? {
                anyhow::bail!("no active key with id {id}");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}
