//! `[[pgbouncer]]` targets.

use crate::config::options::PgbouncerOptions;
use crate::config::raw::{self, RawConfig};
use crate::config::{Origin, PgbouncerTarget, TargetCommon};

use super::ctx::*;
use super::values::*;

pub(super) fn pgbouncer_targets(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<PgbouncerTarget> {
    let names = ctx.names("pgbouncer", raw.pgbouncer.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (i, (entry, name)) in raw.pgbouncer.iter().zip(names).enumerate() {
        targets.extend(pgbouncer_entry(ctx, i, entry.get_ref(), name));
    }
    targets
}

pub(super) fn pgbouncer_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    raw: &raw::RawPgbouncer,
    name: Option<String>,
) -> Option<PgbouncerTarget> {
    let key = format!("pgbouncer[{i}]");
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_interval(), raw::default_timeout()),
    );
    let url = ctx.secret_url(&raw.url, &format!("{key}.url"), check_postgres_url);
    let defaults = PgbouncerOptions::default();
    let max_application_names = ctx.count_in_range(
        raw.client_connections_max_application_names.as_ref(),
        &format!("{key}.client_connections_max_application_names"),
        1..=raw::MAX_PGBOUNCER_APPLICATION_NAMES,
        defaults.client_connections_max_application_names,
    );
    let max_pools = ctx.count_in_range(
        raw.max_pools.as_ref(),
        &format!("{key}.max_pools"),
        1..=raw::MAX_PGBOUNCER_POOLS,
        defaults.max_pools,
    );
    let (interval, timeout) = timing?;
    Some(PgbouncerTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
            origin: Origin::Written,
        },
        url: url?,
        options: PgbouncerOptions {
            client_connections: raw
                .client_connections
                .unwrap_or(defaults.client_connections),
            client_connections_max_application_names: max_application_names?,
            max_pools: max_pools?,
            legacy_names: raw.legacy_names.unwrap_or(defaults.legacy_names),
        },
    })
}
