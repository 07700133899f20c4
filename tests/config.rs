//! Config loading end to end, through the public API: the `bad-*.toml` fixtures and their
//! exact messages, the Mastodon env fixtures, `fedimeter.example.toml`, and secrets that
//! never show.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fedimeter::config::PgbouncerOptions;
use fedimeter::config::alert;
use fedimeter::config::{self, Config, ConfigErrors, OtlpProtocol, secret};

const FIXTURES: &str = "tests/fixtures/config";
const MASTODON: &str = "tests/fixtures/mastodon";

/// The environment the `bad-*.toml` fixtures are loaded with.
fn fixture_env() -> HashMap<&'static str, &'static str> {
    HashMap::from([("PG_PASSWORD", "fixture-pw-Zr81")])
}

fn load(
    path: &str,
    mastodon_env: Option<&str>,
    env: &HashMap<&str, &str>,
) -> Result<Config, ConfigErrors> {
    config::load_file(Path::new(path), mastodon_env.map(Path::new), env)
}

fn load_text(
    text: &str,
    mastodon_env: Option<&str>,
    env: &HashMap<&str, &str>,
) -> Result<Config, ConfigErrors> {
    config::load_str(
        text,
        Some(Path::new("test.toml")),
        mastodon_env.map(Path::new),
        env,
    )
}

fn ok(result: Result<Config, ConfigErrors>) -> Config {
    match result {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

fn err(result: Result<Config, ConfigErrors>) -> String {
    match result {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.to_string(),
    }
}

/// Each `bad-*.toml` lists the exact messages it must produce as `# expect: ` lines.
#[test]
fn bad_fixtures_report_exactly_their_expected_errors() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("bad-") && name.ends_with(".toml")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "fixtures missing: {paths:?}");
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{}: no `# expect: ` lines",
            path.display()
        );
        let got = err(config::load_file(&path, None, &fixture_env()));
        assert_eq!(got, expected.join("\n"), "{}", path.display());
        assert!(
            !got.contains("fixture-pw-Zr81"),
            "{}: secret in errors",
            path.display()
        );
    }
}

#[test]
fn a_missing_config_file_is_an_error_naming_it() {
    let got = err(load(
        "tests/fixtures/config/does-not-exist.toml",
        None,
        &fixture_env(),
    ));
    assert_eq!(
        got,
        "tests/fixtures/config/does-not-exist.toml: cannot read config file: No such file or directory (os error 2)"
    );
}

#[test]
fn a_missing_mastodon_env_from_the_cli_is_an_error_naming_it() {
    let got = err(config::defaults_with(
        Some(Path::new("/nonexistent/.env.production")),
        &fixture_env(),
    ));
    assert_eq!(
        got,
        "/nonexistent/.env.production: cannot read mastodon env file: No such file or directory (os error 2)"
    );
}

#[test]
fn defaults_without_a_file() {
    let c = ok(config::defaults_with(None, &HashMap::<&str, &str>::new()));
    assert_eq!(c.source, None);
    assert_eq!(c.listen.to_string(), "127.0.0.1:9480");
    assert_eq!(c.metrics_listen, None);
    assert_eq!(c.site.title, "Service status");
    assert_eq!(c.site.location, "default");
    assert_eq!(c.store.url.expose(), "sqlite://fedimeter.db");
    assert_eq!(c.target_count(), 0);
    assert!(c.otlp.is_none());
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let c = ok(load_text("# nothing\n", None, &HashMap::new()));
    assert_eq!(c.source.as_deref(), Some(Path::new("test.toml")));
    assert_eq!(c.listen, config::raw::default_listen());
}

#[test]
fn target_defaults_by_kind() {
    let text = r#"
        [[postgres]]
        name = "pg"
        url = "postgres://u@h/db"
        [[pgbouncer]]
        name = "pgb"
        url = "postgresql://u@h:6432/pgbouncer"
        [[redis]]
        name = "r"
        url = "rediss://h:6380"
        [[probe]]
        name = "tcp"
        url = "tcp://example.social:443"
        [otlp]
        endpoint = "https://otel.example:4318"
        protocol = "http/protobuf"
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    let timing = |t: &config::TargetCommon| (t.interval, t.timeout);
    let (s15, s5, s30, s10) = (
        Duration::from_secs(15),
        Duration::from_secs(5),
        Duration::from_secs(30),
        Duration::from_secs(10),
    );
    assert_eq!(timing(&c.postgres[0].common), (s15, s5));
    assert_eq!(timing(&c.pgbouncer[0].common), (s15, s5));
    assert_eq!(timing(&c.redis[0].common), (s15, s5));
    assert_eq!(timing(&c.probes[0].common), (s30, s10));
    assert!(!c.redis[0].sidekiq);
    assert_eq!(c.redis[0].namespace, None);
    let otlp = c.otlp.unwrap();
    assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(otlp.interval, s30);
    assert!(otlp.headers.is_empty());
}

#[test]
fn pgbouncer_options_are_read_with_their_defaults() {
    let text = r#"
        [[pgbouncer]]
        name = "defaults"
        url = "postgres://stats@127.0.0.1:6432/pgbouncer"
        [[pgbouncer]]
        name = "set"
        url = "postgres://stats@127.0.0.1:6433/pgbouncer"
        client_connections = true
        client_connections_max_application_names = 5
        max_pools = 200
        legacy_names = true
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    assert_eq!(c.pgbouncer[0].options, PgbouncerOptions::default());
    assert_eq!(
        c.pgbouncer[1].options,
        PgbouncerOptions {
            client_connections: true,
            client_connections_max_application_names: 5,
            max_pools: 200,
            legacy_names: true,
        }
    );
}

