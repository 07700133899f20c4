//! Runs the real `fedimeter` binary in a temp dir for end-to-end tests: spawn with a config
//! text and environment, learn the bound address from its log, fetch pages, send SIGTERM.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fedimeter")
}

/// A temp dir holding `fedimeter.toml`; commands run with it as the working directory.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new(config: &str) -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("fedimeter.toml"), config).expect("write config");
        Workdir { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `fedimeter <args>` to completion with extra environment variables.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .env_remove("FEDIMETER_CONFIG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run fedimeter")
    }

    /// Starts `fedimeter serve` and waits until it logs the address it serves on.
    pub fn serve(&self, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(bin())
            .arg("serve")
            .envs(env.iter().copied())
            .env_remove("FEDIMETER_CONFIG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fedimeter serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving listen=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let metrics = rest
                        .split("metrics_listen=Some(")
                        .nth(1)
                        .map(|m| m.trim_end_matches(')').to_string());
                    let _ = addr_tx.send((addr, metrics));
                }
                let mut log = log_writer.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let out_writer = log.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut text);
            out_writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text);
        });
        let (addr, metrics_addr) = match addr_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "fedimeter did not start; log:\n{}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                );
            }
        };
        Server {
            child,
            base: format!("http://{addr}"),
            metrics_base: metrics_addr.map(|m| format!("http://{m}")),
            log,
        }
    }
}

/// A running `fedimeter serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub metrics_base: Option<String>,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Everything the process printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn metrics_url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.metrics_base.as_deref().unwrap_or(&self.base),
            path
        )
    }

    /// Sends SIGTERM and waits for the exit, returning how long it took.
    pub fn sigterm_and_wait(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "fedimeter exited with {status}; log:\n{}",
                    self.log()
                );
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "fedimeter did not exit within {limit:?} of SIGTERM; log:\n{}",
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET with a short timeout, returning (status, content-type, body, elapsed).
pub async fn get(url: &str, accept: Option<&str>) -> (u16, String, String, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.text().await.expect("body");
    (status, content_type, body, started.elapsed())
}
