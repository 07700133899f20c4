//! `[[postgres]]` targets and their collector options.

use std::time::Duration;

use toml::Spanned;

use crate::config::mastodon_env::DerivedTarget;
use crate::config::options::PostgresOptions;
use crate::config::raw::{self, RawConfig};
use crate::config::{Origin, PostgresTarget, TargetCommon};

use super::ctx::*;
use super::mastodon::*;
use super::values::*;

pub(super) fn postgres_targets(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    derived: &[DerivedTarget],
) -> Vec<PostgresTarget> {
    let names = ctx.names("postgres", raw.postgres.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (entry, d) in merge_plan(&names, derived) {
        let target = match entry {
            Some(i) => postgres_entry(ctx, i, &raw.postgres[i], names[i].clone(), d),
            None => d.and_then(|d| {
                Some(PostgresTarget {
                    common: derived_common(d),
                    url: ctx.derived_url(d, "postgres", check_postgres_url)?,
                    options: PostgresOptions::default(),
                })
            }),
        };
        targets.extend(target);
    }
    targets
}

pub(super) fn postgres_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    entry: &Spanned<raw::RawPostgres>,
    name: Option<String>,
    derived: Option<&DerivedTarget>,
) -> Option<PostgresTarget> {
    let key = format!("postgres[{i}]");
    let raw = entry.get_ref();
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_interval(), raw::default_timeout()),
    );
    let url = ctx.entry_url(
        raw.url.as_ref(),
        derived,
        &key,
        entry.span(),
        "postgres",
        check_postgres_url,
    );
    let options = postgres_options(ctx, &key, raw);
    let (interval, timeout) = timing?;
    Some(PostgresTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
            origin: if derived.is_some() {
                Origin::EnvFile
            } else {
                Origin::Written
            },
        },
        url: url?,
        options: options?,
    })
}

/// The collector options of `[[postgres]]` entry `key`; every error reported.
pub(super) fn postgres_options(
    ctx: &mut Ctx<'_>,
    key: &str,
    raw: &raw::RawPostgres,
) -> Option<PostgresOptions> {
    let defaults = PostgresOptions::default();
    let mut ok = true;
    let mut duration = |ctx: &mut Ctx<'_>,
                        value: &Option<Spanned<String>>,
                        name: &str,
                        default: Duration,
                        positive: bool| {
        let Some(value) = value else {
            return default;
        };
        let key = format!("{key}.{name}");
        match ctx.duration(value, &key) {
            Some(d) if positive && d.is_zero() => {
                // 0 would turn the server-side timeout off.
                ctx.error(
                    value.span(),
                    &key,
                    format!("{name} must be greater than zero"),
                );
                ok = false;
                default
            }
            Some(d) => d,
            None => {
                ok = false;
                default
            }
        }
    };
    let statement_timeout = duration(
        ctx,
        &raw.statement_timeout,
        "statement_timeout",
        defaults.statement_timeout,
        true,
    );
    let lock_timeout = duration(
        ctx,
        &raw.lock_timeout,
        "lock_timeout",
        defaults.lock_timeout,
        true,
    );
    let size_interval = duration(
        ctx,
        &raw.size_interval,
        "size_interval",
        defaults.size_interval,
        false,
    );
    let settings_interval = duration(
        ctx,
        &raw.settings_interval,
        "settings_interval",
        defaults.settings_interval,
        false,
    );
    let mastodon_fast_interval = duration(
        ctx,
        &raw.mastodon_fast_interval,
        "mastodon_fast_interval",
        defaults.mastodon_fast_interval,
        false,
    );
    let mastodon_interval = duration(
        ctx,
        &raw.mastodon_interval,
        "mastodon_interval",
        defaults.mastodon_interval,
        false,
    );
    let mastodon_slow_interval = duration(
        ctx,
        &raw.mastodon_slow_interval,
        "mastodon_slow_interval",
        defaults.mastodon_slow_interval,
        false,
    );
    let stat_statements_interval = duration(
        ctx,
        &raw.stat_statements_interval,
        "stat_statements_interval",
        defaults.stat_statements_interval,
        false,
    );
    let stat_statements_limit = ctx.count_in_range(
        raw.stat_statements_limit.as_ref(),
        &format!("{key}.stat_statements_limit"),
        1..=crate::config::options::MAX_STAT_STATEMENTS_LIMIT as i64,
        defaults.stat_statements_limit,
    );
    ok &= stat_statements_limit.is_some();
    let table_limit = match &raw.table_limit {
        None => defaults.table_limit,
        Some(value) => match usize::try_from(*value.get_ref()) {
            Ok(n) => n,
            Err(_) => {
                ctx.error(
                    value.span(),
                    &format!("{key}.table_limit"),
                    "table_limit must be 0 or more",
                );
                ok = false;
                defaults.table_limit
            }
        },
    };
    ok.then_some(PostgresOptions {
        statement_timeout,
        lock_timeout,
        size_interval,
        settings_interval,
        table_limit,
        mastodon: raw.mastodon_gauges.unwrap_or(defaults.mastodon),
        mastodon_fast_interval,
        mastodon_interval,
        mastodon_slow_interval,
        stat_statements: raw.stat_statements.unwrap_or(defaults.stat_statements),
        stat_statements_limit: stat_statements_limit.unwrap_or(defaults.stat_statements_limit),
        stat_statements_interval,
        statio_user_indexes: raw
            .statio_user_indexes
            .unwrap_or(defaults.statio_user_indexes),
    })
}
