//! The Mastodon preset components, with the thresholds of `mastodon-facts.md` §9.
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

use crate::config::{ComponentConfig, SignalConfig, ThresholdSignal};
use crate::model::Kind;

use super::ComponentOptions;

/// The preset components for the configured probe names, in page order.
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
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli::ComponentStatus::{self, *};
    use crate::sli::eval::threshold_status;

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

    #[test]
    fn preset_thresholds_follow_mastodon_facts() {
        let components = mastodon_components(&[]);
        let status = |id: &str, signal: usize, value: f64| -> ComponentStatus {
            let c = components
                .iter()
                .find(|c| c.id == id)
                .expect("preset component");
            match &c.signals[signal] {
                SignalConfig::Threshold(t) => threshold_status(t, value),
                SignalConfig::Probe { .. } => unreachable!("threshold expected"),
            }
        };
        let table: &[(&str, usize, f64, ComponentStatus)] = &[
            ("timelines", 0, 12.5, Operational),
            ("timelines", 0, 31.0, DegradedPerformance),
            ("timelines", 0, 301.0, MajorOutage),
            ("federation_incoming", 0, 59.0, Operational),
            ("federation_incoming", 0, 61.0, DegradedPerformance),
            ("federation_incoming", 0, 901.0, MajorOutage),
            ("federation_incoming", 1, 601.0, DegradedPerformance),
            ("federation_incoming", 1, 1801.0, MajorOutage),
            ("federation_outgoing", 0, 299.0, Operational),
            ("federation_outgoing", 0, 1801.0, MajorOutage),
            ("email", 0, 121.0, DegradedPerformance),
            ("email", 0, 901.0, MajorOutage),
        ];
        for &(id, signal, value, expected) in table {
            assert_eq!(
                status(id, signal, value),
                expected,
                "{id} signal {signal} at {value}"
            );
        }
    }
}
