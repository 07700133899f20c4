//! [`Config::render_resolved`]: the configuration after defaults, `${VAR}` interpolation and
//! the Mastodon env file, as TOML with every secret shown as `***`. `fedimeter check-config`
//! prints it.
//!
//! The output uses the config file's own keys, so it can be read as a config file (secrets
//! aside); targets that came from the Mastodon env file are marked with a comment.

use std::fmt::Write;
use std::time::Duration;

use super::{Config, OtlpProtocol, TargetCommon};

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
        ];
        for (key, value) in optional {
            match value {
                Some(v) => line(&mut out, &kv(key, &quote(&v))),
                None => line(&mut out, &format!("# {key}: not set")),
            }
        }

        let derived = |kind: &str, name: &str| {
            m.derived_targets
                .iter()
                .any(|(k, n)| *k == kind && n == name)
        };
        for t in &self.postgres {
            target_header(&mut out, "postgres", derived("postgres", &t.common.name));
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
        }
        for t in &self.pgbouncer {
            target_header(&mut out, "pgbouncer", false);
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
        }
        for t in &self.redis {
            target_header(&mut out, "redis", derived("redis", &t.common.name));
            common(&mut out, &t.common, t.url.redacted());
            line(&mut out, &kv("sidekiq", &t.sidekiq.to_string()));
            if let Some(ns) = &t.namespace {
                line(&mut out, &kv("namespace", &quote(ns)));
            }
            redis_options(&mut out, &t.options);
        }
        for t in &self.probes {
            target_header(&mut out, "probe", false);
            common(&mut out, &t.common, &t.url);
        }
        for d in &self.discord {
            section(&mut out, "[[discord]]");
            line(&mut out, &kv("name", &quote(&d.name)));
            line(
                &mut out,
                &kv("webhook_url", &quote(d.webhook_url.redacted())),
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
        out
    }
}

/// The `[[redis]]` tuning keys that differ from their defaults.
fn redis_options(out: &mut String, o: &crate::collect::redis::RedisOptions) {
    let d = crate::collect::redis::RedisOptions::default();
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
        let shown = humantime::format_duration(o.mastodon_gauges_interval).to_string();
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

fn target_header(out: &mut String, kind: &str, derived: bool) {
    out.push('\n');
    if derived {
        line(
            out,
            "# from the Mastodon env file (keys set in the config win)",
        );
    }
    line(out, &format!("[[{kind}]]"));
}

fn common(out: &mut String, common: &TargetCommon, url: &str) {
    line(out, &kv("name", &quote(&common.name)));
    line(out, &kv("url", &quote(url)));
    line(out, &kv("interval", &quote(&duration(common.interval))));
    line(out, &kv("timeout", &quote(&duration(common.timeout))));
}

fn kv(key: &str, value: &str) -> String {
    format!("{key} = {value}")
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
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
    fn defaults_render_as_loadable_toml() {
        let text = Config::default().render_resolved();
        assert!(text.contains("listen = \"127.0.0.1:9480\"\n"), "{text}");
        assert!(text.contains("url = \"sqlite://fedimeter.db\"\n"), "{text}");
        let parsed = super::super::raw::from_toml(&text);
        assert!(parsed.errors.is_empty(), "{:?}\n{text}", parsed.errors);
    }
}
