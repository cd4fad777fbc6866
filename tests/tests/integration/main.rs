//! Every integration suite in one test binary: one link of the whole app
//! instead of one per suite (issue 18, item 5). Each module is a suite;
//! `cargo test -p ferry-tests --test integration <module>::` runs one.

#![allow(clippy::unwrap_used)]

mod audit;
mod auth;
mod authz;
mod browser;
mod cli;
mod cli_licence_step;
mod cluster;
mod crash;
mod cutover;
mod delivery;
mod deploy;
mod dispatch;
mod estimate;
mod faults;
mod faults_pg;
mod history;
mod http_source;
mod idempotency;
mod import_fuzz;
mod jobs;
mod ledger_schema;
mod licence_rules;
mod licences;
mod metrics;
mod migrations;
mod operations;
mod overview_counts;
mod own_key;
mod processes;
mod restart;
mod roster_stream;
mod s3;
mod scale;
mod store;
mod streamed_import;
mod sweep;
mod ui;
mod upload;
mod webhooks;
mod workspace;
