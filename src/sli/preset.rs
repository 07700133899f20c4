//! The Mastodon preset components are defined with the config
//! ([`crate::config::preset::mastodon_components`]) and expanded during validation; this
//! module re-exports them and checks their thresholds against the SLI evaluation.

pub use crate::config::preset::mastodon_components;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SignalConfig;
    use crate::sli::ComponentStatus::{self, *};
    use crate::sli::eval::threshold_status;

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
