//! The golden exposition: every family, its type and its label-name set that a full
//! collection of the test servers puts on `/metrics`, recorded in
//! `tests/fixtures/golden/exposition.txt`. The test runs the real binary against real
//! PostgreSQL (with a Mastodon schema, a streaming replica and a replication slot),
//! PgBouncer, Redis holding Sidekiq and Mastodon data, an HTTPS probe and a `[[discord]]`
//! route to the fake Discord (for the alerting and delivery families), with every opt-in
//! family switched on, and fails on any difference from the file.
//!
//! Regenerate the file after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --test golden` (docs/metrics.md, "The golden exposition").
//!
//! Format, one line per family, sorted by name: `<name> <type> <labels>`, where `<type>`
//! is the `# TYPE` of the text format (`gauge` or `counter`) and `<labels>` the label names
//! of its series, sorted and comma-separated (`target` included when `/metrics` adds it),
//! or `-` for none. Lines starting with `#` are comments: the server versions it was made
//! with come first.

mod binary;
#[path = "support/discord.rs"]
mod discord;
mod support;

use support::postgres::MASTODON_SCHEMA;

#[path = "support/http_server.rs"]
mod http_server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binary::{Server, Workdir, get};
use fedimeter::metrics;
use fedimeter::model::MetricType;
use http_server::{NOT_BEFORE_2020, Reply, TestCa, TestServer, VALID_UNTIL_2040};

const GOLDEN: &str = "tests/fixtures/golden/exposition.txt";

/// One family as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WireFamily {
    metric_type: String,
    labels: BTreeSet<String>,
}

/// The label names and values of one sample line (`name{a="x",b="y\"z"} 1`).
fn sample_labels(line: &str) -> (String, Vec<(String, String)>) {
    let Some(open) = line.find('{') else {
        let name = line.split(' ').next().unwrap_or_default();
        return (name.to_owned(), Vec::new());
    };
    let name = line[..open].to_owned();
    let mut labels = Vec::new();
    let mut rest = line[open + 1..].chars().peekable();
    loop {
        let label: String = rest.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(rest.next(), Some('"'), "label {label:?} of {line}");
        let mut value = String::new();
        while let Some(c) = rest.next() {
            match c {
                '\\' => value.push(rest.next().unwrap_or('\\')),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label.trim().to_owned(), value));
        match rest.next() {
            Some(',') if rest.peek() == Some(&'}') => break,
            Some(',') => continue,
            Some('}') => break,
            other => panic!("unexpected {other:?} after a label value in {line}"),
        }
    }
    (name, labels)
}

/// Families of a text-format exposition. Panics when the series of one family do not
/// share one label-name set: a family's label set never varies between its series.
fn wire_families(text: &str) -> BTreeMap<String, WireFamily> {
    let mut types = BTreeMap::new();
    let mut families: BTreeMap<String, WireFamily> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').expect("TYPE line");
            types.insert(name.to_owned(), t.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, labels) = sample_labels(line);
        let labels: BTreeSet<String> = labels.into_iter().map(|(l, _)| l).collect();
        let metric_type = types
            .get(&name)
            .unwrap_or_else(|| panic!("{name} has no # TYPE"))
            .clone();
        match families.get(&name) {
            Some(seen) => assert_eq!(
                seen.labels, labels,
                "{name}: series with different label sets"
            ),
            None => {
                families.insert(
                    name,
                    WireFamily {
                        metric_type,
                        labels,
                    },
                );
            }
        }
    }
    families
}

/// The first value of `label` on a series of `family`.
fn label_value(text: &str, family: &str, label: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .flat_map(|l| sample_labels(l).1)
        .find(|(l, _)| l == label)
        .map(|(_, v)| v)
}

