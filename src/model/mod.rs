//! Plain data shared by collectors and readers; no I/O here.
//!
//! A collector run produces one immutable [`Snapshot`]: the [`Family`]s of samples it
//! collected, the runner's own self-metrics, how the run ended ([`Outcome`], fedimeter's
//! view) and the target's [`Health`] (the target's view: the one meaning of "up" every
//! reader uses). Metric names, types and labels are described by `static` [`MetricDesc`]s
//! that live beside the collector that fills them (METRICS.md is their public contract).

pub mod health;
pub mod severity;
pub mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use health::{Health, Reason};
pub use severity::Severity;
pub use store::SnapshotStore;

/// The kinds of monitored systems; the single list of collector names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Postgres,
    Pgbouncer,
    Redis,
    Probe,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Postgres, Kind::Pgbouncer, Kind::Redis, Kind::Probe];

    /// The name used in config sections, logs and the `collector` label.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Pgbouncer => "pgbouncer",
            Kind::Redis => "redis",
            Kind::Probe => "probe",
        }
    }

    /// The `<system>_up` gauge the runner sets for every run (probes report `probe_success`
    /// themselves, as blackbox_exporter does).
    pub fn up_desc(self) -> Option<&'static MetricDesc> {
        match self {
            Kind::Postgres => Some(&PG_UP),
            Kind::Pgbouncer => Some(&PGBOUNCER_UP),
            Kind::Redis => Some(&REDIS_UP),
            Kind::Probe => None,
        }
    }

    /// Whether the collector decides its target's health itself (probes: from the attempt,
    /// `probe_success`); for the other kinds the runner decides it from how the run ended.
    pub fn reports_own_health(self) -> bool {
        matches!(self, Kind::Probe)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub static PG_UP: MetricDesc = MetricDesc::gauge(
    "pg_up",
    "Whether the last connection to PostgreSQL succeeded (1) or not (0)",
    &[],
);
pub static PGBOUNCER_UP: MetricDesc = MetricDesc::gauge(
    "pgbouncer_up",
    "Whether the last collection from the PgBouncer admin console succeeded",
    &[],
);
pub static REDIS_UP: MetricDesc = MetricDesc::gauge(
    "redis_up",
    "Whether the last collection from Redis succeeded",
    &[],
);

/// One monitored target: its kind and its configured name (unique within the kind).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId {
    pub kind: Kind,
    pub name: Arc<str>,
}

impl TargetId {
    pub fn new(kind: Kind, name: &str) -> Self {
        TargetId {
            kind,
            name: Arc::from(name),
        }
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    /// A counter. Its name is used on the wire exactly as written: exporter-compatible
    /// counters such as `pg_stat_database_xact_commit` have no `_total` suffix and keep it
    /// that way (see `export::exposition`).
    Counter,
}

/// Describes one metric family: name, help, type and label names (in sample order).
#[derive(Debug, PartialEq, Eq)]
pub struct MetricDesc {
    pub name: &'static str,
    pub help: &'static str,
    pub metric_type: MetricType,
    pub labels: &'static [&'static str],
}

impl MetricDesc {
    pub const fn gauge(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        MetricDesc {
            name,
            help,
            metric_type: MetricType::Gauge,
            labels,
        }
    }

    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        MetricDesc {
            name,
            help,
            metric_type: MetricType::Counter,
            labels,
        }
    }

    /// Whether the family carries an explicit `target` label of its own.
    pub fn has_target_label(&self) -> bool {
        self.labels.contains(&"target")
    }
}

/// One sample: label values in the order of [`MetricDesc::labels`], and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Box<[Box<str>]>,
    pub value: f64,
}

/// All samples of one family from one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub desc: &'static MetricDesc,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(desc: &'static MetricDesc) -> Self {
        Family {
            desc,
            samples: Vec::new(),
        }
    }

    /// A family with a single unlabelled sample.
    pub fn single(desc: &'static MetricDesc, value: f64) -> Self {
        Family {
            desc,
            samples: vec![Sample {
                labels: Box::new([]),
                value,
            }],
        }
    }

    /// The value of the sample with exactly these label values, if any.
    pub fn value(&self, labels: &[&str]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.labels.len() == labels.len()
                    && s.labels.iter().zip(labels).all(|(a, b)| &**a == *b)
            })
            .map(|s| s.value)
    }
}

/// How a collection run ended: fedimeter's view (`fedimeter_collector_success`), not the
/// target's health — a probe run that succeeded may well report the target down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was collected.
    Success,
    /// The target answered, but `failed_parts` queries or sections failed; the rest is kept.
    Partial { failed_parts: u32 },
    /// The collector returned an error (cannot connect, authentication failed, …).
    Failed,
    /// The run did not finish within the target's timeout and was cancelled.
    TimedOut,
    /// The collector panicked; the panic was contained by the runner.
    Panicked,
}

impl Outcome {
    /// Whether the run collected anything (`fedimeter_collector_success 1`).
    pub fn collected(self) -> bool {
        matches!(self, Outcome::Success | Outcome::Partial { .. })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Partial { .. } => "partial",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timeout",
            Outcome::Panicked => "panic",
        }
    }
}

/// The immutable result of one collection run of one target. Published whole, replacing the
/// previous snapshot of that target; never mutated afterwards.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub target: TargetId,
    /// Wall-clock time the run finished.
    pub finished_at: SystemTime,
    /// How long the run took (up to the timeout).
    pub duration: Duration,
    pub outcome: Outcome,
    /// The target's health by its kind's rule ([`health`]); `None` only for a probe run that
    /// made no attempt, which every reader counts as no data.
    pub health: Option<Health>,
    /// The collector's families, the `<system>_up` gauge and the runner's self-metrics.
    pub families: Vec<Family>,
}

impl Snapshot {
    /// The family named `name`, if this snapshot has it.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.desc.name == name)
    }

    /// Value of the unlabelled (or exactly-labelled) sample of family `name`.
    pub fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        self.family(name).and_then(|f| f.value(labels))
    }
}
