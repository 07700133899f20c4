//! fedimeter's own process-level families (`fedimeter_build_info`), published into the
//! snapshot store's internal section at start. Per-collector self-metrics are produced by
//! the runner with each snapshot (`collect::runner`).

use crate::model::{Family, MetricDesc, Sample, SnapshotStore};

pub static BUILD_INFO: MetricDesc = MetricDesc::gauge(
    "fedimeter_build_info",
    "fedimeter's version and source revision; always 1",
    &["version", "revision"],
);

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision fedimeter was built from (`unknown` outside a git checkout).
pub const REVISION: &str = env!("FEDIMETER_REVISION");

pub fn publish_build_info(store: &SnapshotStore) {
    let mut family = Family::new(&BUILD_INFO);
    family.samples.push(Sample {
        labels: Box::new([VERSION.into(), REVISION.into()]),
        value: 1.0,
    });
    store.publish_internal("build", vec![family]);
}
