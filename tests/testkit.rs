//! Proves that the test kit in `tests/support/` starts real PostgreSQL, PgBouncer and
//! Redis servers that behave like production ones (passwords, hangs, restarts,
//! replication), and that it cleans up after itself.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use support::{
    PgBouncer, PgBouncerOptions, PgServer, PoolMode, RedisConn, RedisOptions, RedisServer, Reply,
};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const HANG_TIMEOUT: Duration = Duration::from_secs(1);

async fn pg_connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(url).await
}

async fn scalar_i64(conn: &mut PgConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The first column of every row of a simple query, as text.
async fn simple_column(client: &tokio_postgres::Client, sql: &str) -> Vec<Option<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect()
}

async fn tokio_pg_connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test]
async fn postgres_accepts_its_password_over_tcp_and_rejects_a_wrong_one() {
    let pg = PgServer::start();
    let mut conn = pg_connect(&pg.superuser_url())
        .await
        .expect("connecting with the password");
    assert_eq!(scalar_i64(&mut conn, "SELECT 1::int8").await, 1);
    let port: String = sqlx::query_scalar("SELECT current_setting('port')")
        .fetch_one(&mut conn)
        .await
        .expect("reading the port setting");
    assert_eq!(port, pg.port().to_string());

    let wrong = pg_connect(&pg.url_for("postgres", "not-the-password", "postgres")).await;
    let Err(sqlx::Error::Database(error)) = wrong else {
        panic!(
            "a wrong password must be rejected, got {:?}",
            wrong.map(|_| ())
        );
    };
    assert_eq!(
        error.code().as_deref(),
        Some("28P01"),
        "invalid_password expected: {error}"
    );

    pg.create_database("mastodon_production");
    assert_eq!(
        pg.exec_in("mastodon_production", "SELECT current_database()"),
        "mastodon_production"
    );
    assert_eq!(pg.exec("SELECT 1; SELECT 2"), "1\n2");
    assert!(
        pg.try_exec_in("postgres", "SELECT * FROM no_such_table")
            .is_err()
    );
}

#[tokio::test]
async fn postgres_has_pg_stat_statements_preloaded() {
    let pg = PgServer::start();
    assert!(
        pg.install().has_pg_stat_statements,
        "pg_stat_statements is not installed: run `scripts/test --install-only`"
    );
    assert_eq!(
        pg.exec("SHOW shared_preload_libraries"),
        "pg_stat_statements"
    );
    pg.exec("CREATE EXTENSION pg_stat_statements");
    let calls: i64 = pg
        .exec("SELECT count(*) FROM pg_stat_statements")
        .parse()
        .expect("a count");
    assert!(calls >= 1, "pg_stat_statements records statements");
}

#[tokio::test]
async fn postgres_sigstop_hangs_connects_and_sigcont_recovers() {
    let pg = PgServer::start();
    let pids = pg.pids();
    assert!(
        pids.len() >= 4,
        "postmaster plus its background processes, got {pids:?}"
    );

    pg.sigstop();
    // `Err(Elapsed)` from the timeout is the proof that the connect hung for HANG_TIMEOUT;
    // no separate clock reading.
    let attempt = tokio::time::timeout(HANG_TIMEOUT, pg_connect(&pg.superuser_url())).await;
    assert!(
        attempt.is_err(),
        "a connect to a stopped postgres must hang, got {:?}",
        attempt.map(|r| r.map(|_| ()))
    );

    pg.sigcont();
    let mut conn = pg_connect(&pg.superuser_url())
        .await
        .expect("connecting after SIGCONT");
    assert_eq!(scalar_i64(&mut conn, "SELECT 2::int8").await, 2);
}

#[tokio::test]
async fn postgres_stop_and_start_again_keep_port_and_data() {
    let mut pg = PgServer::start();
    pg.exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)");
    let port = pg.port();
    let first_pid = pg.pid();

    pg.stop();
    assert!(
        !support::process_exists(first_pid),
        "the postmaster is gone after stop"
    );
    assert!(
        pg_connect(&pg.superuser_url()).await.is_err(),
        "nothing answers while stopped"
    );

    pg.start_again();
    assert_eq!(pg.port(), port);
    assert_ne!(pg.pid(), first_pid);
    assert_eq!(pg.exec("SELECT id FROM kept"), "7");

    // A crash (SIGKILL of every process) followed by a restart runs crash recovery.
    pg.kill();
    pg.start_again();
    assert_eq!(pg.exec("SELECT id FROM kept"), "7");
}

