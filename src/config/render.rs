//! [`Config::render_resolved`]: the configuration after defaults, `${VAR}` interpolation and
//! the Mastodon env file, as TOML with every secret shown as `***`. `fedimeter check-config`
//! prints it.
//!
//! The output uses the config file's own keys, so it can be read as a config file (secrets
//! aside). Every target and component says where it came from (`# origin: written`,
//! `env file`, `preset`); the Mastodon preset's probes and components are listed as
//! comments (the `[mastodon]` section defines them again on reload). Durations are shown
//! in the largest unit that is exact (`400d`, `90s`, `1500ms`).

use std::fmt::Write;
use std::time::Duration;

use super::{
    ComponentConfig, Config, MaintenanceSchedule, Origin, OtlpProtocol, SignalConfig, TargetCommon,
};

impl Config {
    /// The resolved configuration as TOML-like text; passwords in URLs, webhook URLs and
    /// header values are `***`.
    pub fn render_resolved(&self) -> String {
        let mut out = String::new();
        let source = match &self.source {
            Some(path) => format!("resolved from {}", path.display()),
            None => "built-in defaults".to_string(),
        };
        line(&mut out, &format!("# fedimeter configuration, {source}"));
        line(&mut out, "# secrets are shown as ***");
        line(&mut out, &kv("listen", &quote(&self.listen.to_string())));
        match self.metrics_listen {
            Some(addr) => line(&mut out, &kv("metrics_listen", &quote(&addr.to_string()))),
            None => line(
                &mut out,
                "# metrics_listen: not set, /metrics is served on listen",
            ),
        }

        section(&mut out, "[site]");
        line(&mut out, &kv("title", &quote(&self.site.title)));
        line(&mut out, &kv("location", &quote(&self.site.location)));
        match &self.site.public_url {
            Some(u) => line(&mut out, &kv("public_url", &quote(u))),
            None => line(
                &mut out,
                "# public_url: not set, alert messages link no status page",
            ),
        }
        for (key, value) in [("logo", &self.site.logo), ("about", &self.site.about)] {
            if let Some(v) = value {
                line(&mut out, &kv(key, &quote(v)));
            }
        }

        section(&mut out, "[store]");
        line(&mut out, &kv("url", &quote(self.store.url.redacted())));

        let m = &self.mastodon;
        section(&mut out, "[mastodon]");
        let optional = [
            (
                "env_file",
                m.env_file.as_ref().map(|p| p.display().to_string()),
            ),
            ("domain", m.local_domain.clone()),
            ("web_domain", m.web_domain.clone()),
            ("streaming_base_url", m.streaming_base_url.clone()),
            ("api_token", m.api_token.as_ref().map(|_| "***".to_string())),
            ("media_canary_url", m.media_canary_url.clone()),
        ];
        for (key, value) in optional {
            match value {
                Some(v) => line(&mut out, &kv(key, &quote(&v))),
                None => line(&mut out, &format!("# {key}: not set")),
            }
        }

        if !m.disable_probes.is_empty() {
            let names: Vec<String> = m.disable_probes.iter().map(|n| quote(n)).collect();
            line(
                &mut out,
                &kv("disable_probes", &format!("[{}]", names.join(", "))),
            );
        }

        let defaults = super::MastodonConfig::default();
        if m.probe_interval != defaults.probe_interval || m.probe_timeout != defaults.probe_timeout
        {
            line(
                &mut out,
                &kv("probe_interval", &quote(&duration(m.probe_interval))),
            );
            line(
                &mut out,
                &kv("probe_timeout", &quote(&duration(m.probe_timeout))),
            );
        }
        if let Some(addr) = m.connect_to {
            line(&mut out, &kv("connect_to", &quote(&addr.to_string())));
        }
        if let Some(path) = &m.ca_file {
            line(
                &mut out,
                &kv("ca_file", &quote(&path.display().to_string())),
            );
        }

        for t in &self.postgres {
            target_header(&mut out, "postgres", t.common.origin);
            common(&mut out, &t.common, t.url.redacted());
            let o = &t.options;
            for (key, value) in [
                ("statement_timeout", o.statement_timeout),
                ("lock_timeout", o.lock_timeout),
                ("size_interval", o.size_interval),
                ("settings_interval", o.settings_interval),
            ] {
                line(&mut out, &kv(key, &quote(&duration(value))));
            }
            line(&mut out, &kv("table_limit", &o.table_limit.to_string()));
            line(&mut out, &kv("mastodon_gauges", &o.mastodon.to_string()));
            for (key, value) in [
                ("mastodon_fast_interval", o.mastodon_fast_interval),
                ("mastodon_interval", o.mastodon_interval),
                ("mastodon_slow_interval", o.mastodon_slow_interval),
            ] {
                line(&mut out, &kv(key, &quote(&duration(value))));
            }
            line(
                &mut out,
                &kv("stat_statements", &o.stat_statements.to_string()),
            );
            line(
                &mut out,
                &kv(
                    "stat_statements_limit",
                    &o.stat_statements_limit.to_string(),
                ),
            );
            line(
                &mut out,
                &kv(
                    "stat_statements_interval",
                    &quote(&duration(o.stat_statements_interval)),
                ),
            );
            line(
                &mut out,
                &kv("statio_user_indexes", &o.statio_user_indexes.to_string()),
            );
        }
        for t in &self.pgbouncer {
            target_header(&mut out, "pgbouncer", t.common.origin);
            common(&mut out, &t.common, t.url.redacted());
            let o = &t.options;
            line(
                &mut out,
                &kv("client_connections", &o.client_connections.to_string()),
            );
            line(
                &mut out,
                &kv(
                    "client_connections_max_application_names",
                    &o.client_connections_max_application_names.to_string(),
                ),
            );
            line(&mut out, &kv("max_pools", &o.max_pools.to_string()));
            line(&mut out, &kv("legacy_names", &o.legacy_names.to_string()));
        }
        for t in &self.redis {
            target_header(&mut out, "redis", t.common.origin);
            common(&mut out, &t.common, t.url.redacted());
            line(&mut out, &kv("sidekiq", &t.sidekiq.to_string()));
            if let Some(ns) = &t.namespace {
                line(&mut out, &kv("namespace", &quote(ns)));
            }
            redis_options(&mut out, &t.options);
        }
        let (presets, probes): (Vec<_>, Vec<_>) = self
            .probes
            .iter()
            .partition(|t| t.common.origin == Origin::Preset);
        for t in probes {
            target_header(&mut out, "probe", t.common.origin);
            common(&mut out, &t.common, &t.url);
            probe_options(&mut out, &t.options);
        }
        if !presets.is_empty() {
            out.push('\n');
            line(
                &mut out,
                "# origin: preset. Preset probes from [mastodon] (a [[probe]] of the same name replaces one;",
            );
            line(&mut out, "# disable_probes removes them):");
            for t in &presets {
                line(
                    &mut out,
                    &format!(
                        "#   {} {}{} every {} (timeout {})",
                        t.common.name,
                        t.url,
                        t.options
                            .discover_url
                            .as_ref()
                            .map(|d| format!(
                                " (fetches {} of {}, found again every {})",
                                d.pointer,
                                d.from,
                                duration(d.every)
                            ))
                            .unwrap_or_default(),
                        duration(t.common.interval),
                        duration(t.common.timeout)
                    ),
                );
            }
        }
        for d in &self.discord {
            section(&mut out, "[[discord]]");
            line(&mut out, &kv("name", &quote(&d.name)));
            line(
                &mut out,
                &kv("webhook_url", &quote(d.webhook_url.redacted())),
            );
            line(&mut out, &kv("channel", &quote(&d.channel)));
            line(
                &mut out,
                &kv("min_severity", &quote(d.min_severity.as_str())),
            );
            if !d.components.is_empty() {
                let list: Vec<String> = d.components.iter().map(|c| quote(c)).collect();
                line(
                    &mut out,
                    &kv("components", &format!("[{}]", list.join(", "))),
                );
            }
            if let Some(role) = &d.mention_role {
                line(&mut out, &kv("mention_role", &quote(role)));
            }
            line(
                &mut out,
                &kv(
                    "resolved_notice",
                    if d.resolved_notice { "true" } else { "false" },
                ),
            );
        }
        if let Some(o) = &self.otlp {
            section(&mut out, "[otlp]");
            line(&mut out, &kv("endpoint", &quote(&o.endpoint)));
            let protocol = match o.protocol {
                OtlpProtocol::Grpc => "grpc",
                OtlpProtocol::HttpProtobuf => "http/protobuf",
            };
            line(&mut out, &kv("protocol", &quote(protocol)));
            line(&mut out, &kv("interval", &quote(&duration(o.interval))));
            let headers: Vec<String> = o
                .headers
                .iter()
                .map(|(name, _)| format!("{} = \"***\"", quote(name)))
                .collect();
            line(
                &mut out,
                &kv("headers", &format!("{{ {} }}", headers.join(", "))),
            );
        }
        sli_sections(&mut out, self);
        out
    }
}

