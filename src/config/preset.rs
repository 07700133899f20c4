//! The Mastodon preset: from `[mastodon]` (or `LOCAL_DOMAIN`/`WEB_DOMAIN`/
//! `STREAMING_API_BASE_URL` of the env file) fedimeter defines the standard probes and the
//! status-page components itself. Validation expands both into [`super::Config::probes`] and
//! [`super::Config::components`] (tagged [`Origin::Preset`]), so everything after it only
//! iterates those lists.
//!
//! ## Probes ([`preset_probes`])
//!
//! | name | url | passes when |
//! |---|---|---|
//! | `web` | `https://<web domain>/health` | 2xx and body contains `OK` |
//! | `streaming` | `<STREAMING_API_BASE_URL as https>/api/v1/streaming/health` (else on the web domain) | 2xx and `OK` |
//! | `api` | with `api_token`: `/api/v1/accounts/verify_credentials` (uncached, Puma + PostgreSQL + Redis) | 200 and JSON with `/id` |
//! | `api` | without: `/api/v1/timelines/public?local=true&limit=1&_fedimeter=<unique>` | 200 or 401 (4.5 with a non-public live feed), JSON |
//! | `media` | `media_canary_url` when set | 2xx |
//! | `media` | without: `thumbnail.url` of `/api/v2/instance` ([`media_discovery`]) | 2xx |
//!
//! `/health` and the streaming health only say the process answers; the API probe reaches
//! the database. Cached endpoints such as `/api/v2/instance` are not probed: they answer from
//! cache (`stale-if-error=86400`) through an outage. The media probe only *discovers* its
//! file there (one cache-busted GET, again every hour or after a 404), then fetches the
//! file itself. The TLS expiry of each host comes with
//! these https probes (`probe_ssl_earliest_cert_expiry{target=…}`).
//!
//! A `[[probe]]` with a preset's name replaces it; `disable_probes` removes presets.
//! `[mastodon] connect_to` and `ca_file` apply to every preset probe.
//!
//! ## Components ([`mastodon_components`])
//!
//! Used when no `[[component]]` is written; thresholds from `mastodon-facts.md` §9.
//!
//! | id | name | signals (degraded / major outage above) |
//! |---|---|---|
//! | `website` | Website & API | probes `web`, `api` |
//! | `streaming` | Streaming | probe `streaming` |
//! | `media` | Media | probe `media` |
//! | `timelines` | Posting & home timelines | `sidekiq_queue_latency_seconds{name="default"}` 30 s / 300 s |
//! | `federation_incoming` | Incoming federation | `{name="ingress"}` 60 s / 900 s; `mastodon_newest_status_age_seconds{origin="remote"}` 600 s / 1800 s |
//! | `federation_outgoing` | Outgoing federation | `{name="push"}` 300 s / 1800 s |
//! | `email` | E-mail | `{name="mailers"}` 120 s / 900 s |
//!
//! Probe signals are included only for probes that exist; a probe component without any
//! of its probes is left out.

use std::time::Duration;

use super::options::{ComponentOptions, DEFAULT_DISCOVER_EVERY, DiscoverUrl, ProbeOptions};
use super::{
    ComponentConfig, MastodonConfig, Origin, ProbeTarget, Secret, SignalConfig, TargetCommon,
    ThresholdSignal,
};
use crate::model::Kind;

/// Default interval of the preset probes, `[mastodon] probe_interval` (the public API
/// allows 300 unauthenticated requests per 5 minutes per IP; 15 s uses 20).
pub const PRESET_INTERVAL: Duration = Duration::from_secs(15);
/// Default timeout of the preset probes, `[mastodon] probe_timeout`.
pub const PRESET_TIMEOUT: Duration = Duration::from_secs(10);
/// Latency above which a preset probe counts as degraded.
pub const PRESET_DEGRADED_AFTER: Duration = Duration::from_secs(2);
/// Latency above which the media canary counts as degraded (a whole file is fetched).
pub const MEDIA_DEGRADED_AFTER: Duration = Duration::from_secs(5);

/// The preset names, in the order they are defined.
pub const PRESET_NAMES: [&str; 4] = ["web", "streaming", "api", "media"];