#[tokio::test]
async fn postgres_replica_streams_from_its_primary() {
    let primary = PgServer::start();
    primary.exec("CREATE TABLE posts (id int); INSERT INTO posts VALUES (1)");
    let replica = PgServer::start_replica_of(&primary);
    assert_eq!(replica.replica_of(), Some(primary.port()));
    assert_ne!(replica.port(), primary.port());

    let mut conn = pg_connect(&replica.superuser_url())
        .await
        .expect("connecting to the replica");
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_is_in_recovery()");
    assert!(in_recovery);
    assert_eq!(primary.exec("SELECT pg_is_in_recovery()"), "f");

    primary.exec("INSERT INTO posts VALUES (2)");
    support::eventually(
        "the new row on the replica",
        Duration::from_secs(10),
        || replica.exec("SELECT count(*) FROM posts") == "2",
    );
    assert_eq!(
        primary.exec("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"),
        "1"
    );
}

#[tokio::test]
async fn pgbouncer_admin_console_and_client_queries_work() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());

    let admin = tokio_pg_connect(&bouncer.admin_url())
        .await
        .expect("connecting to the admin console");
    let version = simple_column(&admin, "SHOW VERSION").await;
    assert!(
        matches!(version.as_slice(), [Some(v)] if v.starts_with("PgBouncer ")),
        "SHOW VERSION answered {version:?}"
    );
    assert!(
        bouncer
            .admin_query("SHOW VERSION")
            .starts_with("PgBouncer ")
    );

    let client = tokio_pg_connect(&bouncer.url("postgres"))
        .await
        .expect("connecting through pgbouncer");
    let port = simple_column(&client, "SELECT current_setting('port')").await;
    assert_eq!(
        port,
        [Some(pg.port().to_string())],
        "the query reached the PostgreSQL server"
    );

    let pools = simple_column(&admin, "SHOW POOLS").await;
    assert!(
        pools.contains(&Some("postgres".to_owned())),
        "SHOW POOLS lists the postgres pool: {pools:?}"
    );
    let mode = bouncer
        .admin_query("SHOW CONFIG")
        .lines()
        .any(|l| l.starts_with("pool_mode|transaction|"));
    assert!(mode, "pool_mode is transaction by default");

    let wrong =
        tokio_pg_connect(&bouncer.admin_url().replace("fedimeter-test-stats", "nope")).await;
    assert!(wrong.is_err(), "a wrong stats password is rejected");
}

#[tokio::test]
async fn pgbouncer_rejects_extra_float_digits_unless_told_to_ignore_it() {
    let pg = PgServer::start();
    let stock = PgBouncer::start(&pg, PgBouncerOptions::default());
    // sqlx sends `extra_float_digits` at startup; a stock PgBouncer refuses it.
    let Err(error) = pg_connect(&stock.url("postgres")).await else {
        panic!("a stock pgbouncer must refuse sqlx's default startup parameters");
    };
    assert!(
        error.to_string().contains("unsupported startup parameter"),
        "got {error}"
    );

    let lenient = PgBouncer::start(
        &pg,
        PgBouncerOptions {
            ignore_startup_parameters: Some("extra_float_digits".into()),
            pool_mode: PoolMode::Session,
            pool_size: 2,
            ..PgBouncerOptions::default()
        },
    );
    let mut conn = pg_connect(&lenient.url("postgres"))
        .await
        .expect("accepted when ignored");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .expect("SELECT 1");
    assert_eq!(one, 1);
}

#[tokio::test]
async fn pgbouncer_sigstop_sigcont_and_restart() {
    let pg = PgServer::start();
    let mut bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());

    bouncer.sigstop();
    let attempt = tokio::time::timeout(HANG_TIMEOUT, tokio_pg_connect(&bouncer.admin_url())).await;
    assert!(attempt.is_err(), "a stopped pgbouncer must not answer");
    bouncer.sigcont();
    let admin = tokio_pg_connect(&bouncer.admin_url())
        .await
        .expect("console after SIGCONT");
    assert_eq!(simple_column(&admin, "SHOW VERSION").await.len(), 1);

    let port = bouncer.port();
    bouncer.stop();
    assert!(
        !support::port_accepts(port),
        "nothing listens while stopped"
    );
    bouncer.start_again();
    assert_eq!(bouncer.port(), port);
    assert!(
        bouncer
            .admin_query("SHOW VERSION")
            .starts_with("PgBouncer ")
    );
}