fn render(text: &str, families: &BTreeMap<String, WireFamily>) -> String {
    let major = |v: Option<String>, parts: usize| {
        v.map(|v| v.split('.').take(parts).collect::<Vec<_>>().join("."))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let mut out = String::new();
    out.push_str(
        "# fedimeter golden exposition: `name type labels` per family (tests/golden.rs).\n",
    );
    out.push_str("# Regenerate: UPDATE_GOLDEN=1 cargo test --test golden\n");
    out.push_str(&format!(
        "# postgresql {}\n",
        major(label_value(text, "pg_static", "short_version"), 1)
    ));
    out.push_str(&format!(
        "# pgbouncer {}\n",
        major(
            label_value(text, "pgbouncer_version_info", "version")
                .map(|v| v.trim_start_matches("PgBouncer ").to_owned()),
            2
        )
    ));
    out.push_str(&format!(
        "# redis {}\n",
        major(label_value(text, "redis_instance_info", "redis_version"), 1)
    ));
    for (name, family) in families {
        let labels = if family.labels.is_empty() {
            "-".to_owned()
        } else {
            family.labels.iter().cloned().collect::<Vec<_>>().join(",")
        };
        out.push_str(&format!("{name} {} {labels}\n", family.metric_type));
    }
    out
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// Rows for the `mastodon_*` gauges, on top of `support::postgres::MASTODON_SCHEMA`.
const MASTODON_SEED: &str = "
INSERT INTO accounts VALUES (1, 'admin', NULL), (2, 'bob', 'remote.example');
INSERT INTO users (account_id, email, created_at, current_sign_in_at, approved) VALUES
  (1, 'a@x', now() - interval '10 days', now() - interval '1 hour', true),
  (NULL, 'e@x', now() - interval '1 day', NULL, false);
INSERT INTO statuses (id, uri, created_at, account_id, local) VALUES
  (((extract(epoch FROM now() - interval '2 minutes') * 1000)::int8 << 16), NULL, now(), 1, true),
  (((extract(epoch FROM now() - interval '3 minutes') * 1000)::int8 << 16), 'https://remote.example/1', now(), 2, false);
INSERT INTO reports (created_at, updated_at, account_id, target_account_id) VALUES (now(), now(), 1, 2);
INSERT INTO unavailable_domains (domain, created_at, updated_at) VALUES ('gone.example', now(), now());
INSERT INTO software_updates (version, urgent) VALUES ('4.5.1', true);
ANALYZE;
SELECT pg_create_physical_replication_slot('golden_slot');
";

/// Sidekiq and Mastodon data in Redis: queues with jobs, a paused queue, the sorted sets,
/// counters of today, two live processes (one serving `scheduler`) with work in progress,
/// Mastodon's login HyperLogLogs and a failing delivery domain.
fn seed_redis(redis: &support::RedisServer) {
    let t0 = now();
    let cmd = |args: &[&str]| {
        let reply = redis.cmd(args);
        assert!(
            !matches!(reply, support::redis::Reply::Error(_)),
            "{args:?}: {reply:?}"
        );
    };
    let job = |queue: &str, at: f64| {
        format!(
            r#"{{"class":"ActivityPub::DeliveryWorker","args":["x"],"queue":"{queue}","jid":"j{at}","created_at":{at:.6},"enqueued_at":{at:.6}}}"#
        )
    };
    for (queue, age) in [
        ("default", 20.0),
        ("ingress", 5.0),
        ("push", 1.0),
        ("pull", 3.0),
    ] {
        cmd(&["SADD", "queues", queue]);
        cmd(&["LPUSH", &format!("queue:{queue}"), &job(queue, t0 - age)]);
    }
    cmd(&["SADD", "paused", "pull"]);
    for set in ["schedule", "retry", "dead"] {
        cmd(&[
            "ZADD",
            set,
            &format!("{:.3}", t0 - 10.0),
            r#"{"jid":"z","class":"X"}"#,
        ]);
    }
    cmd(&["SET", "stat:processed", "100"]);
    cmd(&["SET", "stat:failed", "3"]);
    let today = fedimeter::collect::redis::sidekiq::utc_date(t0).expect("a date today");
    cmd(&["SET", &format!("stat:processed:{today}"), "7"]);
    for (identity, queues) in [
        (
            "web1:100:aaa",
            r#"["default","ingress","push","pull","mailers"]"#,
        ),
        ("web1:200:bbb", r#"["scheduler"]"#),
    ] {
        let info = format!(
            r#"{{"hostname":"web1","started_at":1700000000.0,"pid":1,"tag":"mastodon","concurrency":5,"queues":{queues},"labels":[],"identity":"{identity}"}}"#
        );
        cmd(&["SADD", "processes", identity]);
        cmd(&[
            "HSET",
            identity,
            "info",
            &info,
            "busy",
            "1",
            "beat",
            &format!("{t0:.3}"),
            "quiet",
            "false",
            "rss",
            "1000",
        ]);
        cmd(&["EXPIRE", identity, "600"]);
    }
    let work = format!(
        r#"{{"queue":"push","payload":"{{}}","run_at":{}}}"#,
        (t0 - 4.0) as i64
    );
    cmd(&["HSET", "web1:100:aaa:work", "tid1", &work]);
    let day = (t0 / 86_400.0).floor() as i64 * 86_400;
    cmd(&["PFADD", &format!("activity:logins:{}", day - 86_400), "1"]);
    cmd(&["SADD", "exhausted_deliveries:gone.example", "20261120"]);
    // Sidekiq 8's job metrics bucket of this minute (`j|%y%m%d|%-H:%M`, UTC).
    let minute = time::OffsetDateTime::now_utc();
    let bucket = format!(
        "j|{:02}{:02}{:02}|{}:{:02}",
        minute.year() % 100,
        u8::from(minute.month()),
        minute.day(),
        minute.hour(),
        minute.minute()
    );
    cmd(&["HSET", &bucket, "ActivityPub::DeliveryWorker|p", "3"]);
}

/// Whether `family` has series and every one of them has the value 1 (a target that was
/// down or timed out in a run would leave families out of the comparison).
fn every_value_is_one(text: &str, family: &str) -> bool {
    let values: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    !values.is_empty() && values.iter().all(|v| *v == "1")
}

/// Scrapes until two scrapes four seconds apart show the same families, with every target
/// up (every cadence has run and the SLI task has published), at most 60 s.
async fn settled(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&server.url("/readyz"), None).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut last: Option<BTreeMap<String, WireFamily>> = None;
    loop {
        let (status, _, text, _) = get(&server.url("/metrics"), None).await;
        assert_eq!(status, 200);
        let families = wire_families(&text);
        let complete = families.contains_key("fedimeter_sli_ratio")
            && families.contains_key("fedimeter_component_status")
            && families.contains_key("fedimeter_alerts")
            && families.contains_key("fedimeter_notifications_total")
            && ["pg_up", "pgbouncer_up", "redis_up", "probe_success"]
                .iter()
                .all(|name| every_value_is_one(&text, name));
        if complete && last.as_ref() == Some(&families) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never settled:\n{text}\n{}",
            server.log()
        );
        last = complete.then_some(families);
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_collection_matches_the_golden_exposition() {
    let pg = support::PgServer::start();
    pg.exec(MASTODON_SCHEMA);
    pg.exec(MASTODON_SEED);
    // For the opt-in stat_statements group (the test kit preloads the library).
    pg.exec("CREATE EXTENSION pg_stat_statements");
    let _replica = support::PgServer::start_replica_of(&pg);
    let pgbouncer = support::PgBouncer::start(&pg, support::PgBouncerOptions::default());
    let redis = support::RedisServer::start();
    seed_redis(&redis);
    // The Redis target is a replica of the seeded Redis, so that redis_exporter's
    // replica-side families are on the wire too; every Sidekiq key reaches it by
    // replication (a second target would add `target` to every redis_/sidekiq_ family).
    let redis_replica = support::RedisServer::start_replica_of(&redis);
    let ca = TestCa::new();
    let web = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    web.set("/health", Reply::ok("OK"));
    // A Discord route: the evaluator's `fedimeter_alerts` and the sender's families exist
    // only with one.
    let fake_discord = discord::FakeDiscord::start().await;
    let webhook = fake_discord.webhook("1", "tok", "ops");
    let config = format!(
        r#"listen = "127.0.0.1:0"
[alerting]
evaluate_every = "1s"
[[discord]]
name = "ops"
webhook_url = "{webhook}"
[otlp]
endpoint = "http://127.0.0.1:1"
interval = "1s"
[sli]
evaluate_every = "1s"
flush_every = "1s"
recompute_every = "1s"
[[postgres]]
name = "main"
url = "{pg}"
interval = "5s"
timeout = "4500ms"
mastodon_gauges = true
stat_statements = true
statio_user_indexes = true
[[pgbouncer]]
name = "bouncer"
url = "{pgb}"
interval = "5s"
timeout = "4500ms"
client_connections = true
legacy_names = true
[[redis]]
name = "sidekiq"
url = "{redis}"
interval = "5s"
timeout = "4500ms"
sidekiq = true
sidekiq_heartbeat_series = true
sidekiq_yabeda_aliases = true
sidekiq_job_metrics = true
[[probe]]
name = "web"
url = "{web}"
interval = "2s"
timeout = "1500ms"
degraded_after = "1s"
ca_file = "{ca}"
[[component]]
name = "Website"
id = "website"
probes = ["web"]
"#,
        pg = pg.url("postgres"),
        pgb = pgbouncer.admin_url(),
        redis = redis_replica.url(),
        web = web.url("/health"),
        ca = ca.ca_file.display(),
    );
    let work = Workdir::new(&config);
    let server = work.serve(&[]);
    let text = settled(&server).await;
    let families = wire_families(&text);

    // Everything on the wire is declared, with the declared type and labels (plus the
    // `target` label the encoder adds).
    for (name, family) in &families {
        assert!(metrics::is_known_family(name), "{name} is not declared");
        let Some(desc) = metrics::descriptor(name) else {
            continue;
        };
        let declared_type = match desc.metric_type {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        };
        assert_eq!(family.metric_type, declared_type, "{name}");
        let mut declared: BTreeSet<String> = desc.labels.iter().map(|l| (*l).to_owned()).collect();
        let mut wire = family.labels.clone();
        declared.remove("target");
        wire.remove("target");
        assert_eq!(wire, declared, "{name}: labels on the wire and declared");
    }

    let rendered = render(&text, &families);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, &rendered).expect("write golden");
        eprintln!("wrote {} ({} families)", path.display(), families.len());
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{GOLDEN}: {e}; create it with UPDATE_GOLDEN=1"));
    let want: BTreeSet<&str> = golden.lines().collect();
    let got: BTreeSet<&str> = rendered.lines().collect();
    let missing: Vec<&&str> = want.difference(&got).collect();
    let new: Vec<&&str> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && new.is_empty(),
        "the exposition differs from {GOLDEN}\n\
         only in the file (gone or changed):\n  {}\n\
         only on /metrics (new or changed):\n  {}\n\
         if the change is intended: UPDATE_GOLDEN=1 cargo test --test golden",
        missing.iter().map(|l| **l).collect::<Vec<_>>().join("\n  "),
        new.iter().map(|l| **l).collect::<Vec<_>>().join("\n  "),
    );
}

#[test]
fn sample_lines_are_parsed_with_escaped_label_values() {
    let (name, labels) =
        sample_labels(r#"sidekiq_queue_latency_seconds{name="we\"ird\\q",target="a"} 1"#);
    assert_eq!(name, "sidekiq_queue_latency_seconds");
    assert_eq!(
        labels,
        [
            ("name".to_owned(), "we\"ird\\q".to_owned()),
            ("target".to_owned(), "a".to_owned())
        ]
    );
    assert_eq!(sample_labels("pg_up 1"), ("pg_up".to_owned(), Vec::new()));
    assert!(every_value_is_one("pg_up 1\npg_upx 0\n", "pg_up"));
    assert!(!every_value_is_one(
        "pg_up{target=\"a\"} 1\npg_up{target=\"b\"} 0\n",
        "pg_up"
    ));
    assert!(!every_value_is_one("redis_up 1\n", "pg_up"));
    let families = wire_families(
        "# TYPE a counter\na{x=\"1\",y=\"2\"} 1\na{y=\"3\",x=\"4\"} 2\n# TYPE b gauge\nb 0\n",
    );
    assert_eq!(
        families["a"].labels,
        BTreeSet::from(["x".to_owned(), "y".to_owned()])
    );
    assert_eq!(families["b"].metric_type, "gauge");
}
