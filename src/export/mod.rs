//! Exporters: readers of the [`SnapshotStore`](crate::model::SnapshotStore) that hand the
//! data to other systems — the Prometheus exposition for `/metrics` and `/probe`, and the
//! periodic OTLP push.

pub mod exposition;
pub mod otlp;
pub mod self_metrics;
