//! The binary's commands end to end: zero-config serve, check-config, once, SIGTERM.

mod binary;

use std::time::Duration;

use binary::{Workdir, get};

#[tokio::test]
async fn zero_config_serve_shows_how_to_add_targets_and_self_metrics_and_drains_on_sigterm() {
    let work = Workdir::new("listen = \"127.0.0.1:0\"\n");
    let mut server = work.serve(&[]);
    let (status, content_type, page, _) = get(&server.url("/"), None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("No targets are configured yet"), "{page}");
    assert!(page.contains("fedimeter.example.toml"), "{page}");
    let (status, content_type, metrics, _) = get(&server.url("/metrics"), None).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        metrics.contains("# TYPE fedimeter_build_info gauge\nfedimeter_build_info{version=\""),
        "{metrics}"
    );
    let (_, content_type, om, _) = get(
        &server.url("/metrics"),
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    let (status, _, json, _) = get(&server.url("/api/status.json"), None).await;
    assert_eq!(status, 200);
    assert!(json.contains("\"components\":[]"), "{json}");
    let (status, _, _, _) = get(&server.url("/healthz"), None).await;
    assert_eq!(status, 200);
    let took = server.sigterm_and_wait(Duration::from_secs(5));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        work.path("fedimeter.db").exists(),
        "the embedded SQLite store is created"
    );
}

#[tokio::test]
async fn metrics_listen_moves_metrics_off_the_public_address() {
    let work = Workdir::new("listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n");
    let server = work.serve(&[]);
    let metrics_base = server.metrics_base.clone().expect("metrics_listen bound");
    let (status, _, _, _) = get(&server.url("/metrics"), None).await;
    assert_eq!(status, 404, "no /metrics on the public listener");
    let (status, _, body, _) = get(&format!("{metrics_base}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("fedimeter_build_info"));
    let (status, _, _, _) = get(&format!("{metrics_base}/"), None).await;
    assert_eq!(status, 404, "no page on the metrics listener");
}

#[test]
fn check_config_accepts_the_example_and_masks_secrets() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fedimeter.example.toml"
    ))
    .expect("example config")
    .replace(
        "/home/mastodon/live/.env.production",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mastodon/sample.env"
        ),
    );
    let work = Workdir::new(&example);
    let secret = "Xq7-distinctive-PASSWORD-41";
    let env: Vec<(&str, &str)> = [
        "PG_PASSWORD",
        "PGB_PASSWORD",
        "REDIS_PASSWORD",
        "DISCORD_WEBHOOK_URL",
        "OTLP_KEY",
        "PROBE_TOKEN",
        "OTLP_API_KEY",
    ]
    .iter()
    .map(|k| {
        let v: &str = if *k == "DISCORD_WEBHOOK_URL" {
            "https://discord.invalid/api/webhooks/123/Xq7-distinctive-PASSWORD-41"
        } else {
            secret
        };
        (*k, v)
    })
    .collect();
    let out = work.run(&["check-config"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check-config failed:\n{stderr}");
    assert!(stderr.contains("config ok"), "{stderr}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "secret leaked:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("***"), "{stdout}");
    // Durations as written (400d, not "1year 1month 4days 7h 26m 24s"), and origins.
    for want in [
        "bucket_retention = \"400d\"\n",
        "raw_retention = \"14d\"\n",
        "statement_timeout = \"2s\"\n",
        "# origin: env file. Derived from the Mastodon env file",
        "# origin: written\n[[postgres]]\nname = \"primary\"",
        "# origin: preset. Preset probes from [mastodon]",
        "#   api https://example.social/api/v1/",
        "# origin: preset. Preset components from [mastodon]",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    assert!(!stdout.contains("1year"), "{stdout}");
}

#[test]
fn check_config_reports_every_error_with_file_line_and_key_and_exits_64() {
    let work = Workdir::new(
        "listen = \"127.0.0.1:9480\"\n\n[[redis]]\nname = \"a\"\nurl = \"redis://127.0.0.1:6379\"\ninterval = \"10s\"\ntimeout = \"20s\"\n\n[[probe]]\nname = \"web\"\nurl = \"https://example.org/health\"\ncolour = \"blue\"\n",
    );
    let out = work.run(&["check-config"], &[]);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fedimeter.toml:7:"),
        "timeout error has file:line: {stderr}"
    );
    assert!(stderr.contains("redis[0].timeout"), "{stderr}");
    assert!(
        stderr.contains("fedimeter.toml:12:"),
        "unknown key error has file:line: {stderr}"
    );
    assert!(stderr.contains("colour"), "{stderr}");
}

#[test]
fn an_explicit_missing_config_file_is_an_error_naming_it() {
    let work = Workdir::new("");
    let out = work.run(&["--config", "nope.toml", "check-config"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn once_with_no_targets_prints_self_metrics_and_succeeds() {
    let work = Workdir::new("");
    let out = work.run(&["once"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("fedimeter_build_info{"), "{stdout}");
}
