//! Sidekiq's metric descriptors (METRICS.md "Sidekiq"; names as the Strech exporter, label
//! `name` = queue) and their [`DESCRIPTORS`] list.

use crate::model::MetricDesc;

pub static PROCESSED: MetricDesc = MetricDesc::counter(
    "sidekiq_processed_jobs_total",
    "The total number of processed jobs",
    &[],
);
pub static FAILED: MetricDesc = MetricDesc::counter(
    "sidekiq_failed_jobs_total",
    "The total number of failed jobs",
    &[],
);
pub static ENQUEUED: MetricDesc = MetricDesc::gauge(
    "sidekiq_enqueued_jobs",
    "The total number of enqueued jobs",
    &[],
);
pub static SCHEDULED: MetricDesc = MetricDesc::gauge(
    "sidekiq_scheduled_jobs",
    "The number of jobs scheduled for a future execution",
    &[],
);
pub static RETRY: MetricDesc = MetricDesc::gauge(
    "sidekiq_retry_jobs",
    "The number of failed jobs waiting to be retried",
    &[],
);
pub static DEAD: MetricDesc = MetricDesc::gauge(
    "sidekiq_dead_jobs",
    "The number of jobs exceeded their retry count",
    &[],
);
pub static PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_processes",
    "The number of live Sidekiq processes (whose heartbeat hash exists)",
    &[],
);
pub static WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_workers",
    "The total number of worker threads of live processes (concurrency)",
    &[],
);
pub static BUSY_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_busy_workers",
    "The number of workers performing a job",
    &[],
);
pub static HOST_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_host_processes",
    "The number of live Sidekiq processes by host",
    &["host", "quiet"],
);
pub static HOST_MEMORY: MetricDesc = MetricDesc::gauge(
    "sidekiq_host_processes_memory_usage_bytes",
    "The resident memory of the live Sidekiq processes by host",
    &["host"],
);
pub static QUEUE_ENQUEUED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_enqueued_jobs",
    "The number of enqueued jobs in the queue",
    &["name"],
);
pub static QUEUE_LATENCY: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_latency_seconds",
    "The age of the oldest job in the queue (0 when empty)",
    &["name"],
);
pub static QUEUE_MAX_PROCESSING_TIME: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_max_processing_time_seconds",
    "How long the longest-running job of the queue has been running",
    &["name"],
);
pub static QUEUE_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_workers",
    "The number of worker threads of the live processes serving the queue",
    &["name"],
);
pub static QUEUE_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_processes",
    "The number of live processes serving the queue",
    &["name"],
);
pub static QUEUE_BUSY_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_busy_workers",
    "The number of workers performing a job of the queue",
    &["name"],
);
pub static QUEUE_PAUSED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_paused",
    "Whether the queue is paused (member of the paused set)",
    &["name"],
);
pub static QUEUE_UNPARSABLE: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_unparsable_jobs",
    "Whether the oldest job of the queue is not valid job JSON (its latency is then left out)",
    &["name"],
);
pub static QUEUE_UNCOVERED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_uncovered",
    "A Mastodon queue that no live Sidekiq process serves (1) or that is served (0)",
    &["name"],
);
pub static SCHEDULER_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_scheduler_processes",
    "The number of live processes serving the scheduler queue (Mastodon wants exactly one)",
    &[],
);
pub static SCHEDULE_OVERDUE: MetricDesc = MetricDesc::gauge(
    "sidekiq_schedule_overdue_jobs",
    "Scheduled jobs whose time has passed but are not enqueued yet (a stuck poller)",
    &[],
);
pub static RETRY_OVERDUE: MetricDesc = MetricDesc::gauge(
    "sidekiq_retry_overdue_jobs",
    "Retries whose time has passed but are not enqueued yet (a stuck poller)",
    &[],
);
pub static PROCESSED_DAILY: MetricDesc = MetricDesc::gauge(
    "sidekiq_jobs_processed_daily",
    "Jobs processed on this UTC date (Sidekiq's daily counter)",
    &["date"],
);
pub static HEARTBEAT_AGE: MetricDesc = MetricDesc::gauge(
    "sidekiq_process_last_heartbeat_age_seconds",
    "Seconds since the live process' last heartbeat",
    &["host", "identity"],
);
pub static YABEDA_WAITING: MetricDesc = MetricDesc::gauge(
    "sidekiq_jobs_waiting_count",
    "The number of enqueued jobs in the queue (yabeda-sidekiq name)",
    &["queue"],
);
pub static YABEDA_LATENCY: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_latency",
    "The age of the oldest job in the queue in seconds (yabeda-sidekiq name)",
    &["queue"],
);
pub static KEY_SIZE: MetricDesc = MetricDesc::gauge(
    "redis_key_size",
    "The length or size of a Sidekiq key (redis_exporter check-keys name)",
    &["db", "key"],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &PROCESSED,
    &FAILED,
    &ENQUEUED,
    &SCHEDULED,
    &RETRY,
    &DEAD,
    &PROCESSES,
    &WORKERS,
    &BUSY_WORKERS,
    &HOST_PROCESSES,
    &HOST_MEMORY,
    &QUEUE_ENQUEUED,
    &QUEUE_LATENCY,
    &QUEUE_MAX_PROCESSING_TIME,
    &QUEUE_WORKERS,
    &QUEUE_PROCESSES,
    &QUEUE_BUSY_WORKERS,
    &QUEUE_PAUSED,
    &QUEUE_UNPARSABLE,
    &QUEUE_UNCOVERED,
    &SCHEDULER_PROCESSES,
    &SCHEDULE_OVERDUE,
    &RETRY_OVERDUE,
    &PROCESSED_DAILY,
    &HEARTBEAT_AGE,
    &YABEDA_WAITING,
    &YABEDA_LATENCY,
    &KEY_SIZE,
];
