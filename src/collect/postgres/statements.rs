//! The opt-in query groups of postgres_exporter's collectors of the same names:
//! `stat_statements` (the top statements of `pg_stat_statements` by execution time) and
//! `statio_user_indexes` (buffer hits and reads per index). SQL, descriptors and the pure
//! mapping of rows to samples; `mod.rs` runs them when `[[postgres]]` turns them on.
//!
//! Both are bounded: at most `stat_statements_limit` statements (five series each) and
//! [`MAX_INDEXES`] indexes (two series each).

use super::queries::{PG17, Point, SERVER, ServerInfo};
use super::rows::Row;
use crate::model::MetricDesc;

// ---------------------------------------------------------------------------------------
// stat_statements

const STATEMENT_LABELS: &[&str] = &["user", "datname", "queryid", SERVER];

pub static STATEMENTS_CALLS: MetricDesc = MetricDesc::counter(
    "pg_stat_statements_calls_total",
    "Number of times executed",
    STATEMENT_LABELS,
);
pub static STATEMENTS_SECONDS: MetricDesc = MetricDesc::counter(
    "pg_stat_statements_seconds_total",
    "Total time spent in the statement, in seconds",
    STATEMENT_LABELS,
);
pub static STATEMENTS_ROWS: MetricDesc = MetricDesc::counter(
    "pg_stat_statements_rows_total",
    "Total number of rows retrieved or affected by the statement",
    STATEMENT_LABELS,
);
pub static STATEMENTS_BLOCK_READ_SECONDS: MetricDesc = MetricDesc::counter(
    "pg_stat_statements_block_read_seconds_total",
    "Total time the statement spent reading blocks, in seconds",
    STATEMENT_LABELS,
);
pub static STATEMENTS_BLOCK_WRITE_SECONDS: MetricDesc = MetricDesc::counter(
    "pg_stat_statements_block_write_seconds_total",
    "Total time the statement spent writing blocks, in seconds",
    STATEMENT_LABELS,
);

/// The top `limit` statements by total execution time, as postgres_exporter's
/// `stat_statements` collector selects them (minus its 10th-percentile filter, which the
/// limit makes unnecessary). The column names are those of 13+ (`total_exec_time`); 17
/// renamed `blk_{read,write}_time` to `shared_blk_{read,write}_time`. Fails when the
/// extension is not installed in the target's database (a partial error, said in the log).
pub fn stat_statements_sql(version_num: u32, limit: usize) -> String {
    let (read, write) = if version_num >= PG17 {
        ("shared_blk_read_time", "shared_blk_write_time")
    } else {
        ("blk_read_time", "blk_write_time")
    };
    format!(
        "SELECT coalesce(pg_get_userbyid(s.userid)::text, 'unknown') AS usename, \
         coalesce(d.datname::text, 'unknown') AS datname, \
         coalesce(s.queryid::text, 'unknown') AS queryid, \
         s.calls::float8 AS calls, s.total_exec_time::float8 / 1000 AS seconds, \
         s.rows::float8 AS rows, s.{read}::float8 / 1000 AS block_read_seconds, \
         s.{write}::float8 / 1000 AS block_write_seconds \
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         ORDER BY s.total_exec_time DESC, s.queryid LIMIT {limit}"
    )
}