/// Table of single-value checks: (config text, expected message after `test.toml:`).
#[test]
fn value_checks() {
    let cases: &[(&str, &str)] = &[
        (
            "[[postgres]]\nname = \"p\"\nurl = \"postgres://h/db\"\nstat_statements_limit = 1001",
            "4:25: postgres[0].stat_statements_limit: 1001 is out of range: expected 1 to 1000",
        ),
        (
            "[[redis]]\nname = \"r\"\nurl = \"redis://h\"\nsidekiq_queue_limit = 0",
            "4:23: redis[0].sidekiq_queue_limit: sidekiq_queue_limit must be between 1 and 10000",
        ),
        (
            "[[redis]]\nname = \"r\"\nurl = \"redis://h\"\nmastodon_gauges_interval = \"0s\"",
            "4:28: redis[0].mastodon_gauges_interval: mastodon_gauges_interval must be at least 1s",
        ),
        (
            "listen = \"0.0.0.0\"",
            "1:10: listen: invalid address \"0.0.0.0\": expected ip:port, like \"127.0.0.1:9480\" or \"[::1]:9480\"",
        ),
        (
            "listen = \"[::1]:1\"\nmetrics_listen = \"[::1]:1\"",
            "2:18: metrics_listen: metrics_listen must differ from listen ([::1]:1)",
        ),
        (
            "[site]\ntitle = \"  \"",
            "2:9: site.title: title must not be empty",
        ),
        (
            "[site]\nlocation = \"eu central\"",
            "2:12: site.location: invalid location \"eu central\": use only letters, digits, \"_\", \".\" and \"-\"",
        ),
        (
            "[store]\nurl = \"not a url\"",
            "2:7: store.url: invalid url: relative URL without a base",
        ),
        (
            "[mastodon]\nweb_domain = \"example.social/path\"",
            "2:14: mastodon.web_domain: invalid domain \"example.social/path\": expected a host name like example.social, without scheme or path",
        ),
        (
            "[mastodon]\nstreaming_base_url = \"ftp://s.example\"",
            "2:22: mastodon.streaming_base_url: unsupported url scheme \"ftp\": expected wss, ws, https, http",
        ),
        (
            "[mastodon]\nenv_file = \"\"",
            "2:12: mastodon.env_file: env_file must not be empty",
        ),
        (
            "[[postgres]]\nname = \"x\"",
            "1:1: postgres[0]: missing field `url` (needed unless the name is that of a target from the mastodon env file)",
        ),
        (
            "[[redis]]\nname = \"x\"\nurl = \"redis://\"",
            "3:7: redis[0].url: url has no host",
        ),
        (
            "[[redis]]\nname = \"x\"\nurl = \"redis://h\"\nnamespace = \"\"",
            "4:13: redis[0].namespace: namespace must not be empty (leave it out instead)",
        ),
        (
            "[[redis]]\nname = \"x\"\nurl = \"unix:///tmp/redis.sock\"",
            "3:7: redis[0].url: unsupported url scheme: expected redis or rediss",
        ),
        (
            "[[probe]]\nname = \"x\"\nurl = \"tcp://example.social\"",
            "3:7: probe[0].url: a tcp probe needs a port, like tcp://example.social:443",
        ),
        (
            "[[probe]]\nname = \"x\"\nurl = \"https://\"",
            "3:7: probe[0].url: invalid url: empty host",
        ),
        (
            "[[probe]]\nname = \"x\"\nurl = \"https://e.x\"\ninterval = \"1h\"\ntimeout = \"2x\"",
            "5:11: probe[0].timeout: invalid duration \"2x\": expected a number and a unit, like \"30s\" or \"5m\"",
        ),
        (
            "[[probe]]\nname = \"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde\"\nurl = \"https://e.x\"",
            "2:8: probe[0].name: name must be at most 64 characters long",
        ),
        (
            "[[discord]]\nname = \"x\"\nwebhook_url = \"discord.com/api/webhooks/1/t\"",
            "3:15: discord[0].webhook_url: invalid url: relative URL without a base",
        ),
        (
            "[otlp]\nendpoint = \"grpc://h:4317\"",
            "2:12: otlp.endpoint: unsupported url scheme \"grpc\": expected http, https",
        ),
        (
            "[otlp]\nendpoint = \"http://h\"\nheaders = { a = \"x\", A = \"y\" }",
            "3:22: otlp.headers.A: duplicate header (same as \"a\": names are case-insensitive)",
        ),
        (
            "[otlp]\nendpoint = \"http://h\"\nheaders = { a = \"x\\ny\" }",
            "3:17: otlp.headers.a: header value must be printable ascii",
        ),
        (
            "[otlp]\nendpoint = \"http://h\"\ninterval = \"100ms\"",
            "3:12: otlp.interval: interval (100ms) must be at least 1s",
        ),
        (
            "[otlp]\nprotocol = \"grpc\"",
            "1:1: otlp: missing field `endpoint`",
        ),
        (
            "[mastodon]\nprobe_interval = \"5s\"",
            "2:18: mastodon.probe_interval: probe_timeout (10s) must be shorter than probe_interval (5s)",
        ),
        (
            "[mastodon]\nprobe_interval = \"500ms\"\nprobe_timeout = \"100ms\"",
            "2:18: mastodon.probe_interval: probe_interval (500ms) must be at least 1s",
        ),
        (
            "[mastodon]\nprobe_timeout = \"0s\"",
            "2:17: mastodon.probe_timeout: probe_timeout must be greater than zero",
        ),
        (
            "[mastodon]\nconnect_to = \"localhost\"",
            "2:14: mastodon.connect_to: invalid address \"localhost\": expected ip:port, like \"127.0.0.1:9480\" or \"[::1]:9480\"",
        ),
    ];
    for (text, want) in cases {
        let got = err(load_text(text, None, &HashMap::new()));
        assert_eq!(got, format!("test.toml:{want}"), "{text}");
    }
}

#[test]
fn accepted_values() {
    let text = r#"
        listen = "[::]:9480"
        metrics_listen = "127.0.0.1:9481"
        [store]
        url = "postgres://fedimeter:${PG_PASSWORD}@db/fedimeter?sslmode=require"
        [mastodon]
        domain = "${DOMAIN}"
        web_domain = "www.example.social"
        streaming_base_url = "wss://streaming.example.social"
        [[probe]]
        name = "web.main_1-a"
        url = "https://${DOMAIN}/health?x=$${not-a-var}"
        interval = "1m 30s"
        timeout = "1500ms"
        [[discord]]
        name = "local-fake"
        webhook_url = "http://127.0.0.1:8080/api/webhooks/1/token"
    "#;
    let env = HashMap::from([
        ("PG_PASSWORD", "accepted-pw-55"),
        ("DOMAIN", "example.social"),
    ]);
    let c = ok(load_text(text, None, &env));
    assert_eq!(c.listen.to_string(), "[::]:9480");
    assert_eq!(
        c.store.url.redacted(),
        "postgres://fedimeter:***@db/fedimeter?sslmode=require"
    );
    assert_eq!(c.mastodon.local_domain.as_deref(), Some("example.social"));
    assert_eq!(c.mastodon.web_domain.as_deref(), Some("www.example.social"));
    let probe = &c.probes[0];
    assert_eq!(probe.url, "https://example.social/health?x=${not-a-var}");
    assert_eq!(probe.common.interval, Duration::from_secs(90));
    assert_eq!(probe.common.timeout, Duration::from_millis(1500));
    assert_eq!(c.discord[0].webhook_url.to_string(), "***");
}

fn target_urls<'a>(names: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    names.map(|(n, u)| format!("{n} {u}")).collect()
}

fn postgres_of(c: &Config) -> Vec<String> {
    target_urls(
        c.postgres
            .iter()
            .map(|t| (t.common.name.as_str(), t.url.redacted())),
    )
}

