//! The `[[redis]]` collector against a real Redis (tests/support): INFO families, password
//! and ACL authentication, faults (stopped, SIGSTOPped, restarted), and Sidekiq 6/7 and 8
//! layouts seeded by hand (sizes, latencies, live processes, paused queues, namespace,
//! hostile queue names), plus the Mastodon Redis gauges.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use fedimeter::collect::redis::{RedisCollector, RedisOptions};
use fedimeter::collect::runner::collect_once;
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::{RedisTarget, SecretUrl, TargetCommon};
use fedimeter::export::exposition::{Format, render_families};
use fedimeter::model::{Health, Kind, Outcome, Reason, Snapshot, TargetId};
use support::redis::{RedisOptions as ServerOptions, RedisServer, RedisTls};
use tokio::sync::Mutex;

const TIMEOUT: Duration = Duration::from_secs(2);

fn target(url: &str, sidekiq: bool, namespace: Option<&str>, options: RedisOptions) -> RedisTarget {
    RedisTarget {
        common: TargetCommon::written("main".to_string(), Duration::from_secs(15), TIMEOUT),
        url: SecretUrl::new(url.to_string()),
        sidekiq,
        namespace: namespace.map(str::to_string),
        options,
    }
}

/// One collector kept across runs (as the runner keeps it), run through `collect_once`.
#[derive(Clone)]
struct Shared(Arc<Mutex<RedisCollector>>);

#[async_trait]
impl Collector for Shared {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        self.0.lock().await.collect(sink).await
    }
}

impl Shared {
    fn new(target: &RedisTarget) -> Self {
        Shared(Arc::new(Mutex::new(RedisCollector::new(target))))
    }

    async fn run(&self) -> Snapshot {
        collect_once(
            &TargetId::new(Kind::Redis, "main"),
            TIMEOUT,
            Box::new(self.clone()),
        )
        .await
    }
}

async fn collect(target: &RedisTarget) -> Snapshot {
    Shared::new(target).run().await
}

fn exposition(snapshot: &Snapshot) -> String {
    render_families(snapshot.families.iter().map(|f| (f, None)), Format::Text)
}

fn value(snapshot: &Snapshot, name: &str, labels: &[&str]) -> f64 {
    snapshot
        .value(name, labels)
        .unwrap_or_else(|| panic!("{name}{labels:?} missing in:\n{}", exposition(snapshot)))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "line {line:?} missing in:\n{text}"
    );
}

#[tokio::test]
async fn info_families_from_a_real_redis() {
    let redis = RedisServer::start();
    redis.cmd(&["SET", "a", "1"]);
    redis.cmd(&["SET", "b", "2", "EX", "100"]);
    let collector = Shared::new(&target(&redis.url(), false, None, RedisOptions::default()));
    // The first run sends INFO ALL; the next ones only the needed sections (Redis >= 7).
    let first = exposition(&collector.run().await);
    let snapshot = collector.run().await;
    assert_eq!(snapshot.outcome, Outcome::Success);
    let text = exposition(&snapshot);
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.starts_with("redis_") && !l.starts_with("redis_exporter_last_scrape_duration")
            })
            .map(|l| l.split(['{', ' ']).next().unwrap_or("").to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(names(&first), names(&text));
    assert_line(&text, "redis_up 1");
    assert_line(&text, "redis_db_keys{db=\"db0\"} 2");
    assert_line(&text, "redis_db_keys_expiring{db=\"db0\"} 1");
    assert_line(&text, "redis_rdb_last_bgsave_status 1");
    assert_line(&text, "redis_memory_max_bytes 0");
    assert_line(&text, "redis_exporter_last_scrape_error{err=\"\"} 0");
    assert!(value(&snapshot, "redis_commands_total", &["set"]) >= 2.0);
    assert!(value(&snapshot, "redis_memory_used_bytes", &[]) > 0.0);
    assert!(
        text.contains("redis_instance_info{role=\"master\""),
        "{text}"
    );
    // No Sidekiq families without `sidekiq = true`.
    assert!(!text.contains("sidekiq_"), "{text}");
    // What the collector sent: INFO only, never KEYS/CONFIG/CLIENT.
    let stats = redis
        .cmd(&["INFO", "commandstats"])
        .as_text()
        .unwrap_or_default();
    for forbidden in ["cmdstat_keys", "cmdstat_config", "cmdstat_client"] {
        assert!(!stats.contains(forbidden), "{forbidden} was sent:\n{stats}");
    }
}

