//! Collectors and the machinery around them.
//!
//! A [`Collector`] only produces samples into a [`Sink`]; the [`runner`] owns time
//! (interval, jitter, timeout, single-flight, panic isolation, self-metrics) and publishes
//! the result as an immutable snapshot. [`registry::build`] is the only place that maps
//! config sections to collectors.

pub mod pgbouncer;
pub mod postgres;
pub mod probe;
pub mod redis;
pub mod registry;
pub mod runner;

use std::collections::HashMap;

use async_trait::async_trait;

use crate::model::{Family, MetricDesc, Sample};

/// One monitored system's collector. It keeps whatever state it needs between runs (a
/// connection, slow-cadence caches) and is never run twice at once.
///
/// Return `Err` when the target cannot be collected at all (cannot connect, auth failed):
/// the runner then sets `<system>_up 0`. Failures of single queries are partial failures:
/// record them with [`Sink::partial_error`] and keep going.
#[async_trait]
pub trait Collector: Send + 'static {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()>;
}

/// Where a collector puts its samples during one run.
#[derive(Debug, Default)]
pub struct Sink {
    families: Vec<Family>,
    index: HashMap<&'static str, usize>,
    partial_errors: Vec<String>,
}

impl Sink {
    pub fn new() -> Self {
        Sink::default()
    }

    /// Records one sample of `desc` with label values in the order of `desc.labels`.
    pub fn sample<L, S>(&mut self, desc: &'static MetricDesc, labels: L, value: f64)
    where
        L: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let labels: Box<[Box<str>]> = labels.into_iter().map(Into::into).collect();
        debug_assert_eq!(
            labels.len(),
            desc.labels.len(),
            "label values of {} do not match its label names",
            desc.name
        );
        let i = match self.index.get(desc.name) {
            Some(&i) => i,
            None => {
                self.families.push(Family::new(desc));
                self.index.insert(desc.name, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        self.families[i].samples.push(Sample { labels, value });
    }

    /// Records an unlabelled sample.
    pub fn value(&mut self, desc: &'static MetricDesc, value: f64) {
        self.sample(desc, std::iter::empty::<&str>(), value);
    }

    /// Declares a family without samples yet (so it appears even when empty is meaningful).
    pub fn declare(&mut self, desc: &'static MetricDesc) {
        if !self.index.contains_key(desc.name) {
            self.families.push(Family::new(desc));
            self.index.insert(desc.name, self.families.len() - 1);
        }
    }

    /// Counts a part of the run that failed (one query, one section) while the rest goes on.
    /// `what` names the part; the error is logged, never exported.
    pub fn partial_error(&mut self, what: &str, error: &anyhow::Error) {
        self.partial_errors.push(format!("{what}: {error:#}"));
    }

    pub fn partial_errors(&self) -> &[String] {
        &self.partial_errors
    }

    /// The families collected so far.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    pub fn into_parts(self) -> (Vec<Family>, Vec<String>) {
        (self.families, self.partial_errors)
    }
}