fn redis_of(c: &Config) -> Vec<String> {
    c.redis
        .iter()
        .map(|t| {
            format!(
                "{} {} sidekiq={} ns={}",
                t.common.name,
                t.url.redacted(),
                t.sidekiq,
                t.namespace.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn mastodon_env_fixtures_derive_targets() {
    struct Case {
        file: &'static str,
        postgres: &'static [&'static str],
        redis: &'static [&'static str],
        domain: Option<&'static str>,
    }
    let cases = [
        Case {
            file: "sample.env",
            postgres: &[
                "mastodon postgres://mastodon@localhost:5432/mastodon_production?host=%2Fvar%2Frun%2Fpostgresql",
            ],
            redis: &["mastodon redis://localhost:6379/0 sidekiq=true ns=-"],
            domain: Some("example.social"),
        },
        Case {
            file: "quoted.env",
            postgres: &[
                "mastodon postgres://mastodon_app:***@db.internal:5433/mastodon_production?sslmode=require",
            ],
            redis: &["mastodon redis://:***@redis.internal:6379/1 sidekiq=true ns=-"],
            domain: Some("example.social"),
        },
        Case {
            file: "separate-redis.env",
            postgres: &[
                "mastodon postgresql://mastodon:***@pg.internal:5432/mastodon_production",
                "mastodon-replica postgres://mastodon@pg-replica.internal:5432/mastodon_production",
            ],
            redis: &[
                "mastodon redis://redis-base.internal:6379/0 sidekiq=false ns=-",
                "sidekiq redis://:***@redis-jobs.internal:6379/0 sidekiq=true ns=mastodon",
                "cache redis://:***@redis-cache.internal:6379/0 sidekiq=false ns=-",
            ],
            domain: Some("example.social"),
        },
        Case {
            file: "minimal.env",
            postgres: &["mastodon postgres://mastodon@localhost:5432/mastodon_production"],
            redis: &["mastodon redis://localhost:6379/0 sidekiq=true ns=-"],
            domain: Some("tiny.example"),
        },
    ];
    for case in cases {
        let path = format!("{MASTODON}/{}", case.file);
        let c = ok(config::defaults_with(
            Some(Path::new(&path)),
            &HashMap::<&str, &str>::new(),
        ));
        assert_eq!(postgres_of(&c), case.postgres, "{}", case.file);
        assert_eq!(redis_of(&c), case.redis, "{}", case.file);
        assert_eq!(
            c.mastodon.local_domain.as_deref(),
            case.domain,
            "{}",
            case.file
        );
        assert_eq!(c.mastodon.env_file.as_deref(), Some(Path::new(&path)));
        for t in &c.postgres {
            assert_eq!(t.common.interval, Duration::from_secs(15));
            assert_eq!(t.common.timeout, Duration::from_secs(5));
        }
    }
}

#[test]
fn quoted_env_values_are_read_as_mastodon_reads_them() {
    let c = ok(config::defaults_with(
        Some(Path::new("tests/fixtures/mastodon/quoted.env")),
        &HashMap::<&str, &str>::new(),
    ));
    // Single quotes keep `#` and `$`; the password reaches the URL percent-encoded.
    assert_eq!(
        c.postgres[0].url.expose(),
        "postgres://mastodon_app:pa%23ss$word%20with%20spaces@db.internal:5433/mastodon_production?sslmode=require"
    );
    assert_eq!(c.mastodon.web_domain.as_deref(), Some("www.example.social"));
    assert_eq!(
        c.mastodon.streaming_base_url.as_deref(),
        Some("wss://streaming.example.social")
    );
    assert_eq!(
        secret::redact("auth failed: pa#ss$word with spaces"),
        "auth failed: ***"
    );
}

#[test]
fn config_keys_win_over_the_mastodon_env_file() {
    let text = r#"
        [mastodon]
        env_file = "../mastodon/separate-redis.env"
        domain = "override.example"

        [[postgres]]
        name = "mastodon"
        interval = "1m"

        [[postgres]]
        name = "other"
        url = "postgres://u@other/db"

        [[redis]]
        name = "sidekiq"
        url = "redis://jobs-direct:6379/0"
        namespace = "ns2"

        [[redis]]
        name = "cache"
        sidekiq = true
    "#;
    let c = ok(config::load_str(
        text,
        Some(Path::new("tests/fixtures/config/inline.toml")),
        None,
        &HashMap::<&str, &str>::new(),
    ));
    assert_eq!(c.mastodon.local_domain.as_deref(), Some("override.example"));
    assert_eq!(
        postgres_of(&c),
        [
            "mastodon postgresql://mastodon:***@pg.internal:5432/mastodon_production",
            "mastodon-replica postgres://mastodon@pg-replica.internal:5432/mastodon_production",
            "other postgres://u@other/db",
        ]
    );
    assert_eq!(c.postgres[0].common.interval, Duration::from_secs(60));
    assert_eq!(c.postgres[0].common.timeout, Duration::from_secs(5));
    assert_eq!(
        redis_of(&c),
        [
            "mastodon redis://redis-base.internal:6379/0 sidekiq=false ns=-",
            "sidekiq redis://jobs-direct:6379/0 sidekiq=true ns=ns2",
            "cache redis://:***@redis-cache.internal:6379/0 sidekiq=true ns=-",
        ]
    );
    let origins: Vec<String> = c
        .postgres
        .iter()
        .map(|t| ("postgres", &t.common))
        .chain(c.redis.iter().map(|t| ("redis", &t.common)))
        .map(|(kind, t)| format!("{kind}/{} {}", t.name, t.origin.as_str()))
        .collect();
    assert_eq!(
        origins,
        [
            "postgres/mastodon env file",
            "postgres/mastodon-replica env file",
            "postgres/other written",
            "redis/mastodon env file",
            "redis/sidekiq env file",
            "redis/cache env file"
        ]
    );
}

#[test]
fn the_cli_mastodon_env_replaces_env_file() {
    let text = "[mastodon]\nenv_file = \"/nonexistent/.env.production\"\n";
    let c = ok(load_text(
        text,
        Some("tests/fixtures/mastodon/minimal.env"),
        &HashMap::new(),
    ));
    assert_eq!(c.mastodon.local_domain.as_deref(), Some("tiny.example"));
}

#[test]
fn mastodon_env_errors_point_into_the_env_file() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "broken.env",
            "",
            "tests/fixtures/mastodon/broken.env:2:6: this: expected = after the variable name\n\
             tests/fixtures/mastodon/broken.env:4:9: DB_PASS: double quote is never closed",
        ),
        (
            "unix-redis.env",
            "",
            "tests/fixtures/mastodon/unix-redis.env:2:11: REDIS_URL: unsupported url scheme: expected redis or rediss (or override it with a [[redis]] entry named \"mastodon\")",
        ),
        (
            "bad-values.env",
            "",
            "tests/fixtures/mastodon/bad-values.env:2:9: DB_PORT: not a port number\n\
             tests/fixtures/mastodon/bad-values.env:3:10: REDIS_DB: not a database number",
        ),
        // A target whose URL the config sets is not taken from the env file: its problems
        // do not matter.
        (
            "bad-values.env",
            "[[redis]]\nname = \"mastodon\"\nurl = \"redis://127.0.0.1/0\"\n",
            "tests/fixtures/mastodon/bad-values.env:2:9: DB_PORT: not a port number",
        ),
        (
            "unix-redis.env",
            "[[redis]]\nname = \"mastodon\"\nurl = \"redis://127.0.0.1/0\"\n[[postgres]]\nname = \"mastodon\"\nurl = \"mysql://x\"\n",
            "test.toml:6:7: postgres[0].url: unsupported url scheme: expected postgres or postgresql",
        ),
    ];
    for (file, text, want) in cases {
        let path = format!("{MASTODON}/{file}");
        let got = err(load_text(text, Some(&path), &HashMap::new()));
        assert_eq!(&got, want, "{file} with {text:?}");
    }
}

/// A distinctive password, supplied through `${VAR}`, in every secret field.
#[test]
fn secrets_never_show() {
    const PW: &str = "Uq2-distinctive-Secret-7731";
    let webhook = format!("https://discord.com/api/webhooks/42/{PW}");
    let env = HashMap::from([
        ("PW", PW),
        ("WEBHOOK", webhook.as_str()),
        ("OTLP_KEY", PW),
        (
            "DB_URL",
            "postgres://fedimeter:Uq2-distinctive-Secret-7731@db/m",
        ),
    ]);
    let good = r#"
        [store]
        url = "postgres://fedimeter:${PW}@db/fedimeter"
        [[postgres]]
        name = "a"
        url = "${DB_URL}"
        [[pgbouncer]]
        name = "b"
        url = "postgres://stats:${PW}@db:6432/pgbouncer"
        [[redis]]
        name = "c"
        url = "redis://:${PW}@127.0.0.1:6379/0"
        [[redis]]
        name = "d"
        url = "redis://127.0.0.1:6379/0?password=${PW}"
        [[discord]]
        name = "e"
        webhook_url = "${WEBHOOK}"
        [otlp]
        endpoint = "http://127.0.0.1:4317"
        headers = { authorization = "Bearer ${OTLP_KEY}", "x-api-key" = "${OTLP_KEY}" }
    "#;
    let c = ok(load_text(good, None, &env));
    let rendered = c.render_resolved();
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    for (what, text) in [
        ("render", &rendered),
        ("debug", &debug),
        ("pretty debug", &pretty),
    ] {
        assert!(!text.contains(PW), "{what} shows the password:\n{text}");
        assert!(
            !text.contains("42/"),
            "{what} shows the webhook path:\n{text}"
        );
    }
    assert!(
        rendered.contains("url = \"postgres://stats:***@db:6432/pgbouncer\""),
        "{rendered}"
    );
    assert!(rendered.contains("webhook_url = \"***\""), "{rendered}");
    assert!(
        rendered.contains("headers = { \"authorization\" = \"***\", \"x-api-key\" = \"***\" }"),
        "{rendered}"
    );
    // Registered with the redactor, for logs and error chains from other crates.
    assert_eq!(secret::redact(&format!("x {PW} y")), "x *** y");
    assert_eq!(
        secret::redact(&format!("posting to {webhook}")),
        "posting to ***"
    );

    // The same fields made invalid in other ways: the messages never quote them.
    let bad = r#"
        [store]
        url = "mysql://fedimeter:${PW}@db/fedimeter"
        [[postgres]]
        name = "a"
        url = "${PW}"
        [[pgbouncer]]
        name = "b"
        url = "${PW}:${PW}@db"
        [[redis]]
        name = "c"
        url = "redis://:${PW}@127.0.0.1:6379/x${PW}"
        [[discord]]
        name = "e"
        webhook_url = "http://discord.com/api/webhooks/42/${PW}"
        [otlp]
        endpoint = "http://127.0.0.1:4317"
        headers = { "x api" = "${OTLP_KEY}", ok = "${OTLP_KEY}\u0001" }
    "#;
    let errors = err(load_text(bad, None, &env));
    assert_eq!(errors.lines().count(), 7, "{errors}");
    assert!(!errors.contains(PW), "{errors}");
    assert!(!errors.contains("42/"), "{errors}");
    let debug = format!("{:?}", load_text(bad, None, &env).unwrap_err());
    assert!(!debug.contains(PW), "{debug}");
}