/// The preset probes for `mastodon` that `existing` does not define (same name) and that are
/// not disabled. Empty when no domain is known.
pub fn preset_probes(mastodon: &MastodonConfig, existing: &[ProbeTarget]) -> Vec<ProbeTarget> {
    let Some(domain) = mastodon.domain() else {
        return Vec::new();
    };
    let web_base = format!("https://{domain}");
    let streaming_base = mastodon
        .streaming_base_url
        .as_deref()
        .map(streaming_http_base)
        .unwrap_or_else(|| web_base.clone());
    let ok_body = |degraded_after| ProbeOptions {
        body_contains: Some("OK".to_string()),
        degraded_after: Some(degraded_after),
        ..ProbeOptions::default()
    };
    let mut probes = vec![
        preset(
            "web",
            format!("{web_base}/health"),
            ok_body(PRESET_DEGRADED_AFTER),
        ),
        preset(
            "streaming",
            format!("{streaming_base}/api/v1/streaming/health"),
            ok_body(PRESET_DEGRADED_AFTER),
        ),
    ];
    probes.push(match &mastodon.api_token {
        Some(token) => preset(
            "api",
            format!("{web_base}/api/v1/accounts/verify_credentials"),
            ProbeOptions {
                expect_status: vec![200],
                json_pointer: Some("/id".to_string()),
                headers: vec![(
                    "Authorization".to_string(),
                    Secret::new(format!("Bearer {}", token.expose())),
                )],
                degraded_after: Some(PRESET_DEGRADED_AFTER),
                ..ProbeOptions::default()
            },
        ),
        None => preset(
            "api",
            format!("{web_base}/api/v1/timelines/public?local=true&limit=1"),
            ProbeOptions {
                expect_status: vec![200, 401],
                json_pointer: Some(String::new()),
                cache_bust: true,
                degraded_after: Some(PRESET_DEGRADED_AFTER),
                ..ProbeOptions::default()
            },
        ),
    });
    let media = ProbeOptions {
        degraded_after: Some(MEDIA_DEGRADED_AFTER),
        ..ProbeOptions::default()
    };
    probes.push(
        match mastodon
            .media_canary_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => preset("media", url.trim().to_string(), media),
            // The instance's thumbnail: a file on the media host (or CDN) every server has.
            None => preset(
                "media",
                web_base.clone(),
                ProbeOptions {
                    discover_url: Some(media_discovery()),
                    ..media
                },
            ),
        },
    );
    probes.retain(|p| {
        !existing.iter().any(|e| e.common.name == p.common.name)
            && !mastodon.disable_probes.contains(&p.common.name)
    });
    for p in &mut probes {
        p.common.interval = mastodon.probe_interval;
        p.common.timeout = mastodon.probe_timeout;
        p.options.connect_to = mastodon.connect_to;
        p.options.ca_file = mastodon.ca_file.clone();
    }
    probes
}

/// Where the media preset finds its file without `media_canary_url`: `thumbnail.url` of
/// `/api/v2/instance` (mastodon-facts.md §9 item 3), discovered again every hour.
pub fn media_discovery() -> DiscoverUrl {
    DiscoverUrl {
        from: "/api/v2/instance".to_string(),
        pointer: "/thumbnail/url".to_string(),
        every: DEFAULT_DISCOVER_EVERY,
    }
}

fn preset(name: &str, url: String, options: ProbeOptions) -> ProbeTarget {
    ProbeTarget {
        common: TargetCommon {
            name: name.to_string(),
            interval: PRESET_INTERVAL,
            timeout: PRESET_TIMEOUT,
            origin: Origin::Preset,
        },
        url,
        options,
    }
}