/// `[sli]`, `[[component]]` (with `[[component.threshold]]`) and `[[maintenance]]`.
fn sli_sections(out: &mut String, config: &Config) {
    let s = &config.sli;
    section(out, "[sli]");
    for (key, value) in [
        ("evaluate_every", s.evaluate_every),
        ("flush_every", s.flush_every),
        ("recompute_every", s.recompute_every),
        ("raw_retention", s.raw_retention),
        ("bucket_retention", s.bucket_retention),
        ("history_retention", s.history_retention),
    ] {
        line(out, &kv(key, &quote(&duration(value))));
    }
    let (presets, written): (Vec<_>, Vec<_>) = config
        .components
        .iter()
        .partition(|c| c.origin == Origin::Preset);
    if config.components.is_empty() {
        line(
            out,
            "# no [[component]]: the Mastodon preset applies when a domain is known",
        );
    }
    if !presets.is_empty() {
        out.push('\n');
        line(
            out,
            "# origin: preset. Preset components from [mastodon] (any [[component]] replaces them all):",
        );
        for c in presets {
            line(
                out,
                &format!("#   {} {}: {}", c.id, quote(&c.name), signals_summary(c)),
            );
        }
    }
    for c in written {
        out.push('\n');
        line(out, &format!("# origin: {}", c.origin.as_str()));
        line(out, "[[component]]");
        line(out, &kv("name", &quote(&c.name)));
        line(out, &kv("id", &quote(&c.id)));
        if !c.description.is_empty() {
            line(out, &kv("description", &quote(&c.description)));
        }
        let probes: Vec<String> = c
            .signals
            .iter()
            .filter_map(|signal| match signal {
                SignalConfig::Probe { probe } => Some(quote(probe)),
                SignalConfig::Threshold(_) => None,
            })
            .collect();
        if !probes.is_empty() {
            line(out, &kv("probes", &format!("[{}]", probes.join(", "))));
        }
        line(out, &kv("objective", &c.options.objective.to_string()));
        line(
            out,
            &kv("failures_to_down", &c.options.failures_to_down.to_string()),
        );
        line(
            out,
            &kv("successes_to_up", &c.options.successes_to_up.to_string()),
        );
        line(
            out,
            &kv("stale_after", &quote(&duration(c.options.stale_after))),
        );
        for signal in &c.signals {
            let SignalConfig::Threshold(t) = signal else {
                continue;
            };
            section(out, "[[component.threshold]]");
            line(out, &kv("metric", &quote(&t.metric)));
            if !t.labels.is_empty() {
                let labels: Vec<String> = t
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
                    .collect();
                line(out, &kv("labels", &format!("{{ {} }}", labels.join(", "))));
            }
            if let Some(kind) = t.target_kind {
                line(out, &kv("target_kind", &quote(kind.name())));
            }
            if let Some(name) = &t.target_name {
                line(out, &kv("target", &quote(name)));
            }
            for (key, value) in [
                ("degraded_above", t.degraded_above),
                ("partial_outage_above", t.partial_outage_above),
                ("major_outage_above", t.major_outage_above),
            ] {
                if let Some(v) = value {
                    line(out, &kv(key, &v.to_string()));
                }
            }
        }
    }
    for m in &config.maintenance {
        section(out, "[[maintenance]]");
        line(out, &kv("title", &quote(&m.title)));
        if !m.components.is_empty() {
            let ids: Vec<String> = m.components.iter().map(|c| quote(c)).collect();
            line(out, &kv("components", &format!("[{}]", ids.join(", "))));
        }
        match &m.schedule {
            MaintenanceSchedule::Once { start, end } => {
                let start = humantime::format_rfc3339_seconds(*start).to_string();
                let end = humantime::format_rfc3339_seconds(*end).to_string();
                line(out, &kv("start", &quote(&start)));
                line(out, &kv("end", &quote(&end)));
            }
            MaintenanceSchedule::Recurring {
                weekdays,
                start_minute_of_day,
                duration: length,
            } => {
                const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                if !weekdays.is_empty() {
                    let days: Vec<String> = weekdays
                        .iter()
                        .filter_map(|d| DAYS.get(usize::from(*d)).map(|d| quote(d)))
                        .collect();
                    line(out, &kv("weekdays", &format!("[{}]", days.join(", "))));
                }
                let at = format!(
                    "{:02}:{:02}",
                    start_minute_of_day / 60,
                    start_minute_of_day % 60
                );
                line(out, &kv("at", &quote(&at)));
                line(out, &kv("duration", &quote(&duration(*length))));
            }
        }
    }
}

