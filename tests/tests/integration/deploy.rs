//! `deploy/` is not run here (no container engine), so this keeps it honest:
//! every `FERRY_*` variable it sets is one the binary reads, and every
//! subcommand it runs is one the binary has.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("deploy dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Variables that appear in deploy/ but are not Ferry settings: compose's
/// own port interpolation and the service-link names Kubernetes would inject
/// (the manifests switch those off and say why).
const NOT_SETTINGS: [&str; 3] = [
    "FERRY_HTTP_PORT",
    "FERRY_API_PORT",
    "FERRY_API_SERVICE_HOST",
];

#[test]
fn deploy_files_use_real_settings_and_subcommands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config =
        std::fs::read_to_string(root.join("crates/ferry/src/config.rs")).expect("config.rs");
    let mut all = Vec::new();
    files(&root.join("deploy"), &mut all);
    let mut checked = 0;
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (i, _) in text.match_indices("FERRY_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            // `FERRY_*` in prose names the family, not a variable.
            if name.ends_with('_')
                || NOT_SETTINGS.contains(&name.as_str())
                || name == "FERRY_CONFIG"
            {
                continue;
            }
            let field = name.trim_start_matches("FERRY_").to_lowercase();
            assert!(
                config.contains(&format!("pub {field}:")),
                "{} sets {name}, which is not a setting in crates/ferry/src/config.rs",
                file.display()
            );
            checked += 1;
        }
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line
                .strip_prefix("args: [\"")
                .or_else(|| line.strip_prefix("command: [\""))
            else {
                continue;
            };
            let first = rest.split('"').next().unwrap_or_default();
            if [
                "serve",
                "worker",
                "all-in-one",
                "migrate",
                "openapi",
                "keys",
            ]
            .contains(&first)
            {
                checked += 1;
            } else {
                // Other programs' commands (redis-server, sleep, mc…) are
                // fine; a ferry-looking one that does not exist is not.
                assert!(
                    !first.starts_with("ferry"),
                    "{}: unknown subcommand {first}",
                    file.display()
                );
            }
        }
    }
    assert!(checked > 20, "deploy/ was scanned ({checked} references)");
}
