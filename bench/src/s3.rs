//! Scenario (d)'s S3-protocol server: `s3s-fs` (a Rust S3 server from
//! crates.io, installed into `bench/.tools` by `bench/tools.sh`) on a free
//! port of 127.0.0.1, storing objects as plain files under its root, so a
//! run's bytes are checked on disk like the local scenarios'.
//!
//! Ferry reaches it through `object_store`'s S3 client (`AWS_*`), rclone
//! through its S3 backend (an `RCLONE_CONFIG_*` remote); same endpoint, same
//! credentials. The server shares the machine's two cores with the client,
//! so its CPU time is read around every run and printed beside it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const ACCESS_KEY: &str = "ferry-bench";
const SECRET_KEY: &str = "ferry-bench-secret";
pub const BUCKET: &str = "bench";
/// The rclone remote's name (`RCLONE_CONFIG_<NAME>_…`).
const REMOTE: &str = "benchs3";

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// The server's data folder; the bucket is `root/BUCKET`.
    pub root: PathBuf,
    pub version: String,
}

impl S3Server {
    pub fn start(bin: &Path, root: PathBuf) -> Result<S3Server> {
        std::fs::create_dir_all(root.join(BUCKET))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            version: crate::tools::version(bin),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("s3s-fs did not listen on {} in 20 s", server.endpoint);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The server process's CPU time so far (user + system).
    pub fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may hold spaces) start at ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64> {
            Ok(fields.get(i).context("short /proc stat")?.parse::<u64>()?)
        };
        // utime and stime are fields 14 and 15, i.e. 11 and 12 after ')'.
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
    }

    /// Where the objects under `prefix` are stored as files.
    pub fn folder(&self, prefix: &str) -> PathBuf {
        self.root.join(BUCKET).join(prefix)
    }

    /// The environment that points a Ferry server's tenant store here.
    pub fn ferry_env(&self, prefix: &str) -> Vec<(&'static str, String)> {
        vec![
            ("FERRY_TENANT_STORE_URL", format!("s3://{BUCKET}/{prefix}")),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".into()),
        ]
    }

    /// `rclone copy <src> <remote>:<bucket>/<prefix>` against this server.
    /// Debian's rclone 1.60 refuses to build an S3 remote while
    /// `AWS_CA_BUNDLE` is set (`LoadCustomCABundleError`), so it is unset.
    pub fn rclone(&self, rclone: &Path, src: &Path, prefix: &str, config: &Path) -> Command {
        let mut cmd = Command::new(rclone);
        cmd.arg("copy")
            .arg(src)
            .arg(format!("{REMOTE}:{BUCKET}/{prefix}"))
            .env("RCLONE_CONFIG", config)
            .env_remove("AWS_CA_BUNDLE");
        let key = |k: &str| format!("RCLONE_CONFIG_{}_{k}", REMOTE.to_uppercase());
        for (k, v) in [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", self.endpoint.as_str()),
            ("ACCESS_KEY_ID", ACCESS_KEY),
            ("SECRET_ACCESS_KEY", SECRET_KEY),
            ("REGION", "us-east-1"),
            ("FORCE_PATH_STYLE", "true"),
        ] {
            cmd.env(key(k), v);
        }
        cmd
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on
/// Linux unless told otherwise).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}