/// The preset components for the probe names in effect, in page order.
pub fn mastodon_components(probe_names: &[&str]) -> Vec<ComponentConfig> {
    let probes = |names: &[&str]| -> Vec<SignalConfig> {
        names
            .iter()
            .filter(|n| probe_names.contains(n))
            .map(|n| SignalConfig::Probe {
                probe: n.to_string(),
            })
            .collect()
    };
    let queue = |queue: &str, degraded: f64, major: f64| {
        SignalConfig::Threshold(ThresholdSignal {
            metric: "sidekiq_queue_latency_seconds".into(),
            labels: vec![("name".into(), queue.into())],
            target_kind: Some(Kind::Redis),
            target_name: None,
            degraded_above: Some(degraded),
            partial_outage_above: None,
            major_outage_above: Some(major),
        })
    };
    let newest_remote = SignalConfig::Threshold(ThresholdSignal {
        metric: "mastodon_newest_status_age_seconds".into(),
        labels: vec![("origin".into(), "remote".into())],
        target_kind: Some(Kind::Postgres),
        target_name: None,
        degraded_above: Some(600.0),
        partial_outage_above: None,
        major_outage_above: Some(1800.0),
    });
    let table: Vec<(&str, &str, &str, Vec<SignalConfig>)> = vec![
        (
            "website",
            "Website & API",
            "The web interface, the API used by apps, and sign-in",
            probes(&["web", "api"]),
        ),
        (
            "streaming",
            "Streaming",
            "Real-time updates of timelines and notifications",
            probes(&["streaming"]),
        ),
        (
            "media",
            "Media",
            "Images, videos and avatars",
            probes(&["media"]),
        ),
        (
            "timelines",
            "Posting & home timelines",
            "New posts reach followers' home timelines on this server",
            vec![queue("default", 30.0, 300.0)],
        ),
        (
            "federation_incoming",
            "Incoming federation",
            "Posts and interactions from other servers arrive",
            vec![queue("ingress", 60.0, 900.0), newest_remote],
        ),
        (
            "federation_outgoing",
            "Outgoing federation",
            "Posts and interactions reach other servers",
            vec![queue("push", 300.0, 1800.0)],
        ),
        (
            "email",
            "E-mail",
            "Sign-up confirmations and password resets",
            vec![queue("mailers", 120.0, 900.0)],
        ),
    ];
    table
        .into_iter()
        .filter(|(_, _, _, signals)| !signals.is_empty())
        .map(|(id, name, description, signals)| ComponentConfig {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            signals,
            options: ComponentOptions::default(),
            origin: Origin::Preset,
        })
        .collect()
}