pub fn map_stat_statements(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::with_capacity(rows.len() * 5);
    for row in rows {
        let labels = vec![
            row.text("usename")?,
            row.text("datname")?,
            row.text("queryid")?,
        ];
        for (column, desc) in [
            ("calls", &STATEMENTS_CALLS),
            ("seconds", &STATEMENTS_SECONDS),
            ("rows", &STATEMENTS_ROWS),
            ("block_read_seconds", &STATEMENTS_BLOCK_READ_SECONDS),
            ("block_write_seconds", &STATEMENTS_BLOCK_WRITE_SECONDS),
        ] {
            let value = row.opt_number(column)?.unwrap_or(0.0);
            points.push(Point::plain(desc, labels.clone(), value));
        }
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// statio_user_indexes

/// At most this many indexes are exported by `statio_user_indexes`, those with the most
/// block accesses (hits + reads) first. Mastodon's schema has about 250.
pub const MAX_INDEXES: usize = 500;

const INDEX_LABELS: &[&str] = &["datname", "schemaname", "relname", "indexrelname", SERVER];

pub static STATIO_INDEXES_READ: MetricDesc = MetricDesc::counter(
    "pg_statio_user_indexes_idx_blks_read_total",
    "Number of disk blocks read from this index",
    INDEX_LABELS,
);
pub static STATIO_INDEXES_HIT: MetricDesc = MetricDesc::counter(
    "pg_statio_user_indexes_idx_blks_hit_total",
    "Number of buffer hits in this index",
    INDEX_LABELS,
);

/// Statistics only (no relation lock), like `pg_statio_user_tables`.
pub fn statio_user_indexes_sql() -> String {
    format!(
        "SELECT current_database()::text AS datname, schemaname::text AS schemaname, \
         relname::text AS relname, indexrelname::text AS indexrelname, \
         idx_blks_read::float8 AS idx_blks_read, idx_blks_hit::float8 AS idx_blks_hit \
         FROM pg_statio_user_indexes \
         ORDER BY coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0) DESC, \
         schemaname, relname, indexrelname LIMIT {MAX_INDEXES}"
    )
}

pub fn map_statio_user_indexes(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::with_capacity(rows.len() * 2);
    for row in rows {
        let labels = vec![
            row.text("datname")?,
            row.text("schemaname")?,
            row.text("relname")?,
            row.text("indexrelname")?,
        ];
        for (column, desc) in [
            ("idx_blks_read", &STATIO_INDEXES_READ),
            ("idx_blks_hit", &STATIO_INDEXES_HIT),
        ] {
            let value = row.opt_number(column)?.unwrap_or(0.0);
            points.push(Point::plain(desc, labels.clone(), value));
        }
    }
    Ok(points)
}

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &STATEMENTS_CALLS,
    &STATEMENTS_SECONDS,
    &STATEMENTS_ROWS,
    &STATEMENTS_BLOCK_READ_SECONDS,
    &STATEMENTS_BLOCK_WRITE_SECONDS,
    &STATIO_INDEXES_READ,
    &STATIO_INDEXES_HIT,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::postgres::rows::Cell;

    fn server(version_num: u32) -> ServerInfo {
        ServerInfo {
            version_num,
            version: String::new(),
        }
    }

    #[test]
    fn stat_statements_sql_follows_the_column_renames_of_17() {
        let sql = stat_statements_sql(160004, 25);
        assert!(sql.contains("s.blk_read_time::float8"), "{sql}");
        assert!(sql.contains("total_exec_time"), "{sql}");
        assert!(sql.ends_with("LIMIT 25"), "{sql}");
        let sql = stat_statements_sql(170000, 100);
        assert!(sql.contains("s.shared_blk_read_time::float8"), "{sql}");
        assert!(sql.contains("s.shared_blk_write_time::float8"), "{sql}");
    }

    #[test]
    fn statements_map_to_five_counters_with_nulls_as_zero() {
        let row = Row::of([
            ("usename", Cell::Text("mastodon".into())),
            ("datname", Cell::Text("mastodon_production".into())),
            ("queryid", Cell::Text("-123".into())),
            ("calls", Cell::Number(7.0)),
            ("seconds", Cell::Number(1.5)),
            ("rows", Cell::Number(70.0)),
            ("block_read_seconds", Cell::Null),
            ("block_write_seconds", Cell::Number(0.25)),
        ]);
        let points = map_stat_statements(&[row], &server(150000)).expect("mapped");
        let labels = vec![
            "mastodon".to_owned(),
            "mastodon_production".to_owned(),
            "-123".to_owned(),
        ];
        assert_eq!(
            points,
            vec![
                Point::plain(&STATEMENTS_CALLS, labels.clone(), 7.0),
                Point::plain(&STATEMENTS_SECONDS, labels.clone(), 1.5),
                Point::plain(&STATEMENTS_ROWS, labels.clone(), 70.0),
                Point::plain(&STATEMENTS_BLOCK_READ_SECONDS, labels.clone(), 0.0),
                Point::plain(&STATEMENTS_BLOCK_WRITE_SECONDS, labels, 0.25),
            ]
        );
    }
}