/// `fedimeter.example.toml` loads, with the variables it names.
#[test]
fn the_example_config_loads() {
    let env = HashMap::from([
        ("PG_PASSWORD", "example-pg-pw"),
        ("PGB_PASSWORD", "example-pgb-pw"),
        (
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/example-token",
        ),
        ("OTLP_KEY", "example-otlp-key"),
    ]);
    // Its env_file is an absolute production path; the CLI option replaces it here.
    let c = ok(load(
        "fedimeter.example.toml",
        Some("tests/fixtures/mastodon/sample.env"),
        &env,
    ));
    assert_eq!(c.listen.to_string(), "127.0.0.1:9480");
    assert_eq!(
        c.metrics_listen.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9481")
    );
    assert_eq!(c.site.title, "example.social status");
    assert_eq!(c.site.location, "eu-central");
    assert_eq!(c.mastodon.local_domain.as_deref(), Some("example.social"));
    let names = |v: Vec<&str>| v.join(",");
    assert_eq!(
        names(c.postgres.iter().map(|t| t.common.name.as_str()).collect()),
        "mastodon,primary"
    );
    assert_eq!(
        names(c.redis.iter().map(|t| t.common.name.as_str()).collect()),
        "mastodon,sidekiq"
    );
    assert_eq!(
        names(c.probes.iter().map(|t| t.common.name.as_str()).collect()),
        // the written probes, then the `api` and `media` presets that none of them replaces
        "web,streaming,smtp,api,media"
    );
    assert_eq!(
        c.pgbouncer[0].url.redacted(),
        "postgres://stats:***@127.0.0.1:6432/pgbouncer"
    );
    assert_eq!(c.discord[0].name, "infra");
    let otlp = c.otlp.as_ref().unwrap();
    assert_eq!(otlp.protocol, OtlpProtocol::Grpc);
    assert_eq!(otlp.headers[0].0, "x-api-key");
    assert_eq!(otlp.headers[0].1.expose(), "example-otlp-key");
}

/// The keys serde knows for the table in `text` (from its "unknown field" message).
fn known_keys(text: &str) -> Vec<String> {
    let errors = err(load_text(text, None, &HashMap::new()));
    let line = errors
        .lines()
        .find(|l| l.contains("unknown field `zz_unknown`"))
        .unwrap_or_else(|| panic!("no unknown-field error in {errors}"));
    let expected = line.split_once(", expected ").unwrap().1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every key of every section is documented in the example (so a new key cannot be added
/// without a line there), and the rendered config uses only keys the loader knows.
#[test]
fn the_example_documents_every_key() {
    let example = std::fs::read_to_string("fedimeter.example.toml").unwrap();
    let sections = [
        ("", "zz_unknown = 1\n"),
        ("site", "[site]\nzz_unknown = 1\n"),
        ("store", "[store]\nzz_unknown = 1\n"),
        ("mastodon", "[mastodon]\nzz_unknown = 1\n"),
        ("postgres", "[[postgres]]\nname = \"a\"\nzz_unknown = 1\n"),
        ("pgbouncer", "[[pgbouncer]]\nname = \"a\"\nzz_unknown = 1\n"),
        ("redis", "[[redis]]\nname = \"a\"\nzz_unknown = 1\n"),
        ("probe", "[[probe]]\nname = \"a\"\nzz_unknown = 1\n"),
        ("discord", "[[discord]]\nname = \"a\"\nzz_unknown = 1\n"),
        ("otlp", "[otlp]\nzz_unknown = 1\n"),
    ];
    for (section, text) in sections {
        let keys = known_keys(text);
        assert!(!keys.is_empty(), "{section}");
        for key in keys {
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("[{key}]"))
                    || l.starts_with(&format!("[[{key}]]"))
            });
            assert!(
                documented,
                "{section}: key `{key}` is not in fedimeter.example.toml"
            );
        }
    }
}

#[test]
fn the_resolved_config_reads_back() {
    // Everything but [[discord]], whose `webhook_url = "***"` is (rightly) not a URL.
    let text = r#"
        listen = "127.0.0.1:9500"
        [site]
        title = "a \"quoted\" title"
        location = "eu"
        [mastodon]
        env_file = "../mastodon/separate-redis.env"
        [[postgres]]
        name = "mastodon"
        interval = "1m 30s"
        [[pgbouncer]]
        name = "pgb"
        url = "postgres://stats:${PW}@127.0.0.1:6432/pgbouncer"
        [[redis]]
        name = "extra"
        url = "redis://127.0.0.1:6379/3"
        namespace = "ns"
        sidekiq = true
        sidekiq_queue_limit = 20
        mastodon_queues = ["default", "push"]
        mastodon_gauges = false
        mastodon_gauges_interval = "15m"
        delivery_scan_count = 500
        delivery_scan_steps_per_run = 10
        sidekiq_heartbeat_series = true
        sidekiq_yabeda_aliases = true
        tls_ca_file = "/etc/ssl/redis-ca.pem"
        [[probe]]
        name = "web"
        url = "https://example.social/health"
        [otlp]
        endpoint = "http://127.0.0.1:4318"
        protocol = "http/protobuf"
        headers = { "x-api-key" = "${PW}" }
    "#;
    let env = HashMap::from([("PW", "readback-pw-901")]);
    let c = ok(config::load_str(
        text,
        Some(Path::new("tests/fixtures/config/inline.toml")),
        None,
        &env,
    ));
    let rendered = c.render_resolved();
    assert!(
        rendered.contains("# origin: env file. Derived from the Mastodon env file"),
        "{rendered}"
    );
    assert!(!rendered.contains("readback-pw-901"), "{rendered}");
    // The rendered text is a config file that gives the same config (with `***` where the
    // secrets were, which render the same).
    let again = ok(config::load_str(
        &rendered,
        None,
        None,
        &HashMap::<&str, &str>::new(),
    ));
    let header = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(header(&again.render_resolved()), header(&rendered));
}

