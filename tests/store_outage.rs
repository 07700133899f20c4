//! The store is not a hard dependency, end to end through the real binary with a real
//! PostgreSQL 15 as the history store: stopped at start, `serve` answers at once with
//! `fedimeter_store_up 0` and the page says history is unavailable; the state intervals
//! collected meanwhile are written (after the migrations) once PostgreSQL is started. A
//! SIGSTOPped store is marked down within the health check + its timeout while `/metrics`
//! and the page keep answering, and SIGCONT recovers without a restart.

mod binary;
#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binary::{Server, Workdir, get};

/// Readers must answer well before the store's operation timeout (3 s): a handler that
/// waited on the store would exceed this bound.
const ANSWER_BOUND: Duration = Duration::from_secs(1);

fn config(store_url: &str, redis: &support::RedisServer) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
[store]
url = "{store_url}"
[[redis]]
name = "cache"
url = "{redis}"
interval = "1s"
timeout = "500ms"
"#,
        redis = redis.url(),
    )
}

/// [`config`] plus a probe of `web_url`, a component on it and a fast SLI cadence.
fn config_with_sli(store_url: &str, redis: &support::RedisServer, web_url: &str) -> String {
    format!(
        r#"{base}
[[probe]]
name = "web"
url = "{web_url}"
interval = "1s"
timeout = "500ms"
[[component]]
id = "website"
name = "Website"
probes = ["web"]
[sli]
evaluate_every = "1s"
flush_every = "1s"
recompute_every = "1s"
"#,
        base = config(store_url, redis),
    )
}

/// How many rows of `table` match `filter`; `None` while the table does not exist.
fn count(pg: &support::PgServer, table: &str, filter: &str) -> Option<i64> {
    pg.try_exec_in(
        "history",
        &format!("SELECT count(*) FROM {table} WHERE {filter}"),
    )
    .ok()?
    .trim()
    .parse()
    .ok()
}

/// Polls `path` until its body contains every line of `want`; returns the body.
async fn wait_for(server: &Server, path: &str, want: &[&str], limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let (status, _, text, _) = get(&server.url(path), None).await;
        if status == 200 && want.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            started.elapsed() < limit,
            "{path} not within {limit:?}: {want:?}\n{text}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `state|started_at` of the `cache` target's stored intervals, oldest first; `None` while
/// the table does not exist.
fn stored_intervals(pg: &support::PgServer) -> Option<Vec<(String, i64)>> {
    let out = pg
        .try_exec_in(
            "history",
            "SELECT state || '|' || started_at FROM state_intervals \
             WHERE target_kind = 'redis' AND target_name = 'cache' ORDER BY started_at, id",
        )
        .ok()?;
    Some(
        out.lines()
            .filter_map(|l| {
                let (state, at) = l.trim().split_once('|')?;
                Some((state.to_string(), at.parse().ok()?))
            })
            .collect(),
    )
}

const STATE_BUFFERED: &str = "fedimeter_store_buffered_items{writer=\"state\"} ";
const SLI_BUFFERED: &str = "fedimeter_store_buffered_items{writer=\"sli\"} ";

/// The value of the sample line starting with `prefix` (name and labels, then a space).
fn value(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}in\n{metrics}"))
}

