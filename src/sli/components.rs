//! The component list: from `[[component]]`, or the Mastodon preset when none is
//! configured and `[mastodon]` names the instance; checked against the configured probes.

use std::collections::HashSet;

use crate::config::{ComponentConfig, Config, SignalConfig};

/// A checked component, in page order.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub config: ComponentConfig,
}

impl Component {
    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// A slug for ids: lowercase ASCII letters and digits, other runs become `_`.
///
/// ```
/// use fedimeter::sli::components::slug;
///
/// assert_eq!(slug("Website & API"), "website_api");
/// assert_eq!(slug("  Media (S3)  "), "media_s3");
/// assert_eq!(slug("Posting & home timelines"), "posting_home_timelines");
/// assert_eq!(slug("¡Ñ!"), "");
/// ```
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The components of `config`: its `[[component]]`s, else the Mastodon preset when the
/// instance's domain is known, else none. Errors name every problem found.
pub fn resolve(config: &Config) -> Result<Vec<Component>, Vec<String>> {
    let probe_names: Vec<&str> = config
        .probes
        .iter()
        .map(|p| p.common.name.as_str())
        .collect();
    let configs = if !config.components.is_empty() {
        config.components.clone()
    } else if config.mastodon.local_domain.is_some() || config.mastodon.web_domain.is_some() {
        super::preset::mastodon_components(&probe_names)
    } else {
        Vec::new()
    };
    check(configs, &probe_names)
}

/// Checks ids, signals, thresholds and options; returns the components in order.
pub fn check(
    configs: Vec<ComponentConfig>,
    probe_names: &[&str],
) -> Result<Vec<Component>, Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for c in &configs {
        let at = format!("component {:?}", c.id);
        if c.id.is_empty()
            || !c
                .id
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
        {
            errors.push(format!(
                "{at}: id must be lowercase letters, digits, '-' or '_'"
            ));
        }
        if !seen.insert(c.id.as_str()) {
            errors.push(format!("{at}: duplicate component id"));
        }
        if c.signals.is_empty() {
            errors.push(format!(
                "{at}: needs at least one probe or threshold signal"
            ));
        }
        let o = &c.options;
        if !(o.objective > 0.0 && o.objective < 1.0) {
            errors.push(format!(
                "{at}: objective must be between 0 and 1 (exclusive), e.g. 0.995"
            ));
        }
        if o.failures_to_down == 0 || o.successes_to_up == 0 {
            errors.push(format!(
                "{at}: failures_to_down and successes_to_up must be at least 1"
            ));
        }
        for s in &c.signals {
            match s {
                SignalConfig::Probe { probe } => {
                    if !probe_names.contains(&probe.as_str()) {
                        errors.push(format!("{at}: unknown probe {probe:?}"));
                    }
                }
                SignalConfig::Threshold(t) => {
                    let limits = [
                        t.degraded_above,
                        t.partial_outage_above,
                        t.major_outage_above,
                    ];
                    if limits.iter().all(Option::is_none) {
                        errors.push(format!("{at}: threshold on {} sets no limit", t.metric));
                    }
                    let set: Vec<f64> = limits.iter().flatten().copied().collect();
                    if set.windows(2).any(|w| w[0] >= w[1]) || set.iter().any(|v| !v.is_finite()) {
                        errors.push(format!(
                            "{at}: threshold on {}: degraded_above < partial_outage_above < major_outage_above",
                            t.metric
                        ));
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(configs
            .into_iter()
            .map(|config| Component { config })
            .collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ThresholdSignal;
    use crate::sli::ComponentOptions;

    fn component(id: &str, signals: Vec<SignalConfig>) -> ComponentConfig {
        ComponentConfig {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            signals,
            options: ComponentOptions::default(),
        }
    }

    #[test]
    fn slug_table() {
        for (name, expected) in [
            ("Website & API", "website_api"),
            ("  E-mail ", "e_mail"),
            ("Posting & home timelines", "posting_home_timelines"),
            ("Ünïcode!", "n_code"),
        ] {
            assert_eq!(slug(name), expected, "{name}");
        }
    }

    #[test]
    fn check_reports_every_problem() {
        let probe = |p: &str| SignalConfig::Probe { probe: p.into() };
        let bad_threshold = SignalConfig::Threshold(ThresholdSignal {
            metric: "sidekiq_queue_latency_seconds".into(),
            labels: vec![],
            target_kind: None,
            target_name: None,
            degraded_above: Some(900.0),
            partial_outage_above: None,
            major_outage_above: Some(60.0),
        });
        let mut objective = component("budget", vec![probe("web")]);
        objective.options.objective = 1.0;
        let configs = vec![
            component("web", vec![probe("web"), probe("nope")]),
            component("web", vec![probe("web")]),
            component("Bad Id", vec![bad_threshold]),
            component("empty", vec![]),
            objective,
        ];
        let errors = check(configs, &["web"]).expect_err("invalid");
        assert_eq!(
            errors,
            vec![
                "component \"web\": unknown probe \"nope\"",
                "component \"web\": duplicate component id",
                "component \"Bad Id\": id must be lowercase letters, digits, '-' or '_'",
                "component \"Bad Id\": threshold on sidekiq_queue_latency_seconds: degraded_above < partial_outage_above < major_outage_above",
                "component \"empty\": needs at least one probe or threshold signal",
                "component \"budget\": objective must be between 0 and 1 (exclusive), e.g. 0.995",
            ]
        );
    }

    #[test]
    fn resolve_uses_the_preset_only_for_a_mastodon_domain() {
        let mut config = Config::default();
        assert_eq!(resolve(&config), Ok(vec![]));
        config.mastodon.local_domain = Some("example.social".into());
        let ids: Vec<String> = resolve(&config)
            .expect("valid")
            .iter()
            .map(|c| c.id().to_string())
            .collect();
        assert_eq!(
            ids,
            vec![
                "timelines",
                "federation_incoming",
                "federation_outgoing",
                "email"
            ]
        );
    }
}