#[test]
fn postgres_collector_options_are_read_and_default() {
    let text = r#"
        [[postgres]]
        name = "tuned"
        url = "postgres://fedimeter@127.0.0.1/mastodon_production"
        statement_timeout = "1500ms"
        lock_timeout = "500ms"
        size_interval = "15m"
        settings_interval = "1h"
        table_limit = 3
        mastodon_gauges = false
        mastodon_fast_interval = "2m"
        mastodon_interval = "10m"
        mastodon_slow_interval = "30m"
        [[postgres]]
        name = "plain"
        url = "postgres://fedimeter@127.0.0.1/other"
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    let tuned = &c.postgres[0].options;
    assert_eq!(tuned.statement_timeout, Duration::from_millis(1500));
    assert_eq!(tuned.lock_timeout, Duration::from_millis(500));
    assert_eq!(tuned.size_interval, Duration::from_secs(900));
    assert_eq!(tuned.settings_interval, Duration::from_secs(3600));
    assert_eq!(tuned.table_limit, 3);
    assert!(!tuned.mastodon);
    assert_eq!(tuned.mastodon_fast_interval, Duration::from_secs(120));
    assert_eq!(tuned.mastodon_interval, Duration::from_secs(600));
    assert_eq!(tuned.mastodon_slow_interval, Duration::from_secs(1800));
    assert_eq!(
        c.postgres[1].options,
        fedimeter::config::PostgresOptions::default()
    );
    let rendered = c.render_resolved();
    assert!(
        rendered.contains("statement_timeout = \"1500ms\""),
        "{rendered}"
    );
    assert!(rendered.contains("table_limit = 3"), "{rendered}");
}

#[test]
fn redis_tuning_keys_reach_the_collector_options() {
    let text = r#"
        [[redis]]
        name = "sidekiq"
        url = "redis://127.0.0.1:6379/0"
        sidekiq = true
        sidekiq_queue_limit = 20
        mastodon_queues = ["default", "push"]
        mastodon_gauges = false
        mastodon_gauges_interval = "15m"
        delivery_scan_count = 500
        delivery_scan_steps_per_run = 10
        sidekiq_heartbeat_series = true
        sidekiq_yabeda_aliases = true
        tls_ca_file = "certs/redis-ca.pem"
        [[redis]]
        name = "cache"
        url = "redis://127.0.0.1:6380/0"
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    let o = &c.redis[0].options;
    assert_eq!(o.sidekiq_queue_limit, 20);
    assert_eq!(o.mastodon_queues, ["default", "push"]);
    assert_eq!(o.mastodon_gauges, Some(false));
    assert_eq!(o.mastodon_gauges_interval, Duration::from_secs(900));
    assert_eq!(o.delivery_scan_count, 500);
    assert_eq!(o.delivery_scan_steps_per_run, 10);
    assert!(o.sidekiq_heartbeat_series);
    assert!(o.sidekiq_yabeda_aliases);
    // Relative to the config file's directory (test.toml is in the working directory).
    assert_eq!(
        o.tls_ca_file.as_deref(),
        Some(Path::new("certs/redis-ca.pem"))
    );
    assert_eq!(
        c.redis[1].options,
        fedimeter::config::RedisOptions::default()
    );
    let rendered = c.render_resolved();
    assert!(rendered.contains("sidekiq_queue_limit = 20"), "{rendered}");
    assert!(
        rendered.contains("mastodon_queues = [\"default\", \"push\"]"),
        "{rendered}"
    );
}

#[test]
fn sli_components_and_maintenance_load() {
    use fedimeter::config::{MaintenanceSchedule, SignalConfig};
    let text = r#"
        [mastodon]
        domain = "example.social"
        [[probe]]
        name = "web"
        url = "https://example.social/health"
        [sli]
        evaluate_every = "10s"
        raw_retention = "7d"
        [[component]]
        name = "Website & API"
        probes = ["web"]
        objective = 0.999
        failures_to_down = 2
        [[component]]
        id = "federation_incoming"
        name = "Incoming federation"
        [[component.threshold]]
        metric = "sidekiq_queue_latency_seconds"
        labels = { name = "ingress" }
        target_kind = "redis"
        degraded_above = 60
        major_outage_above = 900
        [[maintenance]]
        title = "upgrade"
        components = ["website_api"]
        start = "2026-11-29T02:00:00Z"
        end = "2026-11-29T03:00:00Z"
        [[maintenance]]
        title = "backup"
        weekdays = ["sun", "wed"]
        at = "03:30"
        duration = "20m"
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    assert_eq!(c.sli.evaluate_every, Duration::from_secs(10));
    assert_eq!(c.sli.raw_retention, Duration::from_secs(7 * 86_400));
    assert_eq!(c.sli.flush_every, Duration::from_secs(60));
    let ids: Vec<&str> = c.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["website_api", "federation_incoming"]);
    assert_eq!(c.components[0].options.objective, 0.999);
    assert_eq!(c.components[0].options.failures_to_down, 2);
    assert_eq!(c.components[0].options.successes_to_up, 2);
    match &c.components[1].signals[0] {
        SignalConfig::Threshold(t) => {
            assert_eq!(t.labels, vec![("name".to_string(), "ingress".to_string())]);
            assert_eq!(
                (t.degraded_above, t.major_outage_above),
                (Some(60.0), Some(900.0))
            );
        }
        other => panic!("unexpected signal {other:?}"),
    }
    assert_eq!(c.maintenance.len(), 2);
    assert_eq!(
        c.maintenance[1].schedule,
        MaintenanceSchedule::Recurring {
            weekdays: vec![6, 2],
            start_minute_of_day: 210,
            duration: Duration::from_secs(1200)
        }
    );
    // Without [[component]], maintenance names the preset's ids.
    let preset = "[mastodon]\ndomain = \"example.social\"\n[[maintenance]]\ntitle = \"x\"\ncomponents = [\"timelines\"]\nat = \"01:00\"\nduration = \"1h\"";
    assert_eq!(
        ok(load_text(preset, None, &HashMap::new()))
            .maintenance
            .len(),
        1
    );
}

/// `target_down` and `target_degraded` rules load with their kinds; a degraded rule gets
/// the summary that shows its reason.
#[test]
fn target_health_rules_load() {
    use fedimeter::config::alert::rule::Condition;
    use fedimeter::model::Kind;
    let text = r#"
        [alerting]
        builtin = false
        [[alert]]
        name = "AnyDown"
        severity = "critical"
        target_down = "any"
        [[alert]]
        name = "ProbeSlow"
        severity = "info"
        target_degraded = "probe"
        for = "10m"
        [[alert]]
        name = "AnythingSlow"
        severity = "warning"
        target_degraded = "any"
        summary = "{{target}}: {{labels.reason}}"
    "#;
    let c = ok(load_text(text, None, &HashMap::new()));
    let rules: Vec<(&str, &Condition, &str)> = c
        .alerting
        .rules
        .iter()
        .map(|r| (r.name.as_str(), &r.condition, r.summary.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            (
                "AnyDown",
                &Condition::TargetDown { kind: None },
                "AnyDown on {{target}}"
            ),
            (
                "ProbeSlow",
                &Condition::TargetDegraded {
                    kind: Some(Kind::Probe)
                },
                "{{target}} is degraded ({{labels.reason}})"
            ),
            (
                "AnythingSlow",
                &Condition::TargetDegraded { kind: None },
                "{{target}}: {{labels.reason}}"
            ),
        ]
    );
    assert_eq!(c.alerting.rules[1].for_, Duration::from_secs(600));
}

