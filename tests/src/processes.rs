//! Running the real `ferry` binary as separate processes, as production does.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `ferry` binary next to this test binary (`target/<profile>/ferry`),
/// built on first use if `make test` has not built it already.
pub fn ferry_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let bin = profile_dir.join("ferry");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "ferry", "--bin", "ferry"])
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building the ferry binary failed");
    }
    bin
}

/// A `ferry` child process whose output goes to a log file; killed on drop.
pub struct FerryProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl FerryProcess {
    pub fn start(args: &[&str], env: &[(&str, String)], log: PathBuf) -> FerryProcess {
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(ferry_bin());
        cmd.args(args)
            .env_remove("FERRY_CONFIG")
            .env("FERRY_LOG", "info")
            .stdout(Stdio::from(file.try_clone().expect("dup")))
            .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        FerryProcess {
            child: cmd.spawn().expect("ferry starts"),
            log,
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status, at most `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits until the log contains `needle`.
    pub async fn wait_for_output(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "'{needle}' not in output:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for FerryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
