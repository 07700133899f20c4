//! The components the SLI engine evaluates, in page order: exactly
//! [`Config::components`](crate::config::Config::components), which validation has already
//! checked and completed with the Mastodon preset (`config::preset`). Nothing is checked
//! again here.

use crate::config::{ComponentConfig, Config};

/// A component of the resolved config, in page order.
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

impl From<ComponentConfig> for Component {
    fn from(config: ComponentConfig) -> Self {
        Component { config }
    }
}

/// The components of the resolved `config`, in page order.
pub fn of_config(config: &Config) -> Vec<Component> {
    config
        .components
        .iter()
        .cloned()
        .map(Component::from)
        .collect()
}

/// Components from already validated configs (tests and benchmarks build them by hand).
pub fn from_configs(configs: Vec<ComponentConfig>) -> Vec<Component> {
    configs.into_iter().map(Component::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, load_str};

    fn ids(text: &str) -> Vec<(String, String, Origin)> {
        let env = std::collections::HashMap::<String, String>::new();
        let config = load_str(text, None, None, &env).unwrap_or_else(|e| panic!("{e}"));
        of_config(&config)
            .iter()
            .map(|c| (c.id().to_string(), c.name().to_string(), c.config.origin))
            .collect()
    }

    fn expect(rows: &[(&str, &str)], origin: Origin) -> Vec<(String, String, Origin)> {
        rows.iter()
            .map(|(id, name)| (id.to_string(), name.to_string(), origin))
            .collect()
    }

    /// docs/sli.md, "Mastodon preset": without `[[component]]` and with `[mastodon]` naming
    /// the instance, the table's components, `media` included: its probe uses
    /// `media_canary_url` or else the instance's thumbnail; `disable_probes` drops it.
    #[test]
    fn resolve_uses_the_preset_only_for_a_mastodon_domain() {
        assert_eq!(ids(""), vec![]);
        let four = [
            ("timelines", "Posting & home timelines"),
            ("federation_incoming", "Incoming federation"),
            ("federation_outgoing", "Outgoing federation"),
            ("email", "E-mail"),
        ];
        let mut all = vec![
            ("website", "Website & API"),
            ("streaming", "Streaming"),
            ("media", "Media"),
        ];
        all.extend(four);
        assert_eq!(
            ids("[mastodon]\ndomain = \"example.social\""),
            expect(&all, Origin::Preset)
        );
        assert_eq!(
            ids(
                "[mastodon]\ndomain = \"example.social\"\nmedia_canary_url = \"https://files.example.social/canary.png\""
            ),
            expect(&all, Origin::Preset)
        );
        let mut without_media = vec![("website", "Website & API"), ("streaming", "Streaming")];
        without_media.extend(four);
        assert_eq!(
            ids("[mastodon]\ndomain = \"example.social\"\ndisable_probes = [\"media\"]"),
            expect(&without_media, Origin::Preset)
        );
        // Written components replace the preset, and may name preset probes.
        assert_eq!(
            ids(
                "[mastodon]\ndomain = \"example.social\"\n[[component]]\nname = \"Web\"\nprobes = [\"web\"]"
            ),
            expect(&[("web", "Web")], Origin::Written)
        );
    }
}