/// Label names per family of a captured redis_exporter scrape (`tests/fixtures/exporters/`).
fn exporter_label_sets(
    fixture: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let path = format!(
        "{}/tests/fixtures/exporters/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("").to_owned();
            let labels = l
                .split_once('{')
                .map(|(_, rest)| {
                    rest.split("\",")
                        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

/// Families whose labels differ from redis_exporter 1.45 on purpose: `redis_instance_info`
/// also carries `master_replid`, as later redis_exporter versions do.
const NEWER_EXPORTER_LABELS: &[&str] = &["redis_instance_info"];

/// Every family fedimeter and the captured redis_exporter scrape both have carries the same
/// label names; `wanted` must be among them.
fn assert_labels_match_redis_exporter(snapshot: &Snapshot, fixture: &str, wanted: &[&str]) {
    let exporter = exporter_label_sets(fixture);
    let mut compared = Vec::new();
    for family in &snapshot.families {
        let name = family.desc.name;
        let Some(expected) = exporter.get(name) else {
            continue;
        };
        if NEWER_EXPORTER_LABELS.contains(&name) {
            continue;
        }
        let ours: std::collections::BTreeSet<String> =
            family.desc.labels.iter().map(|l| (*l).to_owned()).collect();
        assert_eq!(&ours, expected, "{name}: labels differ from redis_exporter");
        compared.push(name);
    }
    for name in wanted {
        assert!(compared.contains(name), "{name} not compared: {compared:?}");
    }
}

/// Polls `INFO replication` of `redis` until `field:value` appears; panics after 15 s.
async fn wait_for_replication(redis: &RedisServer, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = redis
            .cmd(&["INFO", "replication"])
            .as_text()
            .unwrap_or_default();
        if info.lines().any(|l| l.trim_end() == line) {
            return;
        }
        assert!(Instant::now() < deadline, "no {line:?} in:\n{info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real replica: redis_exporter's replica-side families with its labels and INFO's values,
/// and `redis_config_maxclients` / `redis_total_system_memory_bytes` without CONFIG.
#[tokio::test]
async fn replica_side_families_from_a_real_redis_replica() {
    let master = RedisServer::start();
    let replica = RedisServer::start_replica_of(&master);
    wait_for_replication(&replica, "master_link_status:up").await;
    master.cmd(&["SET", "replicated", "1"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while replica.cmd(&["GET", "replicated"]).as_text().as_deref() != Some("1") {
        assert!(
            Instant::now() < deadline,
            "the key never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = master.port().to_string();
    let link = ["127.0.0.1", port.as_str()];

    let snapshot = collect(&target(
        &replica.url(),
        false,
        None,
        RedisOptions::default(),
    ))
    .await;
    assert_eq!(
        snapshot.outcome,
        Outcome::Success,
        "{}",
        exposition(&snapshot)
    );
    assert_eq!(value(&snapshot, "redis_master_link_up", &link), 1.0);
    assert_eq!(
        value(&snapshot, "redis_master_sync_in_progress", &link),
        0.0
    );
    // `replica-read-only` is on by default.
    assert_eq!(
        value(&snapshot, "redis_slave_info", &["127.0.0.1", &port, "1"]),
        1.0
    );
    // The SET above moved the offset past the initial sync.
    assert!(value(&snapshot, "redis_slave_repl_offset", &link) > 0.0);
    assert!(value(&snapshot, "redis_master_repl_offset", &[]) > 0.0);
    let last_io = value(&snapshot, "redis_master_last_io_seconds_ago", &link);
    assert!((0.0..=15.0).contains(&last_io), "{last_io}");
    // The server's defaults: maxclients 10000; the machine's memory from INFO.
    assert_eq!(value(&snapshot, "redis_config_maxclients", &[]), 10000.0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let total_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    assert_eq!(
        value(&snapshot, "redis_total_system_memory_bytes", &[]),
        total_kib * 1024.0
    );
    assert_labels_match_redis_exporter(
        &snapshot,
        "redis_exporter-1.45-replica.txt",
        &[
            "redis_master_link_up",
            "redis_master_repl_offset",
            "redis_slave_repl_offset",
            "redis_master_last_io_seconds_ago",
            "redis_master_sync_in_progress",
            "redis_slave_info",
            "redis_config_maxclients",
            "redis_total_system_memory_bytes",
        ],
    );

    // The master: no replica-side families, and the same label sets as the exporter's.
    let snapshot = collect(&target(&master.url(), false, None, RedisOptions::default())).await;
    let text = exposition(&snapshot);
    for absent in [
        "redis_master_link_up",
        "redis_slave_repl_offset",
        "redis_master_last_io_seconds_ago",
        "redis_master_sync_in_progress",
        "redis_slave_info",
    ] {
        assert!(!text.contains(absent), "{absent} on a master:\n{text}");
    }
    assert_eq!(value(&snapshot, "redis_connected_slaves", &[]), 1.0);
    assert_labels_match_redis_exporter(
        &snapshot,
        "redis_exporter-1.45-master.txt",
        &["redis_master_repl_offset", "redis_connected_slaves"],
    );
}

#[tokio::test]
async fn maxmemory_comes_from_info() {
    let redis = RedisServer::start_with(ServerOptions {
        extra_args: vec!["--maxmemory".into(), "10mb".into()],
        ..ServerOptions::default()
    });
    let snapshot = collect(&target(&redis.url(), false, None, RedisOptions::default())).await;
    assert_eq!(
        value(&snapshot, "redis_memory_max_bytes", &[]),
        10_485_760.0
    );
}

#[tokio::test]
async fn password_and_acl_user_authentication() {
    let with_password = RedisServer::start_with(ServerOptions {
        password: Some("s3cret-pass".into()),
        ..ServerOptions::default()
    });
    let with_user = RedisServer::start_with(ServerOptions {
        acl_user: Some(("fedimeter".into(), "acl-pass".into())),
        password: Some("other".into()),
        ..ServerOptions::default()
    });
    for redis in [&with_password, &with_user] {
        let snapshot = collect(&target(&redis.url(), true, None, RedisOptions::default())).await;
        assert_eq!(snapshot.outcome, Outcome::Success, "{}", redis.url());
        assert_eq!(value(&snapshot, "redis_up", &[]), 1.0);
    }
    let wrong = format!("redis://:wrong@127.0.0.1:{}", with_password.port());
    let snapshot = collect(&target(&wrong, false, None, RedisOptions::default())).await;
    assert_eq!(snapshot.outcome, Outcome::Failed);
    let auth = Some(Health::Down {
        reason: Reason::Auth,
    });
    assert_eq!(snapshot.health, auth);
    assert_eq!(value(&snapshot, "redis_up", &[]), 0.0);
    let text = exposition(&snapshot);
    assert!(!text.contains("wrong"), "the password leaked:\n{text}");
    let wrong_user = format!("redis://fedimeter:nope@127.0.0.1:{}", with_user.port());
    let snapshot = collect(&target(&wrong_user, false, None, RedisOptions::default())).await;
    assert_eq!(value(&snapshot, "redis_up", &[]), 0.0);
    assert_eq!(snapshot.health, auth);
}

#[tokio::test]
async fn stopped_redis_is_down_with_a_clear_error_and_recovers_after_restart() {
    let mut redis = RedisServer::start();
    let target = target(&redis.url(), true, None, RedisOptions::default());
    let collector = Shared::new(&target);
    assert_eq!(value(&collector.run().await, "redis_up", &[]), 1.0);

    redis.stop();
    let snapshot = collector.run().await;
    assert_eq!(value(&snapshot, "redis_up", &[]), 0.0);
    assert_eq!(
        snapshot.health,
        Some(Health::Down {
            reason: Reason::Refused
        })
    );
    // Refused at once, not cancelled at the timeout: the outcome says so, no clock needed.
    assert_eq!(snapshot.outcome, Outcome::Failed);
    // The error the runner logs.
    let error = collector
        .0
        .lock()
        .await
        .collect(&mut Sink::new())
        .await
        .expect_err("stopped redis");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "connecting to redis at redis://127.0.0.1:{}",
            redis.port()
        )),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");

    redis.start_again();
    let snapshot = collector.run().await;
    assert_eq!(snapshot.outcome, Outcome::Success);
    assert_eq!(value(&snapshot, "redis_up", &[]), 1.0);
}

#[tokio::test]
async fn restarted_redis_is_picked_up_on_the_next_run() {
    let mut redis = RedisServer::start();
    let collector = Shared::new(&target(&redis.url(), true, None, RedisOptions::default()));
    assert_eq!(value(&collector.run().await, "redis_up", &[]), 1.0);
    redis.kill();
    redis.start_again();
    // The kept connection is dead; the collector reconnects within the same run.
    let snapshot = collector.run().await;
    assert_eq!(snapshot.outcome, Outcome::Success);
    assert_eq!(value(&snapshot, "redis_up", &[]), 1.0);
}

#[tokio::test]
async fn sigstopped_redis_is_down_within_the_timeout() {
    let redis = RedisServer::start();
    let collector = Shared::new(&target(&redis.url(), true, None, RedisOptions::default()));
    assert_eq!(value(&collector.run().await, "redis_up", &[]), 1.0);
    redis.sigstop();
    // With the kept connection, then with a fresh one.
    for _ in 0..2 {
        let snapshot = collector.run().await;
        assert_eq!(value(&snapshot, "redis_up", &[]), 0.0);
        // Within the timeout, shown without a wall clock: our own deadline (90 % of the
        // timeout) answers before the runner cancels, so the outcome is failed, not timeout.
        assert_eq!(snapshot.outcome, Outcome::Failed);
        assert_eq!(
            snapshot.health,
            Some(Health::Down {
                reason: Reason::Timeout
            })
        );
    }
    redis.sigcont();
    assert_eq!(value(&collector.run().await, "redis_up", &[]), 1.0);
}

// ---------------------------------------------------------------------------------------
// Sidekiq
// ---------------------------------------------------------------------------------------

/// Seeds Sidekiq's keys the way Sidekiq writes them.
struct Seeder<'a> {
    redis: &'a RedisServer,
    prefix: String,
}

impl Seeder<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    fn cmd(&self, args: &[&str]) {
        let reply = self.redis.cmd(args);
        assert!(
            !matches!(reply, support::redis::Reply::Error(_)),
            "{args:?}: {reply:?}"
        );
    }

    /// LPUSHes jobs, newest last in `enqueued` order given oldest first (Sidekiq pushes at
    /// the head, so the oldest ends at index -1).
    fn push_jobs(&self, queue: &str, jobs: &[String]) {
        self.cmd(&["SADD", &self.key("queues"), queue]);
        for job in jobs {
            self.cmd(&["LPUSH", &self.key(&format!("queue:{queue}")), job]);
        }
    }

    fn process(&self, identity: &str, info: &str, busy: u32, rss_kb: u64, live: bool) {
        self.cmd(&["SADD", &self.key("processes"), identity]);
        if live {
            let key = self.key(identity);
            let beat = format!("{:.3}", now());
            let busy = busy.to_string();
            let rss = rss_kb.to_string();
            self.cmd(&[
                "HSET", &key, "info", info, "busy", &busy, "beat", &beat, "quiet", "false", "rss",
                &rss, "rtt_us", "120",
            ]);
            self.cmd(&["EXPIRE", &key, "60"]);
        }
    }
}

fn job_seconds(queue: &str, enqueued_at: f64) -> String {
    format!(
        r#"{{"class":"ActivityPub::DeliveryWorker","args":["x"],"retry":16,"queue":"{queue}","jid":"j{enqueued_at}","created_at":{c:.6},"enqueued_at":{enqueued_at:.6}}}"#,
        c = enqueued_at - 1.0
    )
}

fn job_millis(queue: &str, enqueued_at: f64) -> String {
    let ms = (enqueued_at * 1000.0).round() as i64;
    format!(
        r#"{{"class":"Sidekiq::ActiveJob::Wrapper","args":[],"queue":"{queue}","jid":"m{ms}","created_at":{c},"enqueued_at":{ms}}}"#,
        c = ms - 1000
    )
}

fn info_json(host: &str, pid: u32, concurrency: u32, queues: &[&str]) -> String {
    let queues: Vec<String> = queues.iter().map(|q| format!("\"{q}\"")).collect();
    format!(
        r#"{{"hostname":"{host}","started_at":1700000000.0,"pid":{pid},"tag":"mastodon","concurrency":{concurrency},"queues":[{}],"labels":[],"identity":"{host}:{pid}:abc"}}"#,
        queues.join(",")
    )
}

/// Seeds a Mastodon-like Sidekiq with `job` (seconds or millis format; the oldest job of
/// `default` with `oldest_default_job`) and checks every family, panicking with the
/// exposition on a mismatch.
async fn seed_and_check(
    namespace: Option<&str>,
    job: fn(&str, f64) -> String,
    oldest_default_job: fn(&str, f64) -> String,
) {
    let redis = RedisServer::start();
    let seed = Seeder {
        redis: &redis,
        prefix: namespace.map(|n| format!("{n}:")).unwrap_or_default(),
    };
    let t0 = now();
    // default: 3 jobs, oldest 120 s ago (in another format for a mixed queue).
    let oldest_default = oldest_default_job("default", t0 - 120.0);
    seed.push_jobs(
        "default",
        &[
            oldest_default,
            job("default", t0 - 60.0),
            job("default", t0 - 5.0),
        ],
    );
    // push: 2 jobs, oldest 30 s ago.
    seed.push_jobs("push", &[job("push", t0 - 30.0), job("push", t0 - 1.0)]);
    // ingress: registered but empty.
    seed.cmd(&["SADD", &seed.key("queues"), "ingress"]);
    // pull: paused, 1 job 10 s ago.
    seed.push_jobs("pull", &[job("pull", t0 - 10.0)]);
    seed.cmd(&["SADD", &seed.key("paused"), "pull"]);
    // A hostile queue name, and one with characters the exposition must escape.
    let hostile = "<img src=x onerror=alert(1)>";
    seed.push_jobs(hostile, &[job(hostile, t0 - 2.0)]);
    let escaped = "we\"ird\\q";
    seed.push_jobs(escaped, &[job(escaped, t0 - 2.0)]);
    // A queue whose oldest job is garbage.
    seed.push_jobs(
        "broken",
        &["{not json".to_string(), job("broken", t0 - 1.0)],
    );
    // Sets and counters.
    for (set, n, offset) in [
        ("schedule", 4, -100.0),
        ("retry", 3, -50.0),
        ("dead", 2, 0.0),
    ] {
        for i in 0..n {
            // Two of each schedule/retry are overdue (score in the past).
            let score = if i < 2 { t0 + offset } else { t0 + 3600.0 };
            let member = format!(r#"{{"jid":"{set}{i}","class":"X"}}"#);
            seed.cmd(&["ZADD", &seed.key(set), &format!("{score:.3}"), &member]);
        }
    }
    seed.cmd(&["SET", &seed.key("stat:processed"), "1234"]);
    seed.cmd(&["SET", &seed.key("stat:failed"), "56"]);
    let today = fedimeter::collect::redis::sidekiq::utc_date(t0).expect("a date today");
    seed.cmd(&["SET", &seed.key(&format!("stat:processed:{today}")), "78"]);
    // Processes: two live (one serves scheduler), one whose hash expired.
    seed.process(
        "web1:100:aaa",
        &info_json(
            "web1",
            100,
            10,
            &["default", "push", "ingress", "mailers", "pull"],
        ),
        2,
        100_000,
        true,
    );
    seed.process(
        "web1:200:bbb",
        &info_json("web1", 200, 5, &["scheduler", "default"]),
        1,
        50_000,
        true,
    );
    seed.process(
        "gone:300:ccc",
        &info_json("gone", 300, 99, &["fasp"]),
        9,
        1,
        false,
    );
    // One job in progress on push for 40 s.
    let work = format!(
        r#"{{"queue":"push","payload":"{{}}","run_at":{}}}"#,
        (t0 - 40.0) as i64
    );
    seed.cmd(&["HSET", &seed.key("web1:100:aaa:work"), "tid1", &work]);

    let snapshot = collect(&target(
        &redis.url(),
        true,
        namespace,
        RedisOptions::default(),
    ))
    .await;
    let after = now();
    let text = exposition(&snapshot);
    assert_eq!(snapshot.outcome, Outcome::Success, "{text}");

    let exact: &[(&str, &[&str], f64)] = &[
        ("sidekiq_queue_enqueued_jobs", &["default"], 3.0),
        ("sidekiq_queue_enqueued_jobs", &["push"], 2.0),
        ("sidekiq_queue_enqueued_jobs", &["ingress"], 0.0),
        ("sidekiq_queue_enqueued_jobs", &["pull"], 1.0),
        ("sidekiq_queue_enqueued_jobs", &["broken"], 2.0),
        ("sidekiq_enqueued_jobs", &[], 10.0),
        ("sidekiq_queue_latency_seconds", &["ingress"], 0.0),
        ("sidekiq_queue_paused", &["pull"], 1.0),
        ("sidekiq_queue_paused", &["default"], 0.0),
        ("sidekiq_queue_unparsable_jobs", &["broken"], 1.0),
        ("sidekiq_queue_unparsable_jobs", &["default"], 0.0),
        ("sidekiq_scheduled_jobs", &[], 4.0),
        ("sidekiq_retry_jobs", &[], 3.0),
        ("sidekiq_dead_jobs", &[], 2.0),
        ("sidekiq_schedule_overdue_jobs", &[], 2.0),
        ("sidekiq_retry_overdue_jobs", &[], 2.0),
        ("sidekiq_processed_jobs_total", &[], 1234.0),
        ("sidekiq_failed_jobs_total", &[], 56.0),
        ("sidekiq_jobs_processed_daily", &[&today], 78.0),
        ("sidekiq_processes", &[], 2.0),
        ("sidekiq_workers", &[], 15.0),
        ("sidekiq_busy_workers", &[], 3.0),
        ("sidekiq_host_processes", &["web1", "false"], 2.0),
        (
            "sidekiq_host_processes_memory_usage_bytes",
            &["web1"],
            150_000.0 * 1024.0,
        ),
        ("sidekiq_queue_processes", &["default"], 2.0),
        ("sidekiq_queue_workers", &["default"], 15.0),
        ("sidekiq_queue_processes", &["push"], 1.0),
        ("sidekiq_queue_busy_workers", &["push"], 1.0),
        ("sidekiq_queue_busy_workers", &["default"], 0.0),
        (
            "sidekiq_queue_max_processing_time_seconds",
            &["default"],
            0.0,
        ),
        ("sidekiq_queue_uncovered", &["default"], 0.0),
        ("sidekiq_queue_uncovered", &["scheduler"], 0.0),
        ("sidekiq_queue_uncovered", &["fasp"], 1.0),
        ("sidekiq_scheduler_processes", &[], 1.0),
    ];
    for (name, labels, expected) in exact {
        assert_eq!(
            value(&snapshot, name, labels),
            *expected,
            "{name}{labels:?}\n{text}"
        );
    }
    // The expired process' host is gone entirely.
    assert!(!text.contains("host=\"gone\""), "{text}");
    // Latencies within 1 s of the seeded oldest jobs.
    for (queue, age) in [("default", 120.0), ("push", 30.0), ("pull", 10.0)] {
        let latency = value(&snapshot, "sidekiq_queue_latency_seconds", &[queue]);
        assert!(
            latency >= age - 0.01 && latency <= age + (after - t0) + 1.0,
            "{queue}: latency {latency}, seeded {age}\n{text}"
        );
    }
    let running = value(
        &snapshot,
        "sidekiq_queue_max_processing_time_seconds",
        &["push"],
    );
    assert!((39.0..=42.0).contains(&running), "{running}");
    // An unparsable oldest job leaves the latency out instead of inventing one.
    assert!(
        snapshot
            .value("sidekiq_queue_latency_seconds", &["broken"])
            .is_none()
    );
    // Label escaping.
    assert_line(
        &text,
        "sidekiq_queue_enqueued_jobs{name=\"<img src=x onerror=alert(1)>\"} 1",
    );
    assert_line(
        &text,
        "sidekiq_queue_enqueued_jobs{name=\"we\\\"ird\\\\q\"} 1",
    );
    // redis_exporter check-keys names, with the real (namespaced) key.
    let prefix = seed.prefix.clone();
    assert_line(
        &text,
        &format!("redis_key_size{{db=\"db0\",key=\"{prefix}queue:default\"}} 3"),
    );
    assert_line(
        &text,
        &format!("redis_key_size{{db=\"db0\",key=\"{prefix}retry\"}} 3"),
    );
    // Two round trips: INFO + fixed reads, then per-queue/per-process (pipelines count as
    // one round trip each, the commands are counted individually by Redis).
    let stats = redis
        .cmd(&["INFO", "commandstats"])
        .as_text()
        .unwrap_or_default();
    for forbidden in [
        "cmdstat_keys",
        "cmdstat_config",
        "cmdstat_client",
        "cmdstat_lrange",
    ] {
        assert!(!stats.contains(forbidden), "{forbidden} was sent:\n{stats}");
    }
}

#[tokio::test]
async fn sidekiq_6_and_7_layout_float_seconds() {
    seed_and_check(None, job_seconds, job_seconds).await;
}

#[tokio::test]
async fn sidekiq_8_layout_integer_milliseconds() {
    seed_and_check(None, job_millis, job_millis).await;
}

#[tokio::test]
async fn queue_mixing_both_formats_after_an_upgrade() {
    seed_and_check(None, job_millis, job_seconds).await;
    seed_and_check(None, job_seconds, job_millis).await;
}

#[tokio::test]
async fn namespaced_sidekiq_of_mastodon_4_3() {
    seed_and_check(Some("mastodon"), job_seconds, job_seconds).await;
}

#[tokio::test]
async fn capsules_of_sidekiq_7_cover_their_queues() {
    let redis = RedisServer::start();
    let seed = Seeder {
        redis: &redis,
        prefix: String::new(),
    };
    seed.cmd(&["SADD", "queues", "default"]);
    let info = r#"{"hostname":"w","pid":1,"concurrency":5,"queues":["default","push","ingress","mailers","pull","fasp"],"capsules":{"default":{"concurrency":5,"mode":"weighted","weights":{"default":8,"push":6,"ingress":4,"mailers":2,"pull":1,"fasp":1}},"scheduler":{"concurrency":1,"mode":"strict","weights":{"scheduler":0}}},"version":"7.3.9"}"#;
    seed.process("w:1:x", info, 0, 1000, true);
    let snapshot = collect(&target(&redis.url(), true, None, RedisOptions::default())).await;
    for queue in fedimeter::collect::redis::DEFAULT_MASTODON_QUEUES {
        assert_eq!(
            value(&snapshot, "sidekiq_queue_uncovered", &[queue]),
            0.0,
            "{queue}"
        );
    }
    assert_eq!(value(&snapshot, "sidekiq_scheduler_processes", &[]), 1.0);
    assert_eq!(value(&snapshot, "sidekiq_workers", &[]), 5.0);
}

#[tokio::test]
async fn queue_cap_limits_per_queue_series() {
    let redis = RedisServer::start();
    let seed = Seeder {
        redis: &redis,
        prefix: String::new(),
    };
    for i in 0..30 {
        seed.push_jobs(&format!("q{i:02}"), &[job_seconds("x", now())]);
    }
    seed.push_jobs("default", &[job_seconds("default", now())]);
    let options = RedisOptions {
        sidekiq_queue_limit: 10,
        ..RedisOptions::default()
    };
    let snapshot = collect(&target(&redis.url(), true, None, options)).await;
    let family = snapshot
        .family("sidekiq_queue_enqueued_jobs")
        .expect("per-queue family");
    assert_eq!(family.samples.len(), 10);
    assert_eq!(
        value(&snapshot, "sidekiq_queue_enqueued_jobs", &["default"]),
        1.0
    );
    assert_eq!(value(&snapshot, "sidekiq_enqueued_jobs", &[]), 10.0);
}

#[tokio::test]
async fn wrong_key_types_are_partial_errors_not_a_failed_run() {
    let redis = RedisServer::start();
    redis.cmd(&["SET", "paused", "not a set"]);
    redis.cmd(&["SET", "retry", "not a zset"]);
    redis.cmd(&["SADD", "queues", "default"]);
    redis.cmd(&["SET", "queue:default", "not a list"]);
    redis.cmd(&["SET", "processes", "not a set"]);
    let snapshot = collect(&target(&redis.url(), true, None, RedisOptions::default())).await;
    assert!(
        matches!(snapshot.outcome, Outcome::Partial { .. }),
        "{:?}",
        snapshot.outcome
    );
    assert_eq!(value(&snapshot, "redis_up", &[]), 1.0);
    assert!(snapshot.value("sidekiq_retry_jobs", &[]).is_none());
    assert_eq!(value(&snapshot, "sidekiq_dead_jobs", &[]), 0.0);
    // An unreadable process set must not claim "no process, every queue uncovered".
    let text = exposition(&snapshot);
    for absent in [
        "sidekiq_processes ",
        "sidekiq_queue_uncovered{",
        "sidekiq_scheduler_processes ",
        "sidekiq_queue_processes{",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Mastodon Redis gauges
// ---------------------------------------------------------------------------------------

async fn check_mastodon_gauges(namespace: Option<&str>) {
    let redis = RedisServer::start();
    let prefix = namespace.map(|n| format!("{n}:")).unwrap_or_default();
    let today = (now() / 86_400.0).floor() as i64 * 86_400;
    // Users 1..=10 on yesterday, 5..=14 four weeks ago (the oldest day counted), 100 on the
    // day before that window, 200 today: nodeinfo counts 1..=14.
    for user in 1..=10 {
        redis.cmd(&[
            "PFADD",
            &format!("{prefix}activity:logins:{}", today - 86_400),
            &user.to_string(),
        ]);
    }
    for user in 5..=14 {
        redis.cmd(&[
            "PFADD",
            &format!("{prefix}activity:logins:{}", today - 28 * 86_400),
            &user.to_string(),
        ]);
    }
    redis.cmd(&[
        "PFADD",
        &format!("{prefix}activity:logins:{}", today - 29 * 86_400),
        "100",
    ]);
    redis.cmd(&["PFADD", &format!("{prefix}activity:logins:{today}"), "200"]);
    // 25 failing domains among 500 other keys; a small COUNT forces a multi-step walk.
    for i in 0..25 {
        redis.cmd(&[
            "SADD",
            &format!("{prefix}exhausted_deliveries:host{i}.example"),
            "20261120",
        ]);
    }
    for i in 0..500 {
        redis.cmd(&["SET", &format!("{prefix}feed:home:{i}"), "x"]);
    }
    let options = RedisOptions {
        delivery_scan_count: 50,
        delivery_scan_steps_per_run: 1000,
        ..RedisOptions::default()
    };
    let snapshot = collect(&target(&redis.url(), true, namespace, options)).await;
    let text = exposition(&snapshot);
    assert_line(&text, "mastodon_monthly_active_users 14");
    assert_line(&text, "mastodon_delivery_failing_domains 25");
    let stats = redis
        .cmd(&["INFO", "commandstats"])
        .as_text()
        .unwrap_or_default();
    assert!(!stats.contains("cmdstat_keys"), "{stats}");
    assert!(stats.contains("cmdstat_scan"), "{stats}");
}

#[tokio::test]
async fn mastodon_monthly_active_users_and_failing_domains() {
    check_mastodon_gauges(None).await;
}

#[tokio::test]
async fn mastodon_gauges_with_a_namespace() {
    check_mastodon_gauges(Some("mastodon")).await;
}

#[tokio::test]
async fn delivery_scan_resumes_across_runs_and_keeps_the_last_value() {
    let redis = RedisServer::start();
    for i in 0..7 {
        redis.cmd(&["SADD", &format!("exhausted_deliveries:h{i}"), "20261120"]);
    }
    for i in 0..300 {
        redis.cmd(&["SET", &format!("k{i}"), "x"]);
    }
    let options = RedisOptions {
        delivery_scan_count: 10,
        delivery_scan_steps_per_run: 5,
        ..RedisOptions::default()
    };
    let collector = Shared::new(&target(&redis.url(), true, None, options));
    // 307 keys at ~10 per step and 5 steps per run: several runs before the first value.
    let first = collector.run().await;
    assert!(
        first
            .value("mastodon_delivery_failing_domains", &[])
            .is_none()
    );
    let mut runs = 1;
    loop {
        let snapshot = collector.run().await;
        runs += 1;
        if let Some(v) = snapshot.value("mastodon_delivery_failing_domains", &[]) {
            assert_eq!(v, 7.0);
            break;
        }
        assert!(runs < 50, "the walk never completed");
    }
    // Between walks the last value stays.
    let snapshot = collector.run().await;
    assert_eq!(
        value(&snapshot, "mastodon_delivery_failing_domains", &[]),
        7.0
    );
}

#[tokio::test]
async fn rediss_tls_with_a_password() {
    // A private CA and a server certificate for 127.0.0.1 signed by it, made with rcgen.
    let tls = RedisTls::generate();
    let ca = tls.ca_file.clone();
    let tls_port = support::free_port();
    let redis = RedisServer::start_with(ServerOptions {
        password: Some("tls-pass".into()),
        extra_args: tls.args(tls_port),
        ..ServerOptions::default()
    });
    // `#insecure` skips verification (documented in docs/redis.md).
    let url = format!("rediss://:tls-pass@127.0.0.1:{tls_port}/#insecure");
    let snapshot = collect(&target(&url, true, None, RedisOptions::default())).await;
    assert_eq!(
        snapshot.outcome,
        Outcome::Success,
        "{}",
        exposition(&snapshot)
    );
    assert_eq!(value(&snapshot, "redis_up", &[]), 1.0);
    // Verified against the system roots, the private CA's certificate is refused ...
    let strict = format!("rediss://:tls-pass@127.0.0.1:{tls_port}/");
    let snapshot = collect(&target(&strict, false, None, RedisOptions::default())).await;
    assert_eq!(value(&snapshot, "redis_up", &[]), 0.0);
    // ... and accepted with its CA given as `tls_ca_file`.
    let options = RedisOptions {
        tls_ca_file: Some(ca.clone()),
        ..RedisOptions::default()
    };
    let snapshot = collect(&target(&strict, true, None, options)).await;
    assert_eq!(
        snapshot.outcome,
        Outcome::Success,
        "{}",
        exposition(&snapshot)
    );
    drop(redis);
}

/// The real job under the runner, read through `/metrics`: a SIGSTOPped Redis turns
/// `redis_up` to 0 within interval + timeout while `/metrics` keeps answering. (How fast
/// readers answer is `tests/faults.rs`'s one wall-clock latency assertion.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstopped_redis_under_the_runner_keeps_metrics_answering() {
    use axum::body::Body;
    use axum::http::Request;
    use fedimeter::collect::runner::run_job;
    use fedimeter::model::SnapshotStore;
    use fedimeter::web::{self, SiteInfo, Surface, WebState};
    use http_body_util::BodyExt;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    let redis = RedisServer::start();
    let mut target = target(&redis.url(), true, None, RedisOptions::default());
    target.common.interval = Duration::from_millis(1000);
    target.common.timeout = Duration::from_millis(500);
    let job = fedimeter::collect::redis::job(&target);
    let store = Arc::new(SnapshotStore::new([job.id.clone()]));
    let state = WebState {
        snapshots: store.clone(),
        site: Arc::new(SiteInfo {
            title: "test".to_string(),
            components: Vec::new(),
        }),
        components: fedimeter::sli::recorder::states_channel().1,
        history: Default::default(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_job(job, store.clone(), shutdown.clone()));
    let metrics = || async {
        let response = web::router(state.clone(), Surface::All)
            .oneshot(
                Request::get("/metrics")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        String::from_utf8(body.to_vec()).expect("utf-8")
    };
    let wait_for = |line: &'static str, within: Duration| {
        let metrics = &metrics;
        async move {
            let started = Instant::now();
            loop {
                let text = metrics().await;
                if text.lines().any(|l| l == line) {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < within,
                    "no {line:?} within {within:?}:\n{text}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // `/metrics` labels every collected series with its target, even a single one.
    wait_for("redis_up{target=\"main\"} 1", Duration::from_secs(5)).await;
    redis.sigstop();
    // The next run starts within one interval and gives up within the timeout.
    let took = wait_for(
        "redis_up{target=\"main\"} 0",
        Duration::from_millis(1000 + 500 + 500),
    )
    .await;
    redis.sigcont();
    wait_for("redis_up{target=\"main\"} 1", Duration::from_secs(5)).await;
    shutdown.cancel();
    task.await.expect("runner task");
    eprintln!("redis_up 0 after {took:?}");
}

/// Sidekiq's minute bucket name for `minutes_ago` (UTC), as Sidekiq 7 (`j|%Y%m%d|%-H:%-M`)
/// or Sidekiq 8 (`j|%y%m%d|%-H:%M`) writes it (`lib/sidekiq/metrics/`).
fn sidekiq_bucket(minutes_ago: i64, sidekiq_8: bool) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    if sidekiq_8 {
        format!(
            "j|{:02}{m:02}{d:02}|{}:{:02}",
            y % 100,
            t.hour(),
            t.minute()
        )
    } else {
        format!("j|{y}{m:02}{d:02}|{}:{}", t.hour(), t.minute())
    }
}

/// `sidekiq_job_metrics = true` on a real Redis seeded as Sidekiq 7 and 8 write their job
/// metrics: sums over the last hour per class; buckets older than an hour do not count.
#[tokio::test]
async fn job_metrics_per_class_over_the_last_hour() {
    let redis = RedisServer::start();
    let seed = |key: &str, fields: &[(&str, &str)]| {
        let mut args = vec!["HSET".to_owned(), key.to_owned()];
        for (f, v) in fields {
            args.extend([(*f).to_owned(), (*v).to_owned()]);
        }
        let reply = redis.cmd(&args);
        assert!(matches!(reply, support::redis::Reply::Int(_)), "{reply:?}");
    };
    // Sidekiq 8 layout, this minute and one minute ago.
    seed(
        &sidekiq_bucket(0, true),
        &[
            ("ActivityPub::DeliveryWorker|p", "10"),
            ("ActivityPub::DeliveryWorker|f", "2"),
            ("ActivityPub::DeliveryWorker|ms", "4000"),
        ],
    );
    seed(
        &sidekiq_bucket(1, true),
        &[
            ("ActivityPub::DeliveryWorker|p", "5"),
            ("ActivityPub::DeliveryWorker|ms", "1500"),
            ("PushUpdateWorker|p", "7"),
            ("PushUpdateWorker|ms", "70"),
        ],
    );
    // Sidekiq 7 layout, half an hour ago (an upgrade within the hour).
    seed(
        &sidekiq_bucket(30, false),
        &[("PushUpdateWorker|p", "3"), ("PushUpdateWorker|f", "1")],
    );
    // Beyond the hour: not counted.
    seed(
        &sidekiq_bucket(90, true),
        &[("ActivityPub::DeliveryWorker|p", "1000")],
    );
    let options = RedisOptions {
        sidekiq_job_metrics: true,
        ..RedisOptions::default()
    };
    let snapshot = collect(&target(&redis.url(), true, None, options)).await;
    assert_eq!(
        snapshot.outcome,
        Outcome::Success,
        "{}",
        exposition(&snapshot)
    );
    let delivery = ["ActivityPub::DeliveryWorker"];
    let push = ["PushUpdateWorker"];
    assert_eq!(value(&snapshot, "sidekiq_job_processed", &delivery), 15.0);
    assert_eq!(value(&snapshot, "sidekiq_job_failed", &delivery), 2.0);
    assert_eq!(
        value(&snapshot, "sidekiq_job_execution_time_seconds", &delivery),
        5.5
    );
    assert_eq!(value(&snapshot, "sidekiq_job_processed", &push), 10.0);
    assert_eq!(value(&snapshot, "sidekiq_job_failed", &push), 1.0);
    assert_eq!(
        value(&snapshot, "sidekiq_job_execution_time_seconds", &push),
        0.07
    );
    // Off by default.
    let snapshot = collect(&target(&redis.url(), true, None, RedisOptions::default())).await;
    assert!(
        !exposition(&snapshot).contains("sidekiq_job_"),
        "{}",
        exposition(&snapshot)
    );
}
