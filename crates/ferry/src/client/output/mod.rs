//! Where results go. Human text by default; with `--json` stdout carries
//! only JSON (the server's own documents), so `ferry … --json | jq` works,
//! and every note for a person goes to stderr.

pub mod render;
pub mod step;
pub mod table;

use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// The result of a command: `value` under `--json`, else `human()`.
    pub fn result(&self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            let text = human();
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
    }

    /// A note for the person at the terminal (a saved file, a hint): on
    /// stderr, so it never mixes with a result a script parses.
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
    }
}
