//! What real Prometheus tools make of fedimeter's `/metrics`: `promtool check metrics` finds
//! no parse error and no lint finding on fedimeter's own families (peer-compatible names are
//! allowlisted explicitly), and a real Prometheus server that scrapes fedimeter stores exactly
//! the series names fedimeter exposes — no `_total` added or lost — in both formats.

mod binary;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binary::{Workdir, get};

/// Families whose names are kept for compatibility with the established exporters, and the
/// promtool lint finding each is expected to get (the same finding those exporters get).
const PROMTOOL_ALLOWLIST: &str = include_str!("fixtures/promtool-allowlist.txt");

fn allowlisted(finding: &str) -> bool {
    PROMTOOL_ALLOWLIST
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|allowed| finding.trim() == allowed)
}

/// Config for a fedimeter that monitors something real: itself is enough to exercise the
/// pipeline here; collector-specific families are covered by each collector's tests, which
/// also run promtool on their output.
fn config() -> String {
    "listen = \"127.0.0.1:0\"\n".to_string()
}

fn metric_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or("").to_string())
        .collect()
}

/// Runs `promtool check metrics` on `exposition`; returns its findings (lines).
pub fn promtool_findings(exposition: &str) -> Vec<String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test installs the prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("error while linting"),
        "promtool could not parse /metrics: {text}"
    );
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[tokio::test]
async fn promtool_accepts_metrics_with_only_allowlisted_findings() {
    let work = Workdir::new(&config());
    let server = work.serve(&[]);
    let (_, _, text, _) = get(&server.url("/metrics"), None).await;
    for finding in promtool_findings(&text) {
        assert!(
            allowlisted(&finding),
            "unexpected promtool finding: {finding}"
        );
        assert!(
            !finding.starts_with("fedimeter_"),
            "fedimeter's own family has a finding: {finding}"
        );
    }
}

#[test]
fn the_allowlist_only_names_peer_compatible_families() {
    for line in PROMTOOL_ALLOWLIST
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        assert!(
            !line.starts_with("fedimeter_"),
            "fedimeter's own families may not be allowlisted: {line}"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Prometheus server in a temp dir scraping `target` every second; killed on drop.
struct Prometheus {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: fedimeter\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Waits until fedimeter has been scraped successfully a few times and returns the
    /// stored metric names (without Prometheus's own `up` and `scrape_*`).
    async fn stored_names(&self, want: &BTreeSet<String>) -> BTreeSet<String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut names = BTreeSet::new();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(response) = client
                .get(format!("{}/api/v1/label/__name__/values", self.base))
                .send()
                .await
            else {
                continue;
            };
            let Ok(json) = response.json::<serde_json::Value>().await else {
                continue;
            };
            names = json["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            names.retain(|n| n != "up" && !n.starts_with("scrape_"));
            if want.is_subset(&names) {
                break;
            }
        }
        names
    }

    async fn scrape_health(&self) -> String {
        let json: serde_json::Value = reqwest::get(format!("{}/api/v1/targets", self.base))
            .await
            .expect("targets api")
            .json()
            .await
            .expect("json");
        json["data"]["activeTargets"][0].to_string()
    }
}

#[tokio::test]
async fn a_real_prometheus_stores_exactly_the_names_fedimeter_exposes() {
    let work = Workdir::new(&config());
    let server = work.serve(&[]);
    let (_, _, text, _) = get(&server.url("/metrics"), None).await;
    let exposed = metric_names(&text);
    assert!(!exposed.is_empty());
    let target = server.base.trim_start_matches("http://").to_string();
    // Prometheus asks for OpenMetrics first, so this checks the OpenMetrics path end to end.
    let prometheus = Prometheus::start(&target);
    let stored = prometheus.stored_names(&exposed).await;
    assert_eq!(
        stored,
        exposed,
        "scrape target: {}",
        prometheus.scrape_health().await
    );
}