/// `[[alert]] component` and `[[discord]] components` name the effective components: the
/// Mastodon preset's ones count, and without any component every name is unknown.
#[test]
fn alert_and_route_components_are_configured_components() {
    let rule = "[[alert]]\nname = \"T\"\nseverity = \"info\"\nmetric = \"x\"\nop = \">\"\nvalue = 1\ncomponent = \"timelines\"\n\
                [[discord]]\nname = \"ops\"\nwebhook_url = \"https://discord.com/api/webhooks/1/abcdefgh\"\ncomponents = [\"email\"]";
    let preset = format!("[mastodon]\ndomain = \"example.social\"\n{rule}");
    let c = ok(load_text(&preset, None, &HashMap::new()));
    let t = c.alerting.rules.iter().find(|r| r.name == "T").unwrap();
    assert_eq!(t.component.as_deref(), Some("timelines"));
    assert_eq!(c.discord[0].components, ["email"]);
    assert_eq!(
        err(load_text(rule, None, &HashMap::new())),
        "test.toml:7:13: alert[0].component: unknown component \"timelines\": no component is configured ([[component]], or the Mastodon preset's)\n\
         test.toml:11:15: discord[0].components[0]: unknown component \"email\": no component is configured ([[component]], or the Mastodon preset's)"
    );
    // A written component that failed validation may be the one named: only its own error.
    let broken = format!("[[component]]\nname = \"Timelines\"\nprobes = [\"nope\"]\n{rule}");
    assert_eq!(
        err(load_text(&broken, None, &HashMap::new())),
        "test.toml:3:11: component[0].probes[0]: unknown probe \"nope\": no [[probe]] has this name"
    );
}

#[test]
fn sli_value_checks() {
    let probe = "[[probe]]\nname = \"web\"\nurl = \"https://e.x\"\n";
    let cases: &[(&str, &str)] = &[
        (
            "[sli]\nbucket_retention = \"30d\"",
            "2:20: sli.bucket_retention: must be at least 91d",
        ),
        (
            "[[component]]\nname = \"A\"\nprobes = [\"nope\"]",
            "3:11: component[0].probes[0]: unknown probe \"nope\": no [[probe]] has this name",
        ),
        (
            "[[component]]\nname = \"A\"",
            "2:8: component[0]: a component needs probes or at least one [[component.threshold]]",
        ),
        (
            "[[component]]\nname = \"A\"\nid = \"Bad Id\"\nprobes = [\"web\"]",
            "3:6: component[0].id: invalid id \"Bad Id\": use 1 to 64 lowercase letters, digits, \"_\" and \"-\"",
        ),
        (
            "[[component]]\nname = \"A\"\nprobes = [\"web\"]\n[[component]]\nname = \"a\"\nprobes = [\"web\"]",
            "5:8: component[1].id: duplicate component id \"a\" (already used by component[0])",
        ),
        (
            "[[component]]\nname = \"A\"\nprobes = [\"web\"]\nobjective = 1.0",
            "4:13: component[0].objective: objective 1 must be between 0 and 1, like 0.995",
        ),
        (
            "[[component]]\nname = \"A\"\nprobes = [\"web\"]\nfailures_to_down = 0",
            "4:20: component[0].failures_to_down: failures_to_down must be between 1 and 100",
        ),
        (
            "[[component]]\nname = \"A\"\n[[component.threshold]]\nmetric = \"m\"\ndegraded_above = 900\nmajor_outage_above = 60",
            "6:22: component[0].threshold[0].major_outage_above: major_outage_above must be greater than degraded_above",
        ),
        (
            "[[component]]\nname = \"A\"\n[[component.threshold]]\nmetric = \"m\"\ntarget_kind = \"mysql\"\ndegraded_above = 1",
            "5:15: component[0].threshold[0].target_kind: unknown target kind \"mysql\": expected postgres, pgbouncer, redis or probe",
        ),
        (
            "[[maintenance]]\ntitle = \"x\"\nstart = \"tomorrow\"\nend = \"2026-11-29T03:00:00Z\"",
            "3:9: maintenance[0].start: invalid time \"tomorrow\": expected RFC 3339 in UTC, like \"2026-11-29T02:00:00Z\"",
        ),
        (
            "[[maintenance]]\ntitle = \"x\"\nstart = \"2026-11-29T03:00:00Z\"\nend = \"2026-11-29T02:00:00Z\"",
            "4:7: maintenance[0].end: end must be after start",
        ),
        (
            "[[maintenance]]\ntitle = \"x\"\nat = \"25:00\"\nduration = \"1h\"",
            "3:6: maintenance[0].at: invalid time of day \"25:00\": expected HH:MM in UTC, like \"03:00\"",
        ),
        (
            "[[maintenance]]\ntitle = \"x\"\nweekdays = [\"someday\"]\nat = \"01:00\"\nduration = \"1h\"",
            "3:13: maintenance[0].weekdays[0]: invalid weekday \"someday\": expected mon, tue, wed, thu, fri, sat or sun",
        ),
        (
            "[[maintenance]]\ntitle = \"x\"",
            "1:1: maintenance[0]: use either start and end (one-off) or at and duration (recurring)",
        ),
        (
            "[[component]]\nname = \"A\"\nprobes = [\"web\"]\n[[maintenance]]\ntitle = \"x\"\ncomponents = [\"b\"]\nat = \"01:00\"\nduration = \"1h\"",
            "6:15: maintenance[0].components[0]: unknown component \"b\"",
        ),
    ];
    for (text, expected) in cases {
        let errors = err(load_text(&format!("{probe}{text}"), None, &HashMap::new()));
        let expected = shift_lines(expected, 3);
        assert!(
            errors.contains(&expected),
            "{text}\nexpected: {expected}\ngot: {errors}"
        );
    }
}

/// `line:col: …` with `line` moved down by `by` lines.
fn shift_lines(message: &str, by: usize) -> String {
    let (line, rest) = message.split_once(':').expect("line:col");
    format!("{}:{rest}", line.parse::<usize>().expect("line") + by)
}

#[test]
fn the_example_documents_every_sli_key() {
    let example = std::fs::read_to_string("fedimeter.example.toml").unwrap();
    for (section, text) in [
        ("sli", "[sli]\nzz_unknown = 1\n"),
        ("component", "[[component]]\nname = \"a\"\nzz_unknown = 1\n"),
        (
            "component.threshold",
            "[[component]]\nname = \"a\"\n[[component.threshold]]\nmetric = \"m\"\nzz_unknown = 1\n",
        ),
        (
            "maintenance",
            "[[maintenance]]\ntitle = \"a\"\nzz_unknown = 1\n",
        ),
    ] {
        for key in known_keys(text) {
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("[[component.{key}]]"))
            });
            assert!(
                documented,
                "{section}: key `{key}` is not in fedimeter.example.toml"
            );
        }
    }
}

