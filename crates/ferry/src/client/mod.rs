//! `ferry <verb>`: a client for a running Ferry server, for migrators at a
//! terminal and for scripts. It speaks only the public HTTP API (URL + key),
//! so it works against any deployment, and every step a person can do with
//! curl has a command here.
//!
//! Layout: `args` (clap), `commands/` (one file per part of a migration),
//! `http` (requests, retries, problems), `output/` (human text, tables and
//! `--json`), `report` (error reports), `watch` (progress bar), `exit` (the
//! documented exit codes), `receipt` (`ferry receipt verify`, which reads a
//! tenant store instead of the server).

mod args;
mod commands;
mod exit;
mod http;
mod output;
mod receipt;
mod report;
mod upload_body;
mod watch;

use std::process::ExitCode;

pub use args::{ClientCommand, Connection};
use exit::{Exit, Failure};
use output::Out;

/// Runs one client command and returns the process's exit code.
pub fn run(conn: Connection, command: ClientCommand) -> ExitCode {
    let out = Out { json: conn.json };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let outcome = runtime.block_on(async {
        // Reads a tenant store, not the server: no key needed.
        if let ClientCommand::Receipt(args::ReceiptCommand::Verify {
            tenant_store,
            tenant,
        }) = &command
        {
            return receipt::verify(out, tenant_store, tenant).await;
        }
        let key = conn
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Failure::usage(
                    "no API key: pass --key or set FERRY_KEY (create one with `ferry keys create`)",
                )
            })?;
        let api = http::Api::new(&conn.server, key, conn.timeout())?;
        commands::dispatch(&api, out, command).await
    });
    match outcome {
        Ok(exit) => exit.into(),
        Err(f) => {
            if let (true, Some(body)) = (out.json, &f.body) {
                println!("{}", serde_json::to_string_pretty(body).unwrap_or_default());
            }
            eprintln!("ferry: {}", f.message);
            f.exit.into()
        }
    }
}
