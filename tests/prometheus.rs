//! What real Prometheus tools make of fedimeter's `/metrics`: `promtool check metrics` finds
//! no parse error and no lint finding on fedimeter's own families (peer-compatible names are
//! allowlisted explicitly), and a real Prometheus server that scrapes fedimeter stores exactly
//! the series names fedimeter exposes — no `_total` added or lost — in both formats.

mod binary;
mod support;

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

/// Config for a fedimeter that monitors real servers of every kind, so the exposition holds
/// every collector's families: two PostgreSQL targets (one stopped, so both label styles and
/// `pg_up 0` appear), PgBouncer, and Redis with Sidekiq data.
struct Targets {
    pg: support::PgServer,
    _pgbouncer: support::PgBouncer,
    _redis: support::RedisServer,
    config: String,
}

fn targets() -> Targets {
    let pg = support::PgServer::start();
    let pgbouncer = support::PgBouncer::start(&pg, support::PgBouncerOptions::default());
    pg.exec("CREATE TABLE statuses (id bigint PRIMARY KEY, text text); INSERT INTO statuses SELECT g, 'x' FROM generate_series(1, 100) g; ANALYZE statuses;");
    let redis = support::RedisServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    redis.cmd(&["SADD", "queues", "default", "ingress"]);
    let job = format!(
        r#"{{"class":"ActivityPub::ProcessingWorker","queue":"ingress","jid":"a1","created_at":{t},"enqueued_at":{t}}}"#,
        t = now - 5.0
    );
    redis.cmd(&["LPUSH", "queue:ingress", job.as_str()]);
    redis.cmd(&["SET", "stat:processed", "42"]);
    let config = format!(
        r#"listen = "127.0.0.1:0"
[[postgres]]
name = "primary"
url = "{pg}"
interval = "10s"
timeout = "5s"
[[postgres]]
name = "stopped"
url = "postgres://nobody:nothing@127.0.0.1:1/postgres"
interval = "10s"
timeout = "5s"
[[pgbouncer]]
name = "pgbouncer"
url = "{pgb}"
interval = "10s"
timeout = "5s"
[[redis]]
name = "sidekiq"
url = "{redis}"
sidekiq = true
interval = "10s"
timeout = "5s"
"#,
        pg = pg.url("postgres"),
        pgb = pgbouncer.admin_url(),
        redis = redis.url(),
    );
    Targets {
        pg,
        _pgbouncer: pgbouncer,
        _redis: redis,
        config,
    }
}

/// The up lines of the three reachable targets.
const UP: [&str; 3] = [
    "\npg_up{target=\"primary\"} 1\n",
    "\npgbouncer_up{target=\"pgbouncer\"} 1\n",
    "\nredis_up{target=\"sidekiq\"} 1\n",
];

/// Waits until every target has been collected once and the reachable ones are up: the
/// families are checked on a complete collection, not on a run a loaded machine slowed down.
/// (The targets' timeouts above are generous for the same reason: they are not under test.)
async fn ready(server: &binary::Server) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if get(&server.url("/readyz"), None).await.0 == 200 {
            let (_, _, text, _) = get(&server.url("/metrics"), None).await;
            if UP.iter().all(|line| text.contains(line)) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "fedimeter never became ready with {UP:?}:\n{}",
        server.log()
    );
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
    let targets = targets();
    let work = Workdir::new(&targets.config);
    let server = work.serve(&[]);
    ready(&server).await;
    let (_, _, text, _) = get(&server.url("/metrics"), None).await;
    for family in [
        "pg_up",
        "pg_stat_database_xact_commit",
        "pgbouncer_pools_client_active_connections",
        "redis_connected_clients",
        "sidekiq_queue_latency_seconds",
    ] {
        let present =
            text.contains(&format!("\n{family}{{")) || text.contains(&format!("\n{family} "));
        assert!(present, "{family} missing from\n{text}");
    }
    assert!(targets.pg.port() > 0);
    let findings = promtool_findings(&text);
    let own: Vec<&String> = findings
        .iter()
        .filter(|f| f.starts_with("fedimeter_"))
        .collect();
    assert!(
        own.is_empty(),
        "fedimeter's own families have findings: {own:#?}"
    );
    let unexpected: Vec<&str> = findings
        .iter()
        .map(String::as_str)
        .filter(|f| !allowlisted(f))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected promtool findings:\n{}",
        unexpected.join("\n")
    );
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
    let targets = targets();
    let work = Workdir::new(&targets.config);
    let server = work.serve(&[]);
    ready(&server).await;
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
