//! `[[redis]]` targets, their tuning keys and Sidekiq namespace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::config::mastodon_env::DerivedTarget;
use crate::config::options::RedisOptions;
use crate::config::raw::{self, RawConfig};
use crate::config::{Origin, RedisTarget, TargetCommon};

use super::ctx::*;
use super::mastodon::*;
use super::values::*;

pub(super) fn redis_targets(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    derived: &[DerivedTarget],
) -> Vec<RedisTarget> {
    let names = ctx.names("redis", raw.redis.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (entry, d) in merge_plan(&names, derived) {
        let target = match entry {
            Some(i) => redis_entry(ctx, i, &raw.redis[i], names[i].clone(), d),
            None => d.and_then(|d| {
                Some(RedisTarget {
                    common: derived_common(d),
                    url: ctx.derived_url(d, "redis", check_redis_url)?,
                    sidekiq: d.sidekiq,
                    namespace: d.namespace.clone(),
                    options: RedisOptions::default(),
                })
            }),
        };
        targets.extend(target);
    }
    targets
}

pub(super) fn redis_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    entry: &Spanned<raw::RawRedis>,
    name: Option<String>,
    derived: Option<&DerivedTarget>,
) -> Option<RedisTarget> {
    let key = format!("redis[{i}]");
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
        "redis",
        check_redis_url,
    );
    let namespace = match &raw.namespace {
        Some(v) => Some(redis_namespace(ctx, v, &format!("{key}.namespace"))?),
        None => derived.and_then(|d| d.namespace.clone()),
    };
    let sidekiq = raw
        .sidekiq
        .unwrap_or_else(|| derived.is_some_and(|d| d.sidekiq));
    let options = redis_options(ctx, raw, &key);
    let (interval, timeout) = timing?;
    Some(RedisTarget {
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
        sidekiq,
        namespace,
        options: options?,
    })
}

/// The tuning keys of one `[[redis]]` entry (see `RedisOptions` for the meaning).
pub(super) fn redis_options(
    ctx: &mut Ctx<'_>,
    raw: &raw::RawRedis,
    key: &str,
) -> Option<RedisOptions> {
    let mut options = RedisOptions::default();
    let mut ok = true;
    let mut positive = |ctx: &mut Ctx<'_>, value: &Option<Spanned<i64>>, name: &str, max: i64| {
        let value = value.as_ref()?;
        let n = *value.get_ref();
        if (1..=max).contains(&n) {
            Some(n)
        } else {
            ctx.error(
                value.span(),
                &format!("{key}.{name}"),
                format!("{name} must be between 1 and {max}"),
            );
            ok = false;
            None
        }
    };
    if let Some(n) = positive(ctx, &raw.sidekiq_queue_limit, "sidekiq_queue_limit", 10_000) {
        options.sidekiq_queue_limit = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = positive(
        ctx,
        &raw.delivery_scan_count,
        "delivery_scan_count",
        100_000,
    ) {
        options.delivery_scan_count = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = positive(
        ctx,
        &raw.delivery_scan_steps_per_run,
        "delivery_scan_steps_per_run",
        100_000,
    ) {
        options.delivery_scan_steps_per_run = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(queues) = &raw.mastodon_queues {
        if queues.get_ref().iter().any(|q| q.trim().is_empty()) {
            ctx.error(
                queues.span(),
                &format!("{key}.mastodon_queues"),
                "queue names must not be empty",
            );
            ok = false;
        }
        options.mastodon_queues = queues.get_ref().clone();
    }
    options.mastodon_gauges = raw.mastodon_gauges;
    if let Some(value) = &raw.mastodon_gauges_interval {
        let name = format!("{key}.mastodon_gauges_interval");
        match ctx.duration(value, &name) {
            Some(d) if d >= Duration::from_secs(1) => options.mastodon_gauges_interval = d,
            Some(_) => {
                ctx.error(
                    value.span(),
                    &name,
                    "mastodon_gauges_interval must be at least 1s",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(on) = raw.sidekiq_heartbeat_series {
        options.sidekiq_heartbeat_series = on;
    }
    if let Some(on) = raw.sidekiq_yabeda_aliases {
        options.sidekiq_yabeda_aliases = on;
    }
    if let Some(on) = raw.sidekiq_job_metrics {
        options.sidekiq_job_metrics = on;
    }
    if let Some(value) = &raw.tls_ca_file {
        let name = format!("{key}.tls_ca_file");
        match ctx.interpolate(value, &name) {
            Some(text) if !text.trim().is_empty() => {
                let path = PathBuf::from(text);
                options.tls_ca_file = Some(match ctx.input.path.and_then(Path::parent) {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                });
            }
            Some(_) => {
                ctx.error(value.span(), &name, "tls_ca_file must not be empty");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(options)
}

pub(super) fn redis_namespace(
    ctx: &mut Ctx<'_>,
    value: &Spanned<String>,
    key: &str,
) -> Option<String> {
    let namespace = ctx.interpolate(value, key)?;
    let problem = if namespace.is_empty() {
        Some("namespace must not be empty (leave it out instead)")
    } else if namespace
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        Some("namespace must not contain spaces or control characters")
    } else {
        None
    };
    match problem {
        Some(message) => {
            ctx.error(value.span(), key, message);
            None
        }
        None => Some(namespace),
    }
}
