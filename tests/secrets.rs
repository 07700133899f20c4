//! A distinctive password in every URL and token never appears in anything fedimeter
//! prints or serves: stdout, stderr (logs, error messages, including connection and
//! authentication errors for those very URLs), `/metrics`, `/probe`, `/`, `/api/status.json`.

mod binary;
mod support;

use std::time::{Duration, Instant};

use binary::{Workdir, get};

const SECRET: &str = "Zebra-7781-distinctive-Secret";

fn config(
    pg: &support::PgServer,
    pgb: &support::PgBouncer,
    redis: &support::RedisServer,
) -> String {
    // Real servers answered with a wrong password, and closed ports (connection refused).
    format!(
        r#"listen = "127.0.0.1:0"
[[postgres]]
name = "wrongpass"
url = "postgres://postgres:${{SECRET}}@127.0.0.1:{pg}/postgres"
interval = "1s"
timeout = "500ms"
[[postgres]]
name = "closed"
url = "postgres://postgres:${{SECRET}}@127.0.0.1:1/postgres"
interval = "1s"
timeout = "500ms"
[[pgbouncer]]
name = "wrongpass"
url = "postgres://stats:${{SECRET}}@127.0.0.1:{pgb}/pgbouncer"
interval = "1s"
timeout = "500ms"
[[redis]]
name = "wrongpass"
url = "redis://:${{SECRET}}@127.0.0.1:{redis}/0"
sidekiq = true
interval = "1s"
timeout = "500ms"
[[redis]]
name = "closed"
url = "redis://user:${{SECRET}}@127.0.0.1:1/0"
interval = "1s"
timeout = "500ms"
[[discord]]
name = "infra"
webhook_url = "https://discord.com/api/webhooks/1234/${{SECRET}}"
"#,
        pg = pg.port(),
        pgb = pgb.port(),
        redis = redis.port(),
    )
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "the secret leaked into {what}:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output_of_serve_once_or_check_config() {
    let pg = support::PgServer::start();
    let pgb = support::PgBouncer::start(&pg, support::PgBouncerOptions::default());
    let redis = support::RedisServer::start_with(support::RedisOptions {
        password: Some("the-right-password".into()),
        ..Default::default()
    });
    let work = Workdir::new(&config(&pg, &pgb, &redis));
    let env = [("SECRET", SECRET)];

    let out = work.run(&["check-config"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean("check-config stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("check-config stderr", &String::from_utf8_lossy(&out.stderr));

    let out = work.run(&["once"], &env);
    assert!(
        !out.status.success(),
        "targets with wrong passwords cannot be collected"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean("once stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("once stderr", &stderr);
    assert!(stderr.contains("could not collect"), "{stderr}");

    let server = work.serve(&env);
    // Let every target fail a few times (connection refused, auth failed, timeouts): a
    // bounded wait until each of the five has finished at least two runs.
    let started = Instant::now();
    loop {
        let (_, _, metrics, _) = get(&server.url("/metrics"), None).await;
        let runs = |line: &&str| {
            line.starts_with("fedimeter_collector_runs_total{")
                && line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= 2.0)
        };
        if metrics.lines().filter(runs).count() == 5 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not every target ran twice within 20 s:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in [
        "/",
        "/api/status.json",
        "/metrics",
        "/probe?target=closed&kind=redis",
        "/readyz",
    ] {
        let (_, _, body, _) = get(&server.url(path), None).await;
        assert_clean(path, &body);
    }
    let (_, _, metrics, _) = get(&server.url("/metrics"), None).await;
    assert!(
        metrics.contains("pg_up{target=\"wrongpass\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("redis_up{target=\"wrongpass\"} 0"),
        "{metrics}"
    );
    let log = server.log();
    assert!(
        log.contains("collection failed"),
        "errors are logged: {log}"
    );
    assert_clean("serve log", &log);
}