/// One resolved configuration (issue 8): `Config.probes` and `Config.components` are the
/// effective lists, the Mastodon preset expanded during validation and every entry tagged
/// with its origin; components and maintenance windows may name preset probes and preset
/// components; `check-config` prints the origins.
#[test]
fn the_mastodon_preset_is_expanded_during_validation() {
    use fedimeter::config::Origin;
    // An env file with LOCAL_DOMAIN (and the rest of quoted.env) and nothing else.
    let c = ok(load_text(
        "",
        Some("tests/fixtures/mastodon/quoted.env"),
        &HashMap::new(),
    ));
    let probes: Vec<String> = c
        .probes
        .iter()
        .map(|p| format!("{} {}", p.common.name, p.common.origin.as_str()))
        .collect();
    assert_eq!(
        probes,
        [
            "web preset",
            "streaming preset",
            "api preset",
            "media preset"
        ]
    );
    // docs/sli.md "Mastodon preset": all of them, media by the instance's thumbnail.
    let components: Vec<(&str, &str, Origin)> = c
        .components
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.origin))
        .collect();
    assert_eq!(
        components,
        [
            ("website", "Website & API", Origin::Preset),
            ("streaming", "Streaming", Origin::Preset),
            ("media", "Media", Origin::Preset),
            ("timelines", "Posting & home timelines", Origin::Preset),
            ("federation_incoming", "Incoming federation", Origin::Preset),
            ("federation_outgoing", "Outgoing federation", Origin::Preset),
            ("email", "E-mail", Origin::Preset),
        ]
    );

    // A written component naming a preset probe, and a maintenance window naming a preset
    // component, both validate.
    let text = "[mastodon]\ndomain = \"example.social\"\nmedia_canary_url = \"https://files.example.social/c.png\"\n\
                [[component]]\nname = \"Web\"\nprobes = [\"web\", \"media\"]\n";
    let c = ok(load_text(text, None, &HashMap::new()));
    assert_eq!(c.components.len(), 1);
    assert_eq!(c.components[0].origin, Origin::Written);
    let maintenance = "[mastodon]\ndomain = \"example.social\"\n[[maintenance]]\ntitle = \"x\"\n\
                       components = [\"website\", \"streaming\"]\nat = \"01:00\"\nduration = \"1h\"";
    let c = ok(load_text(maintenance, None, &HashMap::new()));
    assert_eq!(c.maintenance[0].components, ["website", "streaming"]);
    // A preset probe that is disabled is not there to be named.
    let disabled = "[mastodon]\ndomain = \"example.social\"\ndisable_probes = [\"web\"]\n\
                    [[component]]\nname = \"Web\"\nprobes = [\"web\"]\n";
    assert_eq!(
        err(load_text(disabled, None, &HashMap::new())),
        "test.toml:6:11: component[0].probes[0]: unknown probe \"web\": no [[probe]] has this name"
    );
    // And a window may not name a preset component when written components replace the preset.
    let replaced = "[mastodon]\ndomain = \"example.social\"\n[[component]]\nname = \"Web\"\nprobes = [\"web\"]\n\
                    [[maintenance]]\ntitle = \"x\"\ncomponents = [\"website\"]\nat = \"01:00\"\nduration = \"1h\"";
    assert_eq!(
        err(load_text(replaced, None, &HashMap::new())),
        "test.toml:8:15: maintenance[0].components[0]: unknown component \"website\""
    );

    // check-config says where each entry came from.
    let text = "[mastodon]\ndomain = \"example.social\"\n[[probe]]\nname = \"web\"\nurl = \"https://example.social/health\"\n";
    let rendered = ok(load_text(
        text,
        Some("tests/fixtures/mastodon/quoted.env"),
        &HashMap::new(),
    ))
    .render_resolved();
    for want in [
        "# origin: written\n[[probe]]\nname = \"web\"",
        "# origin: env file. Derived from the Mastodon env file (keys set in the config win)\n[[postgres]]\nname = \"mastodon\"",
        "# origin: preset. Preset probes from [mastodon]",
        "#   streaming https://streaming.example.social/api/v1/streaming/health every 15s (timeout 10s)",
        "# origin: preset. Preset components from [mastodon] (any [[component]] replaces them all):\n\
         #   website \"Website & API\": probes web, api\n",
        "#   timelines \"Posting & home timelines\": sidekiq_queue_latency_seconds{name=\"default\"} degraded above 30, major outage above 300\n",
    ] {
        assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
    }
    assert!(
        !rendered.contains("\n[[probe]]\nname = \"streaming\""),
        "{rendered}"
    );
}

/// `check-config` shows durations as they are written, in the largest exact unit.
#[test]
fn check_config_prints_durations_as_written() {
    let text = "[sli]\nbucket_retention = \"400d\"\nraw_retention = \"336h\"\nflush_every = \"90s\"\n\
                [[probe]]\nname = \"web\"\nurl = \"https://example.social/health\"\ninterval = \"1m\"\ntimeout = \"2500ms\"\n";
    let rendered = ok(load_text(text, None, &HashMap::new())).render_resolved();
    for want in [
        "bucket_retention = \"400d\"\n",
        "raw_retention = \"14d\"\n",
        "flush_every = \"90s\"\n",
        "interval = \"1m\"\n",
        "timeout = \"2500ms\"\n",
    ] {
        assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
    }
    assert!(!rendered.contains("1year"), "{rendered}");
}

/// A default as stated in the example's prose, for comparison with the code.
#[derive(Debug, Clone, PartialEq)]
enum Stated {
    /// A TOML value: `"15s"`, `50`, `true`, `["default", "push"]`.
    Value(toml::Value),
    /// Prose for "no value": `not set`, `none`, `any 2xx`, `LOCAL_DOMAIN from env_file`, ….
    Prose(String),
}

/// Every `Default: …` in `fedimeter.example.toml`, as (section, key, stated default, line).
/// The convention (uniform through the file): the comment lines directly above a key line
/// (`key = …` or `# key = …`) document that key, and a `Default: <value>.` among them is its
/// default; `<value>` ends at `.` + end of line, or at ` (` before an explanation.
fn stated_defaults(text: &str) -> Vec<(String, String, Stated, usize)> {
    let key_line = |line: &str| -> Option<String> {
        let l = line.strip_prefix("# ").unwrap_or(line);
        let (key, _) = l.split_once(" = ")?;
        key.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            .then(|| key.to_string())
    };
    let header = |line: &str| -> Option<String> {
        let l = line.strip_prefix("# ").unwrap_or(line).trim();
        let inner = l.strip_prefix("[[").and_then(|l| l.strip_suffix("]]"));
        let inner = inner.or_else(|| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?;
        inner
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            .then(|| inner.to_string())
    };
    let mut out = Vec::new();
    let mut section = String::new();
    let mut block: Vec<&str> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = header(line) {
            section = h;
            block.clear();
        } else if let Some(key) = key_line(line) {
            let stated: Vec<&str> = block
                .iter()
                .filter_map(|l| l.split_once("Default: ").map(|(_, rest)| rest))
                .collect();
            assert!(
                stated.len() <= 1,
                "line {}: one `Default:` per key ({key})",
                i + 1
            );
            if let Some(rest) = stated.first() {
                let value = match rest.find(" (") {
                    Some(at) => &rest[..at],
                    None => rest.strip_suffix('.').unwrap_or(rest),
                };
                let stated = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
                    Ok(mut t) => Stated::Value(t.remove("v").expect("v")),
                    Err(_) => Stated::Prose(value.to_string()),
                };
                out.push((section.clone(), key, stated, i + 1));
            }
            block.clear();
        } else if line.starts_with('#') {
            assert!(
                !line.contains("Defaults:"),
                "line {}: state one `Default:` per key, above the key",
                i + 1
            );
            block.push(line);
        } else {
            block.clear();
        }
    }
    out
}

