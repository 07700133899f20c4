//! The only place that maps config sections to collectors: [`build`] turns a [`Config`] into
//! one [`Job`] per target of the resolved config (written, from the Mastodon env file, or
//! preset: validation has expanded them all).

use crate::collect::pgbouncer;
use crate::collect::postgres;
use crate::collect::probe;
use crate::collect::redis;
use crate::collect::runner::Job;
use crate::config::Config;
use crate::model::{Kind, TargetId};

/// Every configured target's id, in config order (the snapshot store's slots).
pub fn target_ids(config: &Config) -> Vec<TargetId> {
    let mut ids = Vec::new();
    ids.extend(
        config
            .postgres
            .iter()
            .map(|t| TargetId::new(Kind::Postgres, &t.common.name)),
    );
    ids.extend(
        config
            .pgbouncer
            .iter()
            .map(|t| TargetId::new(Kind::Pgbouncer, &t.common.name)),
    );
    ids.extend(
        config
            .redis
            .iter()
            .map(|t| TargetId::new(Kind::Redis, &t.common.name)),
    );
    ids.extend(
        config
            .probes
            .iter()
            .map(|t| TargetId::new(Kind::Probe, &t.common.name)),
    );
    ids
}

/// One job per configured target.
pub fn build(config: &Config) -> Vec<Job> {
    let mut jobs = Vec::new();
    jobs.extend(config.postgres.iter().map(postgres::job));
    jobs.extend(config.pgbouncer.iter().map(pgbouncer::job));
    // `config.probes` already holds the Mastodon preset probes (`config::preset`).
    jobs.extend(config.probes.iter().map(probe::job));
    jobs.extend(config.redis.iter().map(redis::job));
    jobs
}
