//! The catalogue of every metric family fedimeter exports: the `DESCRIPTORS` lists that
//! live beside each collector, the runner's `fedimeter_collector_*` and fedimeter's other
//! self-metrics, as one list.
//!
//! Metric names are public API. `tests/docs_tables.rs` checks this list against the tables
//! in `docs/*.md` (both directions) and `tests/golden.rs` checks what a live collection
//! produces against `tests/fixtures/golden/exposition.txt`.

use crate::collect::redis::{self, mastodon as mastodon_redis, sidekiq};
use crate::collect::{pgbouncer, postgres, probe, runner};
use crate::export::{otlp, self_metrics};
use crate::model::MetricDesc;
use crate::sli;

/// Family name prefixes whose names are made at run time from what the server reports,
/// so no static descriptor lists them: `pg_settings_<name>[_bytes|_seconds]`, one per
/// numeric PostgreSQL setting (`collect::postgres::settings`).
pub const DYNAMIC_PREFIXES: &[&str] = &["pg_settings_"];

/// The runner's per-target self-metrics, appended to every snapshot.
pub static RUNNER_DESCRIPTORS: &[&MetricDesc] = &[
    &runner::COLLECTOR_DURATION,
    &runner::COLLECTOR_SUCCESS,
    &runner::COLLECTOR_LAST_SUCCESS,
    &runner::COLLECTOR_RUNS,
    &runner::COLLECTOR_TIMEOUTS,
    &runner::COLLECTOR_PARTIAL_ERRORS,
];

/// fedimeter's process-level families: build info, OTLP push, components and SLIs.
pub static SELF_DESCRIPTORS: &[&MetricDesc] = &[
    &self_metrics::BUILD_INFO,
    &otlp::OTLP_EXPORTS,
    &otlp::OTLP_LAST_SUCCESS,
    &sli::COMPONENT_STATUS,
    &sli::SLI_RATIO,
    &sli::ERROR_BUDGET_REMAINING,
    &sli::BURN_RATE,
];

/// Every statically declared family, each once, grouped by collector in a fixed order.
pub fn descriptors() -> Vec<&'static MetricDesc> {
    [
        postgres::queries::DESCRIPTORS,
        postgres::statements::DESCRIPTORS,
        postgres::mastodon::DESCRIPTORS,
        pgbouncer::DESCRIPTORS,
        redis::DESCRIPTORS,
        sidekiq::DESCRIPTORS,
        sidekiq::jobs::DESCRIPTORS,
        mastodon_redis::DESCRIPTORS,
        probe::DESCRIPTORS,
        RUNNER_DESCRIPTORS,
        SELF_DESCRIPTORS,
        &crate::store::handle::DESCRIPTORS,
        crate::notify::metrics::DESCRIPTORS,
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect()
}

/// The descriptor named `name`, if fedimeter declares one.
pub fn descriptor(name: &str) -> Option<&'static MetricDesc> {
    descriptors().into_iter().find(|d| d.name == name)
}

/// Whether `name` is a family fedimeter may export: declared, or made at run time under
/// one of the [`DYNAMIC_PREFIXES`].
pub fn is_known_family(name: &str) -> bool {
    descriptor(name).is_some() || DYNAMIC_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_valid() {
        let mut seen = BTreeSet::new();
        for desc in descriptors() {
            assert!(seen.insert(desc.name), "{} declared twice", desc.name);
            let mut chars = desc.name.chars();
            let first = chars.next().unwrap_or('0');
            assert!(
                (first.is_ascii_alphabetic() || first == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{} is not a metric name",
                desc.name
            );
            assert!(!desc.help.is_empty(), "{} has no help", desc.name);
            let labels: BTreeSet<_> = desc.labels.iter().collect();
            assert_eq!(
                labels.len(),
                desc.labels.len(),
                "{}: repeated label",
                desc.name
            );
        }
    }

    #[test]
    fn every_up_gauge_and_no_dynamic_prefix_is_declared() {
        for kind in crate::model::Kind::ALL {
            if let Some(up) = kind.up_desc() {
                assert!(descriptors().iter().any(|d| std::ptr::eq(*d, up)), "{kind}");
            }
        }
        for desc in descriptors() {
            assert!(
                !DYNAMIC_PREFIXES.iter().any(|p| desc.name.starts_with(p)),
                "{} collides with a dynamic prefix",
                desc.name
            );
        }
        assert!(is_known_family("pg_settings_max_connections"));
        assert!(is_known_family("pg_up"));
        assert!(!is_known_family("pg_settings"));
        assert!(!is_known_family("pg_upp"));
    }
}