/// `wss://streaming.example.com/` → `https://streaming.example.com`; `ws://` → `http://`;
/// a bare host gets `https://`.
pub fn streaming_http_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if url.starts_with("https://") || url.starts_with("http://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mastodon(local: Option<&str>, web: Option<&str>, streaming: Option<&str>) -> MastodonConfig {
        MastodonConfig {
            local_domain: local.map(str::to_string),
            web_domain: web.map(str::to_string),
            streaming_base_url: streaming.map(str::to_string),
            ..MastodonConfig::default()
        }
    }

    fn urls(probes: &[ProbeTarget]) -> Vec<(String, String)> {
        probes
            .iter()
            .map(|p| (p.common.name.clone(), p.url.clone()))
            .collect()
    }

    fn check(config: MastodonConfig, existing: &[&str], expect: &[(&str, &str)]) {
        let existing: Vec<ProbeTarget> = existing
            .iter()
            .map(|name| {
                preset(
                    name,
                    "https://override.test/".to_string(),
                    ProbeOptions::default(),
                )
            })
            .collect();
        let got = urls(&preset_probes(&config, &existing));
        let expect: Vec<(String, String)> = expect
            .iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect();
        assert_eq!(got, expect);
    }

    const TIMELINE: &str = "/api/v1/timelines/public?local=true&limit=1";

    #[test]
    fn no_domain_no_probes() {
        check(MastodonConfig::default(), &[], &[]);
        check(mastodon(Some("  "), None, None), &[], &[]);
    }

    #[test]
    fn local_domain_only() {
        check(
            mastodon(Some("example.social"), None, None),
            &[],
            &[
                ("web", "https://example.social/health"),
                (
                    "streaming",
                    "https://example.social/api/v1/streaming/health",
                ),
                ("api", &format!("https://example.social{TIMELINE}")),
                ("media", "https://example.social"),
            ],
        );
        let probes = preset_probes(&mastodon(Some("example.social"), None, None), &[]);
        let media = &probes[3];
        assert_eq!(
            media.options.discover_url,
            Some(DiscoverUrl {
                from: "/api/v2/instance".to_string(),
                pointer: "/thumbnail/url".to_string(),
                every: Duration::from_secs(3600),
            })
        );
        assert_eq!(media.options.degraded_after, Some(Duration::from_secs(5)));
    }

    #[test]
    fn web_domain_wins_and_streaming_host_is_converted() {
        check(
            mastodon(
                Some("example.social"),
                Some("mastodon.example.social"),
                Some("wss://streaming.example.social/"),
            ),
            &[],
            &[
                ("web", "https://mastodon.example.social/health"),
                (
                    "streaming",
                    "https://streaming.example.social/api/v1/streaming/health",
                ),
                ("api", &format!("https://mastodon.example.social{TIMELINE}")),
                ("media", "https://mastodon.example.social"),
            ],
        );
    }

    #[test]
    fn overridden_and_disabled_presets_are_left_out() {
        let mut config = mastodon(Some("example.social"), None, None);
        config.disable_probes = vec!["streaming".to_string()];
        config.media_canary_url = Some("https://files.example.social/canary.png".to_string());
        check(
            config,
            &["web"],
            &[
                ("api", &format!("https://example.social{TIMELINE}")),
                ("media", "https://files.example.social/canary.png"),
            ],
        );
    }

    #[test]
    fn api_token_uses_verify_credentials_with_a_secret_header() {
        let mut config = mastodon(Some("example.social"), None, None);
        config.api_token = Some(Secret::new("tok-123456".to_string()));
        let probes = preset_probes(&config, &[]);
        let api = probes
            .iter()
            .find(|p| p.common.name == "api")
            .unwrap_or_else(|| panic!("no api probe"));
        assert_eq!(
            api.url,
            "https://example.social/api/v1/accounts/verify_credentials"
        );
        assert_eq!(api.options.headers.len(), 1);
        assert_eq!(api.options.headers[0].0, "Authorization");
        assert_eq!(api.options.headers[0].1.expose(), "Bearer tok-123456");
        assert_eq!(
            format!("{:?}", api.options.headers),
            r#"[("Authorization", ***)]"#
        );
        assert_eq!(api.options.expect_status, vec![200]);
        assert!(!api.options.cache_bust);
    }

    #[test]
    fn anonymous_api_probe_busts_caches_and_accepts_401() {
        let probes = preset_probes(&mastodon(Some("example.social"), None, None), &[]);
        let api = &probes[2];
        assert!(api.options.cache_bust);
        assert_eq!(api.options.expect_status, vec![200, 401]);
        assert_eq!(api.options.json_pointer.as_deref(), Some(""));
        let web = &probes[0];
        assert_eq!(web.options.body_contains.as_deref(), Some("OK"));
        assert_eq!(web.common.interval, PRESET_INTERVAL);
        assert_eq!(web.common.timeout, PRESET_TIMEOUT);
        assert_eq!(web.options.degraded_after, Some(PRESET_DEGRADED_AFTER));
    }

    #[test]
    fn streaming_base_table() {
        for (input, expect) in [
            ("wss://s.test", "https://s.test"),
            ("wss://s.test/", "https://s.test"),
            ("ws://s.test:4000", "http://s.test:4000"),
            ("https://s.test", "https://s.test"),
            ("s.test", "https://s.test"),
        ] {
            assert_eq!(streaming_http_base(input), expect, "{input}");
        }
    }

    fn summary(components: &[ComponentConfig]) -> Vec<(String, Vec<String>)> {
        components
            .iter()
            .map(|c| {
                let signals = c
                    .signals
                    .iter()
                    .map(|s| match s {
                        SignalConfig::Probe { probe } => format!("probe {probe}"),
                        SignalConfig::Threshold(t) => format!(
                            "{}{{{}}} {:?}/{:?}",
                            t.metric,
                            t.labels
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(","),
                            t.degraded_above,
                            t.major_outage_above
                        ),
                    })
                    .collect();
                (c.id.clone(), signals)
            })
            .collect()
    }

    #[test]
    fn preset_table() {
        let all = summary(&mastodon_components(&["web", "api", "streaming", "media"]));
        let expected: Vec<(&str, Vec<&str>)> = vec![
            ("website", vec!["probe web", "probe api"]),
            ("streaming", vec!["probe streaming"]),
            ("media", vec!["probe media"]),
            (
                "timelines",
                vec!["sidekiq_queue_latency_seconds{name=default} Some(30.0)/Some(300.0)"],
            ),
            (
                "federation_incoming",
                vec![
                    "sidekiq_queue_latency_seconds{name=ingress} Some(60.0)/Some(900.0)",
                    "mastodon_newest_status_age_seconds{origin=remote} Some(600.0)/Some(1800.0)",
                ],
            ),
            (
                "federation_outgoing",
                vec!["sidekiq_queue_latency_seconds{name=push} Some(300.0)/Some(1800.0)"],
            ),
            (
                "email",
                vec!["sidekiq_queue_latency_seconds{name=mailers} Some(120.0)/Some(900.0)"],
            ),
        ];
        let expected: Vec<(String, Vec<String>)> = expected
            .into_iter()
            .map(|(id, s)| (id.to_string(), s.into_iter().map(String::from).collect()))
            .collect();
        assert_eq!(all, expected);

        // without a media probe and with only the web probe
        let some = summary(&mastodon_components(&["web", "streaming"]));
        let ids: Vec<&str> = some.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "website",
                "streaming",
                "timelines",
                "federation_incoming",
                "federation_outgoing",
                "email"
            ]
        );
        assert_eq!(some[0].1, vec!["probe web".to_string()]);
    }
}