/// Every default the example states in its prose equals the default in code (one place
/// for a default: `config::options`, `config::raw::default_*`, `Config::default()`), and
/// every key with a default in code states it.
#[test]
fn the_example_states_the_defaults_of_the_code() {
    use fedimeter::config::options::{
        ComponentOptions, PgbouncerOptions, PostgresOptions, ProbeOptions, RedisOptions, SliOptions,
    };
    use fedimeter::config::raw;
    enum Code {
        Dur(Duration),
        Int(i64),
        Bool(bool),
        Float(f64),
        Str(String),
        List(Vec<String>),
        /// No value in code (`None` or empty): the example states it in prose.
        Unset,
    }
    use Code::*;
    let int = |n: usize| Int(i64::try_from(n).expect("small"));
    let c = Config::default();
    let pg = PostgresOptions::default();
    let pgb = PgbouncerOptions::default();
    let r = RedisOptions::default();
    let p = ProbeOptions::default();
    let comp = ComponentOptions::default();
    let sli = SliOptions::default();
    let m = &c.mastodon;
    let target = |interval, timeout| vec![("interval", Dur(interval)), ("timeout", Dur(timeout))];
    let mut code: Vec<(&str, Vec<(&str, Code)>)> = vec![
        (
            "",
            vec![
                ("listen", Str(c.listen.to_string())),
                ("metrics_listen", Unset),
            ],
        ),
        (
            "site",
            vec![
                ("title", Str(c.site.title.clone())),
                ("location", Str(c.site.location.clone())),
                ("public_url", Unset),
            ],
        ),
        (
            "store",
            vec![("url", Str(c.store.url.redacted().to_string()))],
        ),
        (
            "mastodon",
            vec![
                ("env_file", Unset),
                ("domain", Unset),
                ("web_domain", Unset),
                ("streaming_base_url", Unset),
                ("api_token", Unset),
                ("media_canary_url", Unset),
                ("disable_probes", List(vec![])),
                ("connect_to", Unset),
                ("ca_file", Unset),
                ("probe_interval", Dur(m.probe_interval)),
                ("probe_timeout", Dur(m.probe_timeout)),
            ],
        ),
        (
            "postgres",
            vec![
                ("statement_timeout", Dur(pg.statement_timeout)),
                ("lock_timeout", Dur(pg.lock_timeout)),
                ("size_interval", Dur(pg.size_interval)),
                ("settings_interval", Dur(pg.settings_interval)),
                ("table_limit", int(pg.table_limit)),
                ("mastodon_gauges", Bool(pg.mastodon)),
                ("mastodon_fast_interval", Dur(pg.mastodon_fast_interval)),
                ("mastodon_interval", Dur(pg.mastodon_interval)),
                ("mastodon_slow_interval", Dur(pg.mastodon_slow_interval)),
                ("stat_statements", Bool(pg.stat_statements)),
                ("stat_statements_limit", int(pg.stat_statements_limit)),
                ("stat_statements_interval", Dur(pg.stat_statements_interval)),
                ("statio_user_indexes", Bool(pg.statio_user_indexes)),
            ],
        ),
        (
            "pgbouncer",
            vec![
                ("client_connections", Bool(pgb.client_connections)),
                (
                    "client_connections_max_application_names",
                    int(pgb.client_connections_max_application_names),
                ),
                ("max_pools", int(pgb.max_pools)),
                ("legacy_names", Bool(pgb.legacy_names)),
            ],
        ),
        (
            "redis",
            vec![
                ("sidekiq", Bool(false)),
                ("namespace", Unset),
                ("sidekiq_queue_limit", int(r.sidekiq_queue_limit)),
                ("mastodon_queues", List(r.mastodon_queues.clone())),
                ("mastodon_gauges", Unset),
                ("mastodon_gauges_interval", Dur(r.mastodon_gauges_interval)),
                ("delivery_scan_count", Int(i64::from(r.delivery_scan_count))),
                (
                    "delivery_scan_steps_per_run",
                    Int(i64::from(r.delivery_scan_steps_per_run)),
                ),
                ("sidekiq_heartbeat_series", Bool(r.sidekiq_heartbeat_series)),
                ("sidekiq_yabeda_aliases", Bool(r.sidekiq_yabeda_aliases)),
                ("sidekiq_job_metrics", Bool(r.sidekiq_job_metrics)),
                ("tls_ca_file", Unset),
            ],
        ),
        (
            "probe",
            vec![
                ("degraded_after", Unset),
                ("method", Str(p.method.to_string())),
                ("expect_status", Unset),
                ("body_contains", Unset),
                ("body_regex", Unset),
                ("json_pointer", Unset),
                ("json_equals", Unset),
                ("headers", Unset),
                ("body", Unset),
                ("follow_redirects", Bool(p.follow_redirects)),
                ("max_redirects", Int(i64::from(p.max_redirects))),
                ("ca_file", Unset),
                ("insecure_skip_verify", Bool(p.insecure_skip_verify)),
                ("max_body_bytes", int(p.max_body_bytes)),
                ("cache_bust", Bool(p.cache_bust)),
                ("discover_url", Unset),
            ],
        ),
        (
            "otlp",
            vec![
                ("protocol", Str(raw::default_otlp_protocol().to_string())),
                ("interval", Dur(raw::default_otlp_interval())),
                ("headers", Unset),
            ],
        ),
        (
            "sli",
            vec![
                ("evaluate_every", Dur(sli.evaluate_every)),
                ("flush_every", Dur(sli.flush_every)),
                ("recompute_every", Dur(sli.recompute_every)),
                ("raw_retention", Dur(sli.raw_retention)),
                ("bucket_retention", Dur(sli.bucket_retention)),
                ("history_retention", Dur(sli.history_retention)),
            ],
        ),
        (
            "component",
            vec![
                ("id", Unset),
                ("description", Unset),
                ("objective", Float(comp.objective)),
                ("failures_to_down", Int(i64::from(comp.failures_to_down))),
                ("successes_to_up", Int(i64::from(comp.successes_to_up))),
                ("stale_after", Dur(comp.stale_after)),
            ],
        ),
        (
            "maintenance",
            vec![("components", Unset), ("weekdays", Unset)],
        ),
        (
            "discord",
            vec![
                ("channel", Unset),
                (
                    "min_severity",
                    Str(alert::DEFAULT_MIN_SEVERITY.as_str().to_string()),
                ),
                ("components", Unset),
                ("mention_role", Unset),
                ("resolved_notice", Bool(alert::DEFAULT_RESOLVED_NOTICE)),
            ],
        ),
        (
            "alerting",
            vec![
                ("evaluate_every", Dur(alert::DEFAULT_EVALUATE_EVERY)),
                ("repeat_interval", Dur(alert::DEFAULT_REPEAT_INTERVAL)),
                ("builtin", Bool(alert::DEFAULT_BUILTIN)),
                ("alertmanager_token", Unset),
            ],
        ),
        (
            "alert",
            vec![
                ("enabled", Bool(alert::DEFAULT_ENABLED)),
                ("for", Dur(alert::DEFAULT_FOR)),
                ("keep_firing_for", Dur(alert::DEFAULT_FOR)),
            ],
        ),
    ];
    for (section, keys) in code.iter_mut() {
        match *section {
            "postgres" | "pgbouncer" | "redis" => {
                keys.extend(target(raw::default_interval(), raw::default_timeout()))
            }
            "probe" => keys.extend(target(
                raw::default_probe_interval(),
                raw::default_probe_timeout(),
            )),
            _ => {}
        }
    }

    let example = std::fs::read_to_string("fedimeter.example.toml").unwrap();
    let stated = stated_defaults(&example);
    let mut problems = Vec::new();
    for (section, key, value, line) in &stated {
        let Some(expected) = code
            .iter()
            .find(|(s, _)| s == section)
            .and_then(|(_, keys)| keys.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v)
        else {
            problems.push(format!(
                "line {line}: [{section}] {key} states a default the test does not know"
            ));
            continue;
        };
        let equal = match (expected, value) {
            (Dur(d), Stated::Value(toml::Value::String(s))) => {
                humantime::parse_duration(s).ok() == Some(*d)
            }
            (Int(n), Stated::Value(toml::Value::Integer(v))) => n == v,
            (Float(f), Stated::Value(toml::Value::Float(v))) => f == v,
            (Bool(b), Stated::Value(toml::Value::Boolean(v))) => b == v,
            (Str(s), Stated::Value(toml::Value::String(v))) => s == v,
            (List(l), Stated::Value(toml::Value::Array(v))) => {
                v.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    == Some(l.clone())
            }
            (Unset, Stated::Prose(_)) => true,
            _ => false,
        };
        if !equal {
            problems.push(format!(
                "line {line}: [{section}] {key}: the example states {value:?}, the code differs"
            ));
        }
    }
    for (section, keys) in &code {
        for (key, _) in keys {
            if !stated.iter().any(|(s, k, _, _)| s == section && k == key) {
                problems.push(format!(
                    "[{section}] {key}: no `Default:` stated above the key"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