fn unix_ms_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_at_start_does_not_block_serving_and_gets_the_history_later() {
    let mut pg = support::PgServer::start();
    pg.create_database("history");
    pg.stop();
    let mut redis = support::RedisServer::start();
    let web = http_server::TestServer::http().await;
    web.set("/health", http_server::Reply::ok("ok"));
    let work = Workdir::new(&config_with_sli(
        &pg.url("history"),
        &redis,
        &web.url("/health"),
    ));

    let spawned = Instant::now();
    let server = work.serve(&[]);
    let metrics = wait_for(
        &server,
        "/metrics",
        &["fedimeter_store_up 0\n", "redis_up{target=\"cache\"} 1\n"],
        Duration::from_secs(5),
    )
    .await;
    let serving_after = spawned.elapsed();
    eprintln!("/metrics with a stopped store after {serving_after:?}");
    // Before this change `serve` waited for the pool's 10 s acquire timeout before binding.
    assert!(
        serving_after < Duration::from_secs(2),
        "/metrics with a collected target took {serving_after:?}"
    );
    assert!(
        metrics.contains("fedimeter_store_connects_total{result=\"success\"} 0\n"),
        "{metrics}"
    );
    let (status, _, page, _) = get(&server.url("/"), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("History temporarily unavailable"), "{page}");
    let (status, _, json, _) = get(&server.url("/api/status.json"), None).await;
    assert_eq!(status, 200);
    assert!(json.contains("\"history_available\":false"), "{json}");

    // A transition while the store is away: Redis goes down.
    let up_seen_before = unix_ms_now();
    redis.stop();
    wait_for(
        &server,
        "/metrics",
        &["redis_up{target=\"cache\"} 0\n"],
        Duration::from_secs(5),
    )
    .await;
    let down_seen_before = unix_ms_now();
    // At least one connection attempt has failed (each retries a refused connection for
    // its 3 s connect timeout).
    wait_for(
        &server,
        "/metrics",
        &["fedimeter_store_connects_total{result=\"failure\"} 1\n"],
        Duration::from_secs(10),
    )
    .await;

    // The backlog: three transitions (cache up, web up, cache down) and the last-seen times
    // of both targets; the SLI writer holds at least the probe results of three seconds.
    let (_, _, metrics, _) = get(&server.url("/metrics"), None).await;
    assert_eq!(value(&metrics, STATE_BUFFERED), 5.0, "{metrics}");
    assert!(value(&metrics, SLI_BUFFERED) >= 3.0, "{metrics}");

    pg.start_again();
    let started_at = unix_ms_now();
    wait_for(
        &server,
        "/metrics",
        &["fedimeter_store_up 1\n"],
        Duration::from_secs(20),
    )
    .await;
    // The migrations ran (the table exists) and the buffered intervals are written: an up
    // interval and a down one, both begun before PostgreSQL was started.
    support::eventually(
        "the buffered state intervals are in the store",
        Duration::from_secs(15),
        || stored_intervals(&pg).is_some_and(|i| i.len() >= 2),
    );
    let intervals = stored_intervals(&pg).expect("table");
    let states: Vec<&str> = intervals.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(&states[..2], ["up", "down"], "{intervals:?}");
    assert!(intervals[0].1 < up_seen_before, "{intervals:?}");
    assert!(
        intervals[1].1 > intervals[0].1 && intervals[1].1 <= down_seen_before,
        "{intervals:?}"
    );
    assert!(intervals[1].1 < started_at, "{intervals:?}");
    // The SLI writer's buffer too: probe results and the component's interval from before
    // the start. (Minute rows follow when the minute ends.)
    support::eventually(
        "the buffered probe results and component interval are in the store",
        Duration::from_secs(15),
        || {
            count(
                &pg,
                "probe_results",
                &format!("probe = 'web' AND at < {started_at}"),
            )
            .is_some_and(|n| n >= 3)
                && count(
                    &pg,
                    "component_intervals",
                    &format!(
                        "component = 'website' AND state = 'operational' AND started_at < {started_at}"
                    ),
                )
                .is_some_and(|n| n == 1)
        },
    );

    // What stays buffered is at most what arrived since the last flush (one "last seen" per
    // target or component, a probe result, a minute), no longer the outage's backlog.
    let (_, _, metrics, _) = get(&server.url("/metrics"), None).await;
    assert!(value(&metrics, STATE_BUFFERED) <= 2.0, "{metrics}");
    assert!(value(&metrics, SLI_BUFFERED) <= 4.0, "{metrics}");
    for writer in ["state", "sli"] {
        for reason in ["buffer_full", "shutdown"] {
            let line = format!(
                "fedimeter_store_writes_dropped_total{{writer=\"{writer}\",reason=\"{reason}\"}} 0\n"
            );
            assert!(metrics.contains(&line), "nothing dropped: {metrics}");
        }
    }
    let (_, _, json, _) = get(&server.url("/api/status.json"), None).await;
    assert!(json.contains("\"history_available\":true"), "{json}");
    // The page's documents are rebuilt within seconds of a change (docs/status-page.md).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, _, page, _) = get(&server.url("/"), None).await;
        if !page.contains("History temporarily unavailable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page still says history is unavailable:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let log = server.log();
    assert_eq!(
        log.matches("history store unavailable").count(),
        1,
        "one line on loss: {log}"
    );
    assert_eq!(
        log.matches("is back after").count(),
        1,
        "one on recovery: {log}"
    );
    assert!(
        !log.contains(support::postgres::SUPERUSER_PASSWORD),
        "{log}"
    );
    assert!(!log.contains(&pg.url("history")), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_is_marked_down_while_readers_keep_answering_and_sigcont_recovers() {
    let pg = support::PgServer::start();
    pg.create_database("history");
    let mut redis = support::RedisServer::start();
    let work = Workdir::new(&config(&pg.url("history"), &redis));
    let mut server = work.serve(&[]);
    wait_for(
        &server,
        "/metrics",
        &["fedimeter_store_up 1\n", "redis_up{target=\"cache\"} 1\n"],
        Duration::from_secs(10),
    )
    .await;
    support::eventually(
        "the up interval is written",
        Duration::from_secs(15),
        || stored_intervals(&pg).is_some_and(|i| i.len() == 1),
    );

    pg.sigstop();
    let frozen_at = Instant::now();
    // Down within the health check period (2 s) + its timeout (3 s), well inside the
    // write timeout (10 s); meanwhile every reader answers within the bound.
    let mut down_after = None;
    while frozen_at.elapsed() < Duration::from_secs(10) {
        for path in ["/metrics", "/", "/api/status.json"] {
            let (status, _, body, took) = get(&server.url(path), None).await;
            assert_eq!(status, 200, "{path}");
            assert!(
                took < ANSWER_BOUND,
                "{path} took {took:?} on a frozen store"
            );
            if path == "/metrics" && body.contains("fedimeter_store_up 0\n") {
                down_after.get_or_insert(frozen_at.elapsed());
            }
        }
        if down_after.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let down_after = down_after.unwrap_or_else(|| {
        panic!(
            "fedimeter_store_up not 0 within 10 s of SIGSTOP; log:\n{}",
            server.log()
        )
    });
    eprintln!("fedimeter_store_up 0 after {down_after:?} of SIGSTOP");
    assert!(down_after <= Duration::from_secs(6), "{down_after:?}");
    let (_, _, page, took) = get(&server.url("/"), None).await;
    assert!(took < ANSWER_BOUND);
    assert!(page.contains("History temporarily unavailable"), "{page}");

    // A transition while the store is frozen.
    redis.stop();
    wait_for(
        &server,
        "/metrics",
        &["redis_up{target=\"cache\"} 0\n"],
        Duration::from_secs(5),
    )
    .await;

    pg.sigcont();
    wait_for(
        &server,
        "/metrics",
        &["fedimeter_store_up 1\n"],
        Duration::from_secs(30),
    )
    .await;
    support::eventually(
        "the down interval recorded while frozen is written",
        Duration::from_secs(15),
        || {
            stored_intervals(&pg)
                .is_some_and(|i| i.iter().map(|(s, _)| s.as_str()).eq(["up", "down"]))
        },
    );
    let (_, _, json, _) = get(&server.url("/api/status.json"), None).await;
    assert!(json.contains("\"history_available\":true"), "{json}");
    let log = server.log();
    assert_eq!(
        log.matches("history store (postgres) lost").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("is back after").count(), 1, "{log}");
    assert!(
        !log.contains(support::postgres::SUPERUSER_PASSWORD),
        "{log}"
    );

    let took = server.sigterm_and_wait(Duration::from_secs(5));
    assert!(took < Duration::from_secs(5), "{took:?}");
}
