//! Shared by the integration tests: `neosl serve` as an operator runs it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use neosl_testkit::TempDir;

pub struct Running {
    pub child: Child,
    pub urls: HashMap<String, String>,
    pub stdout: Vec<String>,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `neosl serve` with every service on a free port and waits for "ready".
pub fn serve(dir: &TempDir, extra_args: &[&str], env: &[(&str, &str)]) -> Result<Running, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neosl"));
    command
        .arg("serve")
        .args(extra_args)
        .env("NEOSL_DATA_DIR", dir.path().join("data"))
        .env("NEOSL_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("NEOSL_ACCOUNTPOOL_LISTEN", "127.0.0.1:0")
        .env("NEOSL_VRF_LISTEN", "127.0.0.1:0")
        .env_remove("OE_SIMULATION")
        .env_remove("POOL_MASTER_KEY")
        .env_remove("COORD_MASTER_SEED")
        .env_remove("VRF_PRIVATE_KEY")
        .env_remove("JWT_SIGNING_KEY")
        .env_remove("GASBANK_MASTER_KEY")
        .env_remove("GATEWAY_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    // Drain stderr (the log) all along: a full pipe would block the server.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().ok_or("stderr")?;
    let sink = log.clone();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut l) = sink.lock() {
                l.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut lines = Vec::new();
    let mut urls = HashMap::new();
    let mut reader = BufReader::new(stdout).lines();
    while let Some(line) = reader.next() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 2 && (words[1].starts_with("http://") || words[1].starts_with("https://"))
        {
            urls.insert(words[0].to_owned(), words[1].to_owned());
        }
        let ready = line.starts_with("ready");
        lines.push(line);
        if ready {
            // Keep draining stdout so the server never writes into a closed pipe.
            std::thread::spawn(move || reader.for_each(drop));
            return Ok(Running {
                child,
                urls,
                stdout: lines,
                log,
            });
        }
    }
    child.wait().ok();
    drain.join().ok();
    let err = log.lock().map(|l| l.clone()).unwrap_or_default();
    Err(format!("exited before ready:\n{}\n{err}", lines.join("\n")))
}

impl Running {
    /// SIGTERM, then the full stderr (the log) after a graceful exit.
    pub fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        let status = self.child.wait().expect("wait");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let err = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(status.success(), "graceful exit, got {status}: {err}");
        err
    }
}

impl Drop for Running {
    /// A test that fails midway never leaves a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
