//! `pg_settings` as `pg_settings_<name>[_bytes|_seconds]` gauges, named and normalised
//! exactly as postgres_exporter does (`pg_setting.go`): booleans 0/1, memory units to
//! bytes, time units to seconds, `-1` left alone, `.` and `-` in names turned into `_`.
//!
//! Setting names are only known at run time, so their descriptors are interned: one leaked
//! [`MetricDesc`] per distinct setting name, bounded by the server's (few hundred) settings.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::queries::{Point, SERVER};
use super::rows::Row;
use crate::model::MetricDesc;

/// Numeric and boolean settings (postgres_exporter's filter).
pub const SETTINGS_SQL: &str = "SELECT name, setting, coalesce(unit, '') AS unit, vartype \
     FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') \
     AND name != 'sync_commit_cancel_wait' ORDER BY name";

/// A setting's exported name suffix and value; `None` for an unknown unit (skipped rather
/// than guessed).
pub fn normalise(name: &str, setting: &str, unit: &str, vartype: &str) -> Option<(String, f64)> {
    let base = name.replace(['.', '-'], "_");
    if vartype == "bool" {
        return Some((base, if setting == "on" { 1.0 } else { 0.0 }));
    }
    let value: f64 = setting.trim().parse().ok()?;
    let (suffix, factor) = match unit {
        "" => return Some((base, value)),
        "ms" => ("seconds", 1e-3),
        "s" => ("seconds", 1.0),
        "min" => ("seconds", 60.0),
        "h" => ("seconds", 3600.0),
        "d" => ("seconds", 86400.0),
        "B" => ("bytes", 1.0),
        "kB" | "1kB" => ("bytes", 1024.0),
        "2kB" => ("bytes", 2048.0),
        "4kB" => ("bytes", 4096.0),
        "8kB" => ("bytes", 8192.0),
        "16kB" => ("bytes", 16384.0),
        "32kB" => ("bytes", 32768.0),
        "64kB" => ("bytes", 65536.0),
        "MB" => ("bytes", 1048576.0),
        "16MB" => ("bytes", 16.0 * 1048576.0),
        "32MB" => ("bytes", 32.0 * 1048576.0),
        "64MB" => ("bytes", 64.0 * 1048576.0),
        "GB" => ("bytes", 1073741824.0),
        "TB" => ("bytes", 1099511627776.0),
        _ => return None,
    };
    let value = if value == -1.0 { value } else { value * factor };
    Some((format!("{base}_{suffix}"), value))
}

/// The interned descriptor of `pg_settings_<suffix>`.
fn setting_desc(suffix: &str, name: &str, unit_suffix: Option<&str>) -> &'static MetricDesc {
    static DESCS: OnceLock<Mutex<HashMap<String, &'static MetricDesc>>> = OnceLock::new();
    let descs = DESCS.get_or_init(Default::default);
    let mut descs = descs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(desc) = descs.get(suffix) {
        return desc;
    }
    let metric_name: &'static str = Box::leak(format!("pg_settings_{suffix}").into_boxed_str());
    let help = match unit_suffix {
        Some(unit) => format!("Server Parameter: {name} [Units converted to {unit}.]"),
        None => format!("Server Parameter: {name}"),
    };
    let help: &'static str = Box::leak(help.into_boxed_str());
    let desc: &'static MetricDesc =
        Box::leak(Box::new(MetricDesc::gauge(metric_name, help, &[SERVER])));
    descs.insert(suffix.to_string(), desc);
    desc
}

pub fn map_settings(rows: &[Row], _: &super::queries::ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::with_capacity(rows.len());
    for row in rows {
        let name = row.text("name")?;
        let unit = row.text("unit")?;
        let Some((suffix, value)) =
            normalise(&name, &row.text("setting")?, &unit, &row.text("vartype")?)
        else {
            continue;
        };
        let unit_suffix = if suffix.ends_with("_seconds") && !unit.is_empty() {
            Some("seconds")
        } else if suffix.ends_with("_bytes") && !unit.is_empty() {
            Some("bytes")
        } else {
            None
        };
        points.push(Point::single(
            setting_desc(&suffix, &name, unit_suffix),
            value,
        ));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_normalised_like_postgres_exporter() {
        // name setting unit vartype => exported suffix and value ("-" = skipped).
        let cases = "
            max_connections 100 - integer => max_connections 100
            shared_buffers 16384 8kB integer => shared_buffers_bytes 134217728
            max_wal_size 1024 MB integer => max_wal_size_bytes 1073741824
            work_mem 4096 kB integer => work_mem_bytes 4194304
            statement_timeout 2000 ms integer => statement_timeout_seconds 2
            checkpoint_timeout 300 s integer => checkpoint_timeout_seconds 300
            log_rotation_age 1440 min integer => log_rotation_age_seconds 86400
            autovacuum_work_mem -1 kB integer => autovacuum_work_mem_bytes -1
            fsync off - bool => fsync 0
            hot_standby on - bool => hot_standby 1
            seq_page_cost 1 - real => seq_page_cost 1
            pg_stat_statements.max 5000 - integer => pg_stat_statements_max 5000
            weird 1 parsecs integer => -";
        for line in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (input, expected) = line.split_once(" => ").unwrap();
            let input: Vec<&str> = input.split(' ').collect();
            let unit = if input[2] == "-" { "" } else { input[2] };
            let got = normalise(input[0], input[1], unit, input[3]);
            let expected = expected
                .split_once(' ')
                .map(|(name, value)| (name.to_string(), value.parse::<f64>().unwrap()));
            assert_eq!(got, expected, "{line}");
        }
    }

    #[test]
    fn descriptors_are_interned_once() {
        let a = setting_desc("max_connections", "max_connections", None);
        let b = setting_desc("max_connections", "max_connections", None);
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.name, "pg_settings_max_connections");
    }
}