/// The `[[redis]]` tuning keys that differ from their defaults.
fn redis_options(out: &mut String, o: &super::RedisOptions) {
    let d = super::RedisOptions::default();
    if o.sidekiq_queue_limit != d.sidekiq_queue_limit {
        line(
            out,
            &kv("sidekiq_queue_limit", &o.sidekiq_queue_limit.to_string()),
        );
    }
    if o.mastodon_queues != d.mastodon_queues {
        let queues: Vec<String> = o.mastodon_queues.iter().map(|q| quote(q)).collect();
        line(
            out,
            &kv("mastodon_queues", &format!("[{}]", queues.join(", "))),
        );
    }
    if let Some(on) = o.mastodon_gauges {
        line(out, &kv("mastodon_gauges", &on.to_string()));
    }
    if o.mastodon_gauges_interval != d.mastodon_gauges_interval {
        let shown = duration(o.mastodon_gauges_interval);
        line(out, &kv("mastodon_gauges_interval", &quote(&shown)));
    }
    if o.delivery_scan_count != d.delivery_scan_count {
        line(
            out,
            &kv("delivery_scan_count", &o.delivery_scan_count.to_string()),
        );
    }
    if o.delivery_scan_steps_per_run != d.delivery_scan_steps_per_run {
        let steps = o.delivery_scan_steps_per_run.to_string();
        line(out, &kv("delivery_scan_steps_per_run", &steps));
    }
    if o.sidekiq_heartbeat_series {
        line(out, &kv("sidekiq_heartbeat_series", "true"));
    }
    if o.sidekiq_yabeda_aliases {
        line(out, &kv("sidekiq_yabeda_aliases", "true"));
    }
    if o.sidekiq_job_metrics {
        line(out, &kv("sidekiq_job_metrics", "true"));
    }
    if let Some(path) = &o.tls_ca_file {
        line(out, &kv("tls_ca_file", &quote(&path.display().to_string())));
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn section(out: &mut String, header: &str) {
    out.push('\n');
    line(out, header);
}

fn target_header(out: &mut String, kind: &str, origin: Origin) {
    out.push('\n');
    match origin {
        Origin::EnvFile => line(
            out,
            "# origin: env file. Derived from the Mastodon env file (keys set in the config win)",
        ),
        other => line(out, &format!("# origin: {}", other.as_str())),
    }
    line(out, &format!("[[{kind}]]"));
}

/// `probes web, api` or `sidekiq_queue_latency_seconds{name="default"} above 30 / 300`:
/// one line for a preset component.
fn signals_summary(c: &ComponentConfig) -> String {
    let mut parts = Vec::new();
    let probes: Vec<&str> = c
        .signals
        .iter()
        .filter_map(|s| match s {
            SignalConfig::Probe { probe } => Some(probe.as_str()),
            SignalConfig::Threshold(_) => None,
        })
        .collect();
    if !probes.is_empty() {
        parts.push(format!("probes {}", probes.join(", ")));
    }
    for s in &c.signals {
        let SignalConfig::Threshold(t) = s else {
            continue;
        };
        let labels: Vec<String> = t
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let limits: Vec<String> = [
            ("degraded", t.degraded_above),
            ("partial outage", t.partial_outage_above),
            ("major outage", t.major_outage_above),
        ]
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name} above {v}")))
        .collect();
        parts.push(format!(
            "{}{{{}}} {}",
            t.metric,
            labels.join(","),
            limits.join(", ")
        ));
    }
    parts.join("; ")
}

fn common(out: &mut String, common: &TargetCommon, url: &str) {
    line(out, &kv("name", &quote(&common.name)));
    line(out, &kv("url", &quote(url)));
    line(out, &kv("interval", &quote(&duration(common.interval))));
    line(out, &kv("timeout", &quote(&duration(common.timeout))));
}

/// The options of a probe that differ from their defaults.
fn probe_options(out: &mut String, o: &super::ProbeOptions) {
    let d = super::ProbeOptions::default();
    if let Some(v) = o.degraded_after {
        line(out, &kv("degraded_after", &quote(&duration(v))));
    }
    if o.method != d.method {
        line(out, &kv("method", &quote(o.method.as_str())));
    }
    if !o.expect_status.is_empty() {
        let codes: Vec<String> = o.expect_status.iter().map(u16::to_string).collect();
        line(
            out,
            &kv("expect_status", &format!("[{}]", codes.join(", "))),
        );
    }
    let texts = [
        ("body_contains", o.body_contains.as_deref()),
        ("body_regex", o.body_regex.as_ref().map(|r| r.as_str())),
        ("json_pointer", o.json_pointer.as_deref()),
        ("json_equals", o.json_equals.as_deref()),
        ("body", o.body.as_deref()),
    ];
    for (key, value) in texts {
        if let Some(v) = value {
            line(out, &kv(key, &quote(v)));
        }
    }
    if !o.headers.is_empty() {
        let headers: Vec<String> = o
            .headers
            .iter()
            .map(|(name, _)| format!("{} = \"***\"", quote(name)))
            .collect();
        line(
            out,
            &kv("headers", &format!("{{ {} }}", headers.join(", "))),
        );
    }
    if o.follow_redirects != d.follow_redirects {
        line(
            out,
            &kv("follow_redirects", &o.follow_redirects.to_string()),
        );
    }
    if o.max_redirects != d.max_redirects {
        line(out, &kv("max_redirects", &o.max_redirects.to_string()));
    }
    if let Some(path) = &o.ca_file {
        line(out, &kv("ca_file", &quote(&path.display().to_string())));
    }
    if o.insecure_skip_verify {
        line(out, &kv("insecure_skip_verify", "true"));
    }
    if o.max_body_bytes != d.max_body_bytes {
        line(out, &kv("max_body_bytes", &o.max_body_bytes.to_string()));
    }
    if o.cache_bust {
        line(out, &kv("cache_bust", "true"));
    }
    if let Some(discover) = &o.discover_url {
        line(
            out,
            &kv(
                "discover_url",
                &format!(
                    "{{ from = {}, pointer = {}, every = {} }}",
                    quote(&discover.from),
                    quote(&discover.pointer),
                    quote(&duration(discover.every))
                ),
            ),
        );
    }
}

fn kv(key: &str, value: &str) -> String {
    format!("{key} = {value}")
}

/// A duration in the largest unit that is exact, as one would write it in the config
/// (`400d`, `1h`, `90s`, `1500ms`); `0s` for zero. humantime reads it back unchanged.
pub fn duration(d: Duration) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    if d.subsec_nanos() != 0 {
        return match d.subsec_nanos() % 1_000_000 {
            0 => format!("{}ms", d.as_millis()),
            _ => format!("{}ns", d.as_nanos()),
        };
    }
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let (size, unit) = UNITS
        .iter()
        .copied()
        .find(|(size, _)| secs % size == 0)
        .unwrap_or((1, "s"));
    format!("{}{unit}", secs / size)
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_largest_exact_unit() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        for (d, want) in [
            (s(400 * 86_400), "400d"),
            (s(14 * 86_400), "14d"),
            (s(3600), "1h"),
            (s(90 * 60), "90m"),
            (s(90), "90s"),
            (s(15), "15s"),
            (s(0), "0s"),
            (ms(1500), "1500ms"),
            (ms(250), "250ms"),
            (Duration::from_nanos(1_000_001), "1000001ns"),
        ] {
            assert_eq!(duration(d), want);
            assert_eq!(humantime::parse_duration(want).ok(), Some(d), "{want}");
        }
    }

    #[test]
    fn quoting_is_toml() {
        let cases = [
            ("plain", "\"plain\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("tab\tnl\n", "\"tab\\tnl\\n\""),
            ("bell\u{7}", "\"bell\\u0007\""),
            ("é", "\"é\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want);
            let parsed: toml::Table = toml::from_str(&format!("k = {want}")).unwrap();
            assert_eq!(parsed["k"].as_str(), Some(input));
        }
    }

    #[test]
    fn components_and_maintenance_render_as_loadable_toml() {
        let text = r#"
[[probe]]
name = "web"
url = "https://example.social/health"
[[component]]
name = "Website & API"
description = "The site \"and\" the apps"
probes = ["web"]
[[component.threshold]]
metric = "sidekiq_queue_latency_seconds"
labels = { name = "ingress" }
target_kind = "redis"
degraded_above = 60
major_outage_above = 900
[[maintenance]]
title = "Upgrade"
start = "2026-11-29T02:00:00Z"
end = "2026-11-29T03:00:00Z"
[[maintenance]]
title = "Backup"
weekdays = ["sun"]
at = "03:30"
duration = "30m"
"#;
        let env = std::collections::HashMap::<String, String>::new();
        let config = super::super::load_str(text, None, None, &env).expect("valid");
        let rendered = config.render_resolved();
        for want in [
            "[[component]]\nname = \"Website & API\"\nid = \"website_api\"",
            "probes = [\"web\"]",
            "labels = { \"name\" = \"ingress\" }",
            "target_kind = \"redis\"",
            "major_outage_above = 900",
            "start = \"2026-11-29T02:00:00Z\"",
            "weekdays = [\"sun\"]\nat = \"03:30\"\nduration = \"30m\"",
        ] {
            assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
        }
        let again =
            super::super::load_str(&rendered, None, None, &env).expect("rendered config loads");
        assert_eq!(again.components, config.components);
        assert_eq!(again.maintenance, config.maintenance);
    }

    #[test]
    fn defaults_render_as_loadable_toml() {
        let text = Config::default().render_resolved();
        assert!(text.contains("listen = \"127.0.0.1:9480\"\n"), "{text}");
        assert!(text.contains("url = \"sqlite://fedimeter.db\"\n"), "{text}");
        let parsed = super::super::raw::from_toml(&text);
        assert!(parsed.errors.is_empty(), "{:?}\n{text}", parsed.errors);
    }
}