#[test]
fn redis_ping_with_password_and_acl_user() {
    let plain = RedisServer::start();
    assert_eq!(plain.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(plain.url(), format!("redis://127.0.0.1:{}", plain.port()));

    let redis = RedisServer::start_with(RedisOptions {
        password: Some("default-pass".into()),
        acl_user: Some(("fedimeter".into(), "acl-pass".into())),
        ..RedisOptions::default()
    });
    assert_eq!(
        redis.url(),
        format!("redis://fedimeter:acl-pass@127.0.0.1:{}", redis.port())
    );
    // Through the ACL user (what `cmd` uses when there is one).
    assert_eq!(redis.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        redis.cmd(&["ACL", "WHOAMI"]).as_text().as_deref(),
        Some("fedimeter")
    );

    let mut conn = RedisConn::connect(redis.port(), Duration::from_secs(5)).expect("connecting");
    let noauth = conn.cmd(&["PING"]).expect("PING");
    assert!(
        matches!(&noauth, Reply::Error(e) if e.starts_with("NOAUTH")),
        "got {noauth:?}"
    );
    let wrong = conn.cmd(&["AUTH", "wrong"]).expect("AUTH");
    assert!(
        matches!(&wrong, Reply::Error(e) if e.starts_with("WRONGPASS")),
        "got {wrong:?}"
    );
    assert_eq!(
        conn.cmd(&["AUTH", "default-pass"]).expect("AUTH"),
        Reply::Status("OK".into())
    );
    assert_eq!(
        conn.cmd(&["PING"]).expect("PING"),
        Reply::Status("PONG".into())
    );

    assert_eq!(
        redis.cmd(&["LPUSH", "queue:default", "job-1", "job-2"]),
        Reply::Int(2)
    );
    assert_eq!(
        redis.cmd(&["LRANGE", "queue:default", "0", "-1"]),
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"job-2".to_vec())),
            Reply::Bulk(Some(b"job-1".to_vec()))
        ]))
    );
    assert_eq!(redis.cmd(&["GET", "missing"]), Reply::Bulk(None));
}

#[test]
fn redis_sigstop_sigcont_and_restart() {
    let mut redis = RedisServer::start();
    redis.cmd(&["SET", "k", "v"]);

    redis.sigstop();
    let mut conn =
        RedisConn::connect(redis.port(), HANG_TIMEOUT).expect("the kernel still accepts");
    // It hangs: the read gives up at its timeout (WouldBlock/TimedOut), not with a reset
    // or an end of stream, so no clock reading is needed.
    let error = conn
        .cmd(&["PING"])
        .expect_err("a stopped redis must not answer");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "the read timed out: {error:?}"
    );
    redis.sigcont();
    assert_eq!(redis.cmd(&["GET", "k"]).as_text().as_deref(), Some("v"));

    let port = redis.port();
    redis.stop();
    assert!(
        RedisConn::connect(port, HANG_TIMEOUT).is_err(),
        "refused while stopped"
    );
    redis.start_again();
    assert_eq!(redis.port(), port);
    assert_eq!(
        redis.cmd(&["GET", "k"]),
        Reply::Bulk(None),
        "no persistence across restarts"
    );
}

/// A test that panics while holding servers must leave no process and no temp dir behind.
#[test]
fn servers_are_torn_down_when_a_test_panics() {
    let mut seen: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pg = PgServer::start();
        seen.push((
            pg.pids(),
            pg.data_dir()
                .parent()
                .expect("data dir has a parent")
                .to_owned(),
        ));
        let redis = RedisServer::start();
        seen.push((
            vec![redis.pid()],
            redis
                .log_path()
                .parent()
                .expect("log has a parent")
                .to_owned(),
        ));
        pg.sigstop(); // even a stopped server must be torn down
        panic!("simulated test failure");
    }));
    assert!(outcome.is_err());
    assert_eq!(seen.len(), 2);
    for (pids, dir) in seen {
        for pid in pids {
            support::eventually(
                &format!("pid {pid} to exit"),
                Duration::from_secs(5),
                || !support::process_exists(pid),
            );
        }
        assert!(!dir.exists(), "{} was removed", dir.display());
    }
}

#[test]
fn free_ports_are_distinct() {
    let ports: std::collections::HashSet<u16> = (0..50).map(|_| support::free_port()).collect();
    assert_eq!(ports.len(), 50);
}

/// A server whose port was taken between `free_port()` and its start is retried on a new
/// port instead of failing the test.
#[test]
fn a_start_that_loses_its_port_is_retried_on_another() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let taken = squatter.local_addr().expect("local_addr").port();
    let dir = support::ServerDir::new("redis", None);
    let mut attempts = Vec::new();
    let (port, mut process) = support::start_on_free_port("redis-server", |port| {
        let port = if attempts.is_empty() { taken } else { port };
        attempts.push(port);
        support::redis::spawn_redis(&dir, port, &RedisOptions::default())
    });
    assert_eq!(
        attempts,
        [taken, port],
        "one failed attempt on the taken port, then a fresh one"
    );
    let mut conn = RedisConn::connect(port, Duration::from_secs(5)).expect("connecting");
    assert_eq!(
        conn.cmd(&["PING"]).expect("PING"),
        Reply::Status("PONG".into())
    );
    process.terminate(libc::SIGTERM, Duration::from_secs(5));
}
