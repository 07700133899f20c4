//! The SQL of every query group, gated by server version, and the pure mapping of its rows
//! to samples. Names, types and labels follow postgres_exporter (METRICS.md, compat PE).
//!
//! Nothing here does I/O: `mod.rs` runs the SQL and hands the decoded [`Row`]s to the
//! `map_*` functions, which the unit tests call with hand-built rows.

use anyhow::Context;

use super::rows::Row;
use crate::model::MetricDesc;

/// One sample produced by a mapping function. Ages are kept as the timestamp they are
/// measured from ([`PointValue::AgeSince`]) so cached values still age correctly.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub desc: &'static MetricDesc,
    pub labels: Vec<String>,
    pub value: PointValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// The value as is.
    Plain(f64),
    /// Seconds since this Unix time, computed when the sample is emitted.
    AgeSince(f64),
}

impl PointValue {
    /// The value to export at Unix time `now`.
    pub fn resolve(self, now: f64) -> f64 {
        match self {
            PointValue::Plain(v) => v,
            PointValue::AgeSince(t) => (now - t).max(0.0),
        }
    }
}

/// postgres_exporter's `server="host:port"` label (issue 11). It is the last label of
/// every `pg_*` family except `pg_up`, `pg_exporter_*` and `pg_scrape_*` (as in a scrape of
/// postgres_exporter 0.11.1). The mapping functions produce the other labels only; the
/// collector appends the target's value when it emits a point whose family
/// [`carries_server`].
pub const SERVER: &str = "server";

/// Whether `desc`'s last label is [`SERVER`].
pub fn carries_server(desc: &MetricDesc) -> bool {
    desc.labels.last() == Some(&SERVER)
}

/// The value of [`SERVER`] for a connection URL, as postgres_exporter's `parseFingerprint`
/// makes it: the host (a `host` query parameter wins over the URL's, so a Unix-socket URL
/// gives the socket directory) or `localhost`, a colon, and the port or `5432`. Never the
/// user, password or database. `None` when the URL does not parse.
pub fn server_label(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let mut host = match parsed.host() {
        Some(url::Host::Domain(domain)) if !domain.is_empty() => Some(domain.to_string()),
        Some(url::Host::Ipv4(ip)) => Some(ip.to_string()),
        Some(url::Host::Ipv6(ip)) => Some(ip.to_string()),
        _ => None,
    };
    let mut port = parsed.port().map(|p| p.to_string());
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "host" => host = Some(value.into_owned()),
            "port" => port = Some(value.into_owned()),
            _ => {}
        }
    }
    Some(format!(
        "{}:{}",
        host.as_deref().unwrap_or("localhost"),
        port.as_deref().unwrap_or("5432")
    ))
}

impl Point {
    pub fn plain(desc: &'static MetricDesc, labels: Vec<String>, value: f64) -> Point {
        Point {
            desc,
            labels,
            value: PointValue::Plain(value),
        }
    }

    pub fn single(desc: &'static MetricDesc, value: f64) -> Point {
        Point::plain(desc, Vec::new(), value)
    }
}

/// What the collector knows about the server it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `server_version_num`, e.g. 150018.
    pub version_num: u32,
    /// `SELECT version()`.
    pub version: String,
}

/// First server version (`server_version_num`) with `pg_stat_database.active_time`.
pub const PG14: u32 = 140000;
/// First server version with `pg_stat_checkpointer` (and without the checkpoint columns
/// of `pg_stat_bgwriter`).
pub const PG17: u32 = 170000;

/// `150018` → `15.18.0`, `90624` → `9.6.24` (postgres_exporter's `short_version`).
pub fn short_version(version_num: u32) -> String {
    if version_num >= 100000 {
        format!("{}.{}.0", version_num / 10000, version_num % 10000)
    } else {
        format!(
            "{}.{}.{}",
            version_num / 10000,
            (version_num / 100) % 100,
            version_num % 100
        )
    }
}

// ---------------------------------------------------------------------------------------
// Exporter-level families (postgres_exporter's own).

pub static PG_STATIC: MetricDesc = MetricDesc::gauge(
    "pg_static",
    "Version string as reported by postgres",
    &["version", "short_version", SERVER],
);
pub static LAST_SCRAPE_DURATION: MetricDesc = MetricDesc::gauge(
    "pg_exporter_last_scrape_duration_seconds",
    "Duration of the last scrape of metrics from PostgreSQL",
    &[],
);
pub static LAST_SCRAPE_ERROR: MetricDesc = MetricDesc::gauge(
    "pg_exporter_last_scrape_error",
    "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success)",
    &[],
);
pub static SCRAPES_TOTAL: MetricDesc = MetricDesc::counter(
    "pg_exporter_scrapes_total",
    "Total number of times PostgreSQL was scraped for metrics",
    &[],
);
pub static COLLECTOR_DURATION: MetricDesc = MetricDesc::gauge(
    "pg_scrape_collector_duration_seconds",
    "postgres_exporter: Duration of a collector scrape",
    &["collector"],
);
pub static COLLECTOR_SUCCESS: MetricDesc = MetricDesc::gauge(
    "pg_scrape_collector_success",
    "postgres_exporter: Whether a collector succeeded",
    &["collector"],
);

/// The query run at the start of every collection: liveness, version, role.
pub const SERVER_INFO_SQL: &str = "SELECT version() AS version, \
     current_setting('server_version_num')::int8 AS version_num";

pub fn map_server_info(rows: &[Row]) -> anyhow::Result<ServerInfo> {
    let row = rows.first().context("select version() returned no row")?;
    let version_num = row.number("version_num")?;
    Ok(ServerInfo {
        version_num: version_num as u32,
        version: row.text("version")?,
    })
}

pub fn static_point(server: &ServerInfo) -> Point {
    Point::plain(
        &PG_STATIC,
        vec![server.version.clone(), short_version(server.version_num)],
        1.0,
    )
}

// ---------------------------------------------------------------------------------------
// pg_stat_database

const DATABASE_LABELS: &[&str] = &["datid", "datname", SERVER];

pub static STAT_DATABASE_NUMBACKENDS: MetricDesc = MetricDesc::gauge(
    "pg_stat_database_numbackends",
    "Number of backends currently connected to this database. This is the only column in this view that returns a value reflecting current state; all other columns return the accumulated values since the last reset.",
    DATABASE_LABELS,
);

/// `pg_stat_database` counters exported without `_total`, by column.
pub static STAT_DATABASE_COUNTERS: [(&str, MetricDesc); 16] = [
    (
        "xact_commit",
        MetricDesc::counter(
            "pg_stat_database_xact_commit",
            "Number of transactions in this database that have been committed",
            DATABASE_LABELS,
        ),
    ),
    (
        "xact_rollback",
        MetricDesc::counter(
            "pg_stat_database_xact_rollback",
            "Number of transactions in this database that have been rolled back",
            DATABASE_LABELS,
        ),
    ),
    (
        "blks_read",
        MetricDesc::counter(
            "pg_stat_database_blks_read",
            "Number of disk blocks read in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "blks_hit",
        MetricDesc::counter(
            "pg_stat_database_blks_hit",
            "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)",
            DATABASE_LABELS,
        ),
    ),
    (
        "tup_returned",
        MetricDesc::counter(
            "pg_stat_database_tup_returned",
            "Number of rows returned by queries in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "tup_fetched",
        MetricDesc::counter(
            "pg_stat_database_tup_fetched",
            "Number of rows fetched by queries in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "tup_inserted",
        MetricDesc::counter(
            "pg_stat_database_tup_inserted",
            "Number of rows inserted by queries in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "tup_updated",
        MetricDesc::counter(
            "pg_stat_database_tup_updated",
            "Number of rows updated by queries in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "tup_deleted",
        MetricDesc::counter(
            "pg_stat_database_tup_deleted",
            "Number of rows deleted by queries in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "conflicts",
        MetricDesc::counter(
            "pg_stat_database_conflicts",
            "Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on standby servers; see pg_stat_database_conflicts for details.)",
            DATABASE_LABELS,
        ),
    ),
    (
        "temp_files",
        MetricDesc::counter(
            "pg_stat_database_temp_files",
            "Number of temporary files created by queries in this database. All temporary files are counted, regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the log_temp_files setting.",
            DATABASE_LABELS,
        ),
    ),
    (
        "temp_bytes",
        MetricDesc::counter(
            "pg_stat_database_temp_bytes",
            "Total amount of data written to temporary files by queries in this database. All temporary files are counted, regardless of why the temporary file was created, and regardless of the log_temp_files setting.",
            DATABASE_LABELS,
        ),
    ),
    (
        "deadlocks",
        MetricDesc::counter(
            "pg_stat_database_deadlocks",
            "Number of deadlocks detected in this database",
            DATABASE_LABELS,
        ),
    ),
    (
        "blk_read_time",
        MetricDesc::counter(
            "pg_stat_database_blk_read_time",
            "Time spent reading data file blocks by backends in this database, in milliseconds",
            DATABASE_LABELS,
        ),
    ),
    (
        "blk_write_time",
        MetricDesc::counter(
            "pg_stat_database_blk_write_time",
            "Time spent writing data file blocks by backends in this database, in milliseconds",
            DATABASE_LABELS,
        ),
    ),
    (
        "stats_reset",
        MetricDesc::counter(
            "pg_stat_database_stats_reset",
            "Time at which these statistics were last reset",
            DATABASE_LABELS,
        ),
    ),
];

pub static STAT_DATABASE_ACTIVE_TIME: MetricDesc = MetricDesc::counter(
    "pg_stat_database_active_time_seconds_total",
    "Time spent executing SQL statements in this database, in seconds",
    DATABASE_LABELS,
);

pub fn stat_database_sql(version_num: u32) -> String {
    let active_time = if version_num >= PG14 {
        ", active_time::float8 / 1000 AS active_time"
    } else {
        ""
    };
    format!(
        "SELECT datid::int8 AS datid, datname::text AS datname, numbackends::int8 AS numbackends, \
         xact_commit::int8 AS xact_commit, xact_rollback::int8 AS xact_rollback, \
         blks_read::int8 AS blks_read, blks_hit::int8 AS blks_hit, \
         tup_returned::int8 AS tup_returned, tup_fetched::int8 AS tup_fetched, \
         tup_inserted::int8 AS tup_inserted, tup_updated::int8 AS tup_updated, \
         tup_deleted::int8 AS tup_deleted, conflicts::int8 AS conflicts, \
         temp_files::int8 AS temp_files, temp_bytes::int8 AS temp_bytes, \
         deadlocks::int8 AS deadlocks, blk_read_time::float8 AS blk_read_time, \
         blk_write_time::float8 AS blk_write_time, \
         extract(epoch FROM stats_reset)::float8 AS stats_reset{active_time} \
         FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY datname"
    )
}

pub fn map_stat_database(rows: &[Row], server: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = vec![row.text("datid")?, row.text("datname")?];
        points.push(Point::plain(
            &STAT_DATABASE_NUMBACKENDS,
            labels.clone(),
            row.number("numbackends")?,
        ));
        for (column, desc) in &STAT_DATABASE_COUNTERS {
            // stats_reset is NULL until the first reset: omit rather than export 0.
            if let Some(value) = row.opt_number(column)? {
                points.push(Point::plain(desc, labels.clone(), value));
            } else if *column != "stats_reset" {
                points.push(Point::plain(desc, labels.clone(), 0.0));
            }
        }
        if server.version_num >= PG14 {
            points.push(Point::plain(
                &STAT_DATABASE_ACTIVE_TIME,
                labels,
                row.number("active_time")?,
            ));
        }
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_stat_database_conflicts

pub static STAT_DATABASE_CONFLICTS: [(&str, MetricDesc); 5] = [
    (
        "confl_tablespace",
        MetricDesc::counter(
            "pg_stat_database_conflicts_confl_tablespace",
            "Number of queries in this database that have been canceled due to dropped tablespaces",
            DATABASE_LABELS,
        ),
    ),
    (
        "confl_lock",
        MetricDesc::counter(
            "pg_stat_database_conflicts_confl_lock",
            "Number of queries in this database that have been canceled due to lock timeouts",
            DATABASE_LABELS,
        ),
    ),
    (
        "confl_snapshot",
        MetricDesc::counter(
            "pg_stat_database_conflicts_confl_snapshot",
            "Number of queries in this database that have been canceled due to old snapshots",
            DATABASE_LABELS,
        ),
    ),
    (
        "confl_bufferpin",
        MetricDesc::counter(
            "pg_stat_database_conflicts_confl_bufferpin",
            "Number of queries in this database that have been canceled due to pinned buffers",
            DATABASE_LABELS,
        ),
    ),
    (
        "confl_deadlock",
        MetricDesc::counter(
            "pg_stat_database_conflicts_confl_deadlock",
            "Number of queries in this database that have been canceled due to deadlocks",
            DATABASE_LABELS,
        ),
    ),
];

pub const STAT_DATABASE_CONFLICTS_SQL: &str = "SELECT datid::int8 AS datid, datname::text AS datname, \
     confl_tablespace::int8 AS confl_tablespace, confl_lock::int8 AS confl_lock, \
     confl_snapshot::int8 AS confl_snapshot, confl_bufferpin::int8 AS confl_bufferpin, \
     confl_deadlock::int8 AS confl_deadlock \
     FROM pg_stat_database_conflicts WHERE datname IS NOT NULL ORDER BY datname";

pub fn map_stat_database_conflicts(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = vec![row.text("datid")?, row.text("datname")?];
        for (column, desc) in &STAT_DATABASE_CONFLICTS {
            points.push(Point::plain(desc, labels.clone(), row.number(column)?));
        }
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_stat_activity

/// The columns read as labels; the families add [`SERVER`].
const ACTIVITY_COLUMNS: &[&str] = &[
    "datname",
    "state",
    "usename",
    "application_name",
    "backend_type",
    "wait_event_type",
    "wait_event",
];
const ACTIVITY_LABELS: &[&str] = &[
    "datname",
    "state",
    "usename",
    "application_name",
    "backend_type",
    "wait_event_type",
    "wait_event",
    SERVER,
];

pub static STAT_ACTIVITY_COUNT: MetricDesc = MetricDesc::gauge(
    "pg_stat_activity_count",
    "number of connections in this state",
    ACTIVITY_LABELS,
);
pub static STAT_ACTIVITY_MAX_TX_DURATION: MetricDesc = MetricDesc::gauge(
    "pg_stat_activity_max_tx_duration",
    "max duration in seconds any active transaction has been running",
    ACTIVITY_LABELS,
);

/// postgres_exporter's query: every (database, state) pair, zero when no backend is in it.
pub const STAT_ACTIVITY_SQL: &str = "SELECT d.datname::text AS datname, s.state, \
     a.usename::text AS usename, a.application_name, a.backend_type, \
     a.wait_event_type, a.wait_event, \
     coalesce(a.count, 0)::int8 AS count, coalesce(a.max_tx_duration, 0)::float8 AS max_tx_duration \
     FROM (VALUES ('active'), ('idle'), ('idle in transaction'), \
                  ('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) AS s(state) \
     CROSS JOIN pg_database d \
     LEFT JOIN (SELECT datname, state, usename, application_name, backend_type, \
                       wait_event_type, wait_event, count(*) AS count, \
                       max(extract(epoch FROM now() - xact_start))::float8 AS max_tx_duration \
                FROM pg_stat_activity \
                GROUP BY datname, state, usename, application_name, backend_type, wait_event_type, wait_event) a \
       ON a.state = s.state AND a.datname = d.datname \
     ORDER BY 1, 2, 3, 4, 5, 6, 7";

pub fn map_stat_activity(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = ACTIVITY_COLUMNS
            .iter()
            .map(|column| row.text(column))
            .collect::<anyhow::Result<Vec<_>>>()?;
        points.push(Point::plain(
            &STAT_ACTIVITY_COUNT,
            labels.clone(),
            row.number("count")?,
        ));
        points.push(Point::plain(
            &STAT_ACTIVITY_MAX_TX_DURATION,
            labels,
            row.number("max_tx_duration")?,
        ));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_locks

pub static LOCKS_COUNT: MetricDesc = MetricDesc::gauge(
    "pg_locks_count",
    "Number of locks",
    &["datname", "mode", SERVER],
);

pub const LOCKS_SQL: &str = "SELECT d.datname::text AS datname, m.mode, coalesce(l.count, 0)::int8 AS count \
     FROM (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'), \
                  ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'), \
                  ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS m(mode) \
     CROSS JOIN pg_database d \
     LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks \
                WHERE database IS NOT NULL GROUP BY database, lower(mode)) l \
       ON l.mode = m.mode AND l.database = d.oid \
     ORDER BY 1, 2";

pub fn map_locks(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    rows.iter()
        .map(|row| {
            Ok(Point::plain(
                &LOCKS_COUNT,
                vec![row.text("datname")?, row.text("mode")?],
                row.number("count")?,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Replication: the replica's side (pg_replication_*)

pub static REPLICATION_LAG: MetricDesc = MetricDesc::gauge(
    "pg_replication_lag_seconds",
    "Replication lag behind master in seconds (0 when everything received has been replayed)",
    &[SERVER],
);
/// postgres_exporter's name before 0.13 (commit 99828de7), which its own mixin's alerts
/// still query: the same value as [`REPLICATION_LAG`].
pub static REPLICATION_LAG_LEGACY: MetricDesc = MetricDesc::gauge(
    "pg_replication_lag",
    "Replication lag behind master in seconds (legacy name of pg_replication_lag_seconds)",
    &[SERVER],
);
pub static REPLICATION_IS_REPLICA: MetricDesc = MetricDesc::gauge(
    "pg_replication_is_replica",
    "Indicates if the server is a replica",
    &[SERVER],
);
pub static REPLICATION_LAST_REPLAY: MetricDesc = MetricDesc::gauge(
    "pg_replication_last_replay_seconds",
    "Age of last replay in seconds",
    &[SERVER],
);

/// Lag is 0 on a primary and on a replica that has replayed all it received (an idle
/// replica's last replay timestamp keeps ageing without any real lag).
pub const REPLICATION_SQL: &str = "SELECT \
     CASE WHEN NOT pg_is_in_recovery() THEN 0 \
          WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
          ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) \
     END::float8 AS lag, \
     pg_is_in_recovery() AS is_replica, \
     greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::float8 AS last_replay";

pub fn map_replication(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows.first().context("replication query returned no row")?;
    let is_replica = row.number("is_replica")?;
    let lag = row.number("lag")?;
    let mut points = vec![
        Point::single(&REPLICATION_LAG, lag),
        Point::single(&REPLICATION_LAG_LEGACY, lag),
        Point::single(&REPLICATION_IS_REPLICA, is_replica),
    ];
    if is_replica == 1.0 {
        points.push(Point::single(
            &REPLICATION_LAST_REPLAY,
            row.number("last_replay")?,
        ));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// Replication: the primary's side (pg_stat_replication, pg_replication_slots)

/// The columns read as labels; the families add [`SERVER`].
const STAT_REPLICATION_COLUMNS: &[&str] = &[
    "application_name",
    "client_addr",
    "state",
    "slot_name",
    "pid",
];
const STAT_REPLICATION_LABELS: &[&str] = &[
    "application_name",
    "client_addr",
    "state",
    "slot_name",
    "pid",
    SERVER,
];

pub static STAT_REPLICATION_LSN_DIFF: MetricDesc = MetricDesc::gauge(
    "pg_stat_replication_pg_wal_lsn_diff",
    "Lag in bytes between master and slave",
    STAT_REPLICATION_LABELS,
);
pub static STAT_REPLICATION_CURRENT_LSN: MetricDesc = MetricDesc::gauge(
    "pg_stat_replication_pg_current_wal_lsn_bytes",
    "WAL position in bytes",
    STAT_REPLICATION_LABELS,
);

pub const STAT_REPLICATION_SQL: &str = "SELECT r.application_name, \
     coalesce(host(r.client_addr), '') AS client_addr, r.state, \
     coalesce(s.slot_name::text, '') AS slot_name, r.pid::int8 AS pid, \
     (CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0') \
           ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END)::float8 AS current_wal_lsn_bytes, \
     (CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), r.replay_lsn) \
           ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn) END)::float8 AS wal_lsn_diff \
     FROM pg_stat_replication r LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid \
     ORDER BY r.application_name, r.pid";

pub fn map_stat_replication(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = STAT_REPLICATION_COLUMNS
            .iter()
            .map(|column| row.text(column))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(diff) = row.opt_number("wal_lsn_diff")? {
            points.push(Point::plain(
                &STAT_REPLICATION_LSN_DIFF,
                labels.clone(),
                diff,
            ));
        }
        if let Some(lsn) = row.opt_number("current_wal_lsn_bytes")? {
            points.push(Point::plain(&STAT_REPLICATION_CURRENT_LSN, labels, lsn));
        }
    }
    Ok(points)
}

const SLOT_LABELS: &[&str] = &["slot_name", "database", SERVER];

pub static REPLICATION_SLOTS_ACTIVE: MetricDesc = MetricDesc::gauge(
    "pg_replication_slots_active",
    "Flag indicating if the slot is active",
    SLOT_LABELS,
);
pub static REPLICATION_SLOTS_LSN_DIFF: MetricDesc = MetricDesc::gauge(
    "pg_replication_slots_pg_wal_lsn_diff",
    "Replication lag in bytes: WAL retained for the slot (current WAL position minus the slot's restart_lsn)",
    SLOT_LABELS,
);

pub const REPLICATION_SLOTS_SQL: &str = "SELECT slot_name::text AS slot_name, \
     coalesce(database::text, '') AS database, active, \
     (CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), restart_lsn) \
           ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END)::float8 AS wal_lsn_diff \
     FROM pg_replication_slots ORDER BY slot_name";

pub fn map_replication_slots(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = vec![row.text("slot_name")?, row.text("database")?];
        points.push(Point::plain(
            &REPLICATION_SLOTS_ACTIVE,
            labels.clone(),
            row.number("active")?,
        ));
        // restart_lsn is NULL for a slot that never reserved WAL: nothing retained.
        if let Some(diff) = row.opt_number("wal_lsn_diff")? {
            points.push(Point::plain(&REPLICATION_SLOTS_LSN_DIFF, labels, diff));
        }
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_stat_bgwriter and pg_stat_checkpointer

/// Columns present on every supported version.
pub static STAT_BGWRITER: [(&str, MetricDesc); 4] = [
    (
        "buffers_clean",
        MetricDesc::counter(
            "pg_stat_bgwriter_buffers_clean_total",
            "Number of buffers written by the background writer",
            &[SERVER],
        ),
    ),
    (
        "maxwritten_clean",
        MetricDesc::counter(
            "pg_stat_bgwriter_maxwritten_clean_total",
            "Number of times the background writer stopped a cleaning scan because it had written too many buffers",
            &[SERVER],
        ),
    ),
    (
        "buffers_alloc",
        MetricDesc::counter(
            "pg_stat_bgwriter_buffers_alloc_total",
            "Number of buffers allocated",
            &[SERVER],
        ),
    ),
    (
        "stats_reset",
        MetricDesc::counter(
            "pg_stat_bgwriter_stats_reset_total",
            "Time at which these statistics were last reset",
            &[SERVER],
        ),
    ),
];

/// Columns that moved to `pg_stat_checkpointer` (or went away) in PostgreSQL 17.
pub static STAT_BGWRITER_BEFORE_17: [(&str, MetricDesc); 7] = [
    (
        "checkpoints_timed",
        MetricDesc::counter(
            "pg_stat_bgwriter_checkpoints_timed_total",
            "Number of scheduled checkpoints that have been performed",
            &[SERVER],
        ),
    ),
    (
        "checkpoints_req",
        MetricDesc::counter(
            "pg_stat_bgwriter_checkpoints_req_total",
            "Number of requested checkpoints that have been performed",
            &[SERVER],
        ),
    ),
    (
        "checkpoint_write_time",
        MetricDesc::counter(
            "pg_stat_bgwriter_checkpoint_write_time_total",
            "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds",
            &[SERVER],
        ),
    ),
    (
        "checkpoint_sync_time",
        MetricDesc::counter(
            "pg_stat_bgwriter_checkpoint_sync_time_total",
            "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds",
            &[SERVER],
        ),
    ),
    (
        "buffers_checkpoint",
        MetricDesc::counter(
            "pg_stat_bgwriter_buffers_checkpoint_total",
            "Number of buffers written during checkpoints",
            &[SERVER],
        ),
    ),
    (
        "buffers_backend",
        MetricDesc::counter(
            "pg_stat_bgwriter_buffers_backend_total",
            "Number of buffers written directly by a backend",
            &[SERVER],
        ),
    ),
    (
        "buffers_backend_fsync",
        MetricDesc::counter(
            "pg_stat_bgwriter_buffers_backend_fsync_total",
            "Number of times a backend had to execute its own fsync call (normally the background writer handles those even when the backend does its own write)",
            &[SERVER],
        ),
    ),
];

pub fn stat_bgwriter_sql(version_num: u32) -> String {
    let mut columns = String::from(
        "buffers_clean::int8 AS buffers_clean, maxwritten_clean::int8 AS maxwritten_clean, \
         buffers_alloc::int8 AS buffers_alloc, extract(epoch FROM stats_reset)::float8 AS stats_reset",
    );
    if version_num < PG17 {
        columns.push_str(
            ", checkpoints_timed::int8 AS checkpoints_timed, checkpoints_req::int8 AS checkpoints_req, \
             checkpoint_write_time::float8 AS checkpoint_write_time, \
             checkpoint_sync_time::float8 AS checkpoint_sync_time, \
             buffers_checkpoint::int8 AS buffers_checkpoint, buffers_backend::int8 AS buffers_backend, \
             buffers_backend_fsync::int8 AS buffers_backend_fsync",
        );
    }
    format!("SELECT {columns} FROM pg_stat_bgwriter")
}

pub fn map_stat_bgwriter(rows: &[Row], server: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows.first().context("pg_stat_bgwriter returned no row")?;
    let mut points = Vec::new();
    let old = if server.version_num < PG17 {
        &STAT_BGWRITER_BEFORE_17[..]
    } else {
        &[]
    };
    for (column, desc) in STAT_BGWRITER.iter().chain(old) {
        if let Some(value) = row.opt_number(column)? {
            points.push(Point::single(desc, value));
        }
    }
    Ok(points)
}

pub static STAT_CHECKPOINTER: [(&str, MetricDesc); 9] = [
    (
        "num_timed",
        MetricDesc::counter(
            "pg_stat_checkpointer_num_timed_total",
            "Number of scheduled checkpoints due to timeout",
            &[SERVER],
        ),
    ),
    (
        "num_requested",
        MetricDesc::counter(
            "pg_stat_checkpointer_num_requested_total",
            "Number of requested checkpoints that have been performed",
            &[SERVER],
        ),
    ),
    (
        "restartpoints_timed",
        MetricDesc::counter(
            "pg_stat_checkpointer_restartpoints_timed_total",
            "Number of scheduled restartpoints due to timeout or after a failed attempt to perform it",
            &[SERVER],
        ),
    ),
    (
        "restartpoints_req",
        MetricDesc::counter(
            "pg_stat_checkpointer_restartpoints_req_total",
            "Number of requested restartpoints",
            &[SERVER],
        ),
    ),
    (
        "restartpoints_done",
        MetricDesc::counter(
            "pg_stat_checkpointer_restartpoints_done_total",
            "Number of restartpoints that have been performed",
            &[SERVER],
        ),
    ),
    (
        "write_time",
        MetricDesc::counter(
            "pg_stat_checkpointer_write_time_total",
            "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are written to disk, in milliseconds",
            &[SERVER],
        ),
    ),
    (
        "sync_time",
        MetricDesc::counter(
            "pg_stat_checkpointer_sync_time_total",
            "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are synchronized to disk, in milliseconds",
            &[SERVER],
        ),
    ),
    (
        "buffers_written",
        MetricDesc::counter(
            "pg_stat_checkpointer_buffers_written_total",
            "Number of buffers written during checkpoints and restartpoints",
            &[SERVER],
        ),
    ),
    (
        "stats_reset",
        MetricDesc::counter(
            "pg_stat_checkpointer_stats_reset_total",
            "Time at which these statistics were last reset",
            &[SERVER],
        ),
    ),
];

/// `pg_stat_checkpointer` exists from PostgreSQL 17 on.
pub fn stat_checkpointer_sql(version_num: u32) -> Option<&'static str> {
    (version_num >= PG17).then_some(
        "SELECT num_timed::int8 AS num_timed, num_requested::int8 AS num_requested, \
         restartpoints_timed::int8 AS restartpoints_timed, restartpoints_req::int8 AS restartpoints_req, \
         restartpoints_done::int8 AS restartpoints_done, write_time::float8 AS write_time, \
         sync_time::float8 AS sync_time, buffers_written::int8 AS buffers_written, \
         extract(epoch FROM stats_reset)::float8 AS stats_reset FROM pg_stat_checkpointer",
    )
}

pub fn map_stat_checkpointer(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows
        .first()
        .context("pg_stat_checkpointer returned no row")?;
    let mut points = Vec::new();
    for (column, desc) in &STAT_CHECKPOINTER {
        if let Some(value) = row.opt_number(column)? {
            points.push(Point::single(desc, value));
        }
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_stat_archiver

pub static STAT_ARCHIVER_ARCHIVED: MetricDesc = MetricDesc::counter(
    "pg_stat_archiver_archived_count",
    "Number of WAL files that have been successfully archived",
    &[SERVER],
);
pub static STAT_ARCHIVER_FAILED: MetricDesc = MetricDesc::counter(
    "pg_stat_archiver_failed_count",
    "Number of failed attempts for archiving WAL files",
    &[SERVER],
);
pub static STAT_ARCHIVER_LAST_ARCHIVE_AGE: MetricDesc = MetricDesc::gauge(
    "pg_stat_archiver_last_archive_age",
    "Time in seconds since last WAL segment was successfully archived",
    &[SERVER],
);

// Neither postgres_exporter nor pgwatch exports the archiver's times: fedimeter-named
// gauges (Unix seconds), for "the last failure is newer than the last success".
pub static STAT_ARCHIVER_LAST_ARCHIVED_TIME: MetricDesc = MetricDesc::gauge(
    "pg_stat_archiver_last_archived_time_seconds",
    "Time of the last successful WAL archive operation (Unix seconds)",
    &[SERVER],
);
pub static STAT_ARCHIVER_LAST_FAILED_TIME: MetricDesc = MetricDesc::gauge(
    "pg_stat_archiver_last_failed_time_seconds",
    "Time of the last failed WAL archive operation (Unix seconds)",
    &[SERVER],
);

pub const STAT_ARCHIVER_SQL: &str = "SELECT archived_count::int8 AS archived_count, \
     failed_count::int8 AS failed_count, \
     extract(epoch FROM last_archived_time)::float8 AS last_archived_time, \
     extract(epoch FROM last_failed_time)::float8 AS last_failed_time FROM pg_stat_archiver";

pub fn map_stat_archiver(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows.first().context("pg_stat_archiver returned no row")?;
    let mut points = vec![
        Point::single(&STAT_ARCHIVER_ARCHIVED, row.number("archived_count")?),
        Point::single(&STAT_ARCHIVER_FAILED, row.number("failed_count")?),
    ];
    // Never archived (archiving off, or nothing yet): no age rather than a made-up one.
    if let Some(at) = row.opt_number("last_archived_time")? {
        points.push(Point {
            desc: &STAT_ARCHIVER_LAST_ARCHIVE_AGE,
            labels: Vec::new(),
            value: PointValue::AgeSince(at),
        });
        points.push(Point::single(&STAT_ARCHIVER_LAST_ARCHIVED_TIME, at));
    }
    // Never failed: absent.
    if let Some(at) = row.opt_number("last_failed_time")? {
        points.push(Point::single(&STAT_ARCHIVER_LAST_FAILED_TIME, at));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// Postmaster, long-running transactions, wraparound

pub static POSTMASTER_START_TIME: MetricDesc = MetricDesc::gauge(
    "pg_postmaster_start_time_seconds",
    "Time at which postmaster started",
    &[SERVER],
);

pub const POSTMASTER_SQL: &str =
    "SELECT extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time_seconds";

pub fn map_postmaster(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows
        .first()
        .context("pg_postmaster_start_time returned no row")?;
    Ok(vec![Point::single(
        &POSTMASTER_START_TIME,
        row.number("start_time_seconds")?,
    )])
}

pub static LONG_RUNNING_TRANSACTIONS: MetricDesc = MetricDesc::gauge(
    "pg_long_running_transactions",
    "Current number of long running transactions",
    &[SERVER],
);
pub static LONG_RUNNING_TRANSACTIONS_OLDEST: MetricDesc = MetricDesc::gauge(
    "pg_long_running_transactions_oldest_timestamp_seconds",
    "The current maximum transaction age in seconds",
    &[SERVER],
);

/// postgres_exporter's query: open transactions of non-idle backends and the oldest's age.
pub const LONG_RUNNING_TRANSACTIONS_SQL: &str = "SELECT count(*)::int8 AS transactions, \
     coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8 AS oldest_timestamp_seconds \
     FROM pg_catalog.pg_stat_activity \
     WHERE state IS DISTINCT FROM 'idle' AND query NOT LIKE 'autovacuum:%' AND xact_start IS NOT NULL";

pub fn map_long_running_transactions(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let row = rows
        .first()
        .context("long-running transactions query returned no row")?;
    Ok(vec![
        Point::single(&LONG_RUNNING_TRANSACTIONS, row.number("transactions")?),
        Point::single(
            &LONG_RUNNING_TRANSACTIONS_OLDEST,
            row.number("oldest_timestamp_seconds")?,
        ),
    ])
}

pub static WRAPAROUND_DATFROZENXID: MetricDesc = MetricDesc::gauge(
    "pg_database_wraparound_age_datfrozenxid_seconds",
    "Age of the oldest transaction ID that has not been frozen.",
    &["datname", SERVER],
);
pub static WRAPAROUND_DATMINMXID: MetricDesc = MetricDesc::gauge(
    "pg_database_wraparound_age_datminmxid_seconds",
    "Age of the oldest multi-transaction ID that has been replaced with a transaction ID.",
    &["datname", SERVER],
);

pub const WRAPAROUND_SQL: &str = "SELECT datname::text AS datname, \
     age(datfrozenxid)::int8 AS age_datfrozenxid, mxid_age(datminmxid)::int8 AS age_datminmxid \
     FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname";

pub fn map_wraparound(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = vec![row.text("datname")?];
        points.push(Point::plain(
            &WRAPAROUND_DATFROZENXID,
            labels.clone(),
            row.number("age_datfrozenxid")?,
        ));
        points.push(Point::plain(
            &WRAPAROUND_DATMINMXID,
            labels,
            row.number("age_datminmxid")?,
        ));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// Database sizes (slow cadence)

pub static DATABASE_SIZE: MetricDesc = MetricDesc::gauge(
    "pg_database_size_bytes",
    "Disk space used by the database",
    &["datname", SERVER],
);
pub static DATABASE_CONNECTION_LIMIT: MetricDesc = MetricDesc::gauge(
    "pg_database_connection_limit",
    "Connection limit set for the database",
    &["datname", SERVER],
);

/// `pg_database_size` walks the database's directory; it takes no relation locks. Databases
/// we may not connect to get no size instead of an error.
pub const DATABASE_SQL: &str = "SELECT datname::text AS datname, datconnlimit::int8 AS connection_limit, \
     CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) END::int8 AS size_bytes \
     FROM pg_database ORDER BY datname";

pub fn map_database(rows: &[Row], _: &ServerInfo) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let labels = vec![row.text("datname")?];
        if let Some(size) = row.opt_number("size_bytes")? {
            points.push(Point::plain(&DATABASE_SIZE, labels.clone(), size));
        }
        points.push(Point::plain(
            &DATABASE_CONNECTION_LIMIT,
            labels,
            row.number("connection_limit")?,
        ));
    }
    Ok(points)
}

// ---------------------------------------------------------------------------------------
// pg_stat_user_tables, for the top N tables by size

const TABLE_LABELS: &[&str] = &["datname", "schemaname", "relname", SERVER];

/// Counters exported without `_total`, by column.
pub static STAT_USER_TABLES_COUNTERS: [(&str, MetricDesc); 12] = [
    (
        "seq_scan",
        MetricDesc::counter(
            "pg_stat_user_tables_seq_scan",
            "Number of sequential scans initiated on this table",
            TABLE_LABELS,
        ),
    ),
    (
        "seq_tup_read",
        MetricDesc::counter(
            "pg_stat_user_tables_seq_tup_read",
            "Number of live rows fetched by sequential scans",
            TABLE_LABELS,
        ),
    ),
    (
        "idx_scan",
        MetricDesc::counter(
            "pg_stat_user_tables_idx_scan",
            "Number of index scans initiated on this table",
            TABLE_LABELS,
        ),
    ),
    (
        "idx_tup_fetch",
        MetricDesc::counter(
            "pg_stat_user_tables_idx_tup_fetch",
            "Number of live rows fetched by index scans",
            TABLE_LABELS,
        ),
    ),
    (
        "n_tup_ins",
        MetricDesc::counter(
            "pg_stat_user_tables_n_tup_ins",
            "Number of rows inserted",
            TABLE_LABELS,
        ),
    ),
    (
        "n_tup_upd",
        MetricDesc::counter(
            "pg_stat_user_tables_n_tup_upd",
            "Number of rows updated",
            TABLE_LABELS,
        ),
    ),
    (
        "n_tup_del",
        MetricDesc::counter(
            "pg_stat_user_tables_n_tup_del",
            "Number of rows deleted",
            TABLE_LABELS,
        ),
    ),
    (
        "n_tup_hot_upd",
        MetricDesc::counter(
            "pg_stat_user_tables_n_tup_hot_upd",
            "Number of rows HOT updated (i.e., with no separate index update required)",
            TABLE_LABELS,
        ),
    ),
    (
        "vacuum_count",
        MetricDesc::counter(
            "pg_stat_user_tables_vacuum_count",
            "Number of times this table has been manually vacuumed (not counting VACUUM FULL)",
            TABLE_LABELS,
        ),
    ),
    (
        "autovacuum_count",
        MetricDesc::counter(
            "pg_stat_user_tables_autovacuum_count",
            "Number of times this table has been vacuumed by the autovacuum daemon",
            TABLE_LABELS,
        ),
    ),
    (
        "analyze_count",
        MetricDesc::counter(
            "pg_stat_user_tables_analyze_count",
            "Number of times this table has been manually analyzed",
            TABLE_LABELS,
        ),
    ),
    (
        "autoanalyze_count",
        MetricDesc::counter(
            "pg_stat_user_tables_autoanalyze_count",
            "Number of times this table has been analyzed by the autovacuum daemon",
            TABLE_LABELS,
        ),
    ),
];

/// Gauges, by column (timestamps as Unix seconds, 0 when never, as postgres_exporter does).
pub static STAT_USER_TABLES_GAUGES: [(&str, MetricDesc); 7] = [
    (
        "n_live_tup",
        MetricDesc::gauge(
            "pg_stat_user_tables_n_live_tup",
            "Estimated number of live rows",
            TABLE_LABELS,
        ),
    ),
    (
        "n_dead_tup",
        MetricDesc::gauge(
            "pg_stat_user_tables_n_dead_tup",
            "Estimated number of dead rows",
            TABLE_LABELS,
        ),
    ),
    (
        "n_mod_since_analyze",
        MetricDesc::gauge(
            "pg_stat_user_tables_n_mod_since_analyze",
            "Estimated number of rows changed since last analyze",
            TABLE_LABELS,
        ),
    ),
    (
        "last_vacuum",
        MetricDesc::gauge(
            "pg_stat_user_tables_last_vacuum",
            "Last time at which this table was manually vacuumed (not counting VACUUM FULL)",
            TABLE_LABELS,
        ),
    ),
    (
        "last_autovacuum",
        MetricDesc::gauge(
            "pg_stat_user_tables_last_autovacuum",
            "Last time at which this table was vacuumed by the autovacuum daemon",
            TABLE_LABELS,
        ),
    ),
    (
        "last_analyze",
        MetricDesc::gauge(
            "pg_stat_user_tables_last_analyze",
            "Last time at which this table was manually analyzed",
            TABLE_LABELS,
        ),
    ),
    (
        "last_autoanalyze",
        MetricDesc::gauge(
            "pg_stat_user_tables_last_autoanalyze",
            "Last time at which this table was analyzed by the autovacuum daemon",
            TABLE_LABELS,
        ),
    ),
];

pub static TABLE_SIZE: MetricDesc = MetricDesc::gauge(
    "pg_stat_user_tables_table_size_bytes",
    "Total disk space used by this table, in bytes",
    TABLE_LABELS,
);
pub static INDEX_SIZE: MetricDesc = MetricDesc::gauge(
    "pg_stat_user_tables_index_size_bytes",
    "Total disk space used by indexes on this table, in bytes",
    TABLE_LABELS,
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &crate::model::PG_UP,
    &PG_STATIC,
    &LAST_SCRAPE_DURATION,
    &LAST_SCRAPE_ERROR,
    &SCRAPES_TOTAL,
    &COLLECTOR_DURATION,
    &COLLECTOR_SUCCESS,
    &STAT_DATABASE_NUMBACKENDS,
    &STAT_DATABASE_COUNTERS[0].1,
    &STAT_DATABASE_COUNTERS[1].1,
    &STAT_DATABASE_COUNTERS[2].1,
    &STAT_DATABASE_COUNTERS[3].1,
    &STAT_DATABASE_COUNTERS[4].1,
    &STAT_DATABASE_COUNTERS[5].1,
    &STAT_DATABASE_COUNTERS[6].1,
    &STAT_DATABASE_COUNTERS[7].1,
    &STAT_DATABASE_COUNTERS[8].1,
    &STAT_DATABASE_COUNTERS[9].1,
    &STAT_DATABASE_COUNTERS[10].1,
    &STAT_DATABASE_COUNTERS[11].1,
    &STAT_DATABASE_COUNTERS[12].1,
    &STAT_DATABASE_COUNTERS[13].1,
    &STAT_DATABASE_COUNTERS[14].1,
    &STAT_DATABASE_COUNTERS[15].1,
    &STAT_DATABASE_ACTIVE_TIME,
    &STAT_DATABASE_CONFLICTS[0].1,
    &STAT_DATABASE_CONFLICTS[1].1,
    &STAT_DATABASE_CONFLICTS[2].1,
    &STAT_DATABASE_CONFLICTS[3].1,
    &STAT_DATABASE_CONFLICTS[4].1,
    &STAT_ACTIVITY_COUNT,
    &STAT_ACTIVITY_MAX_TX_DURATION,
    &LOCKS_COUNT,
    &REPLICATION_LAG,
    &REPLICATION_LAG_LEGACY,
    &REPLICATION_IS_REPLICA,
    &REPLICATION_LAST_REPLAY,
    &STAT_REPLICATION_LSN_DIFF,
    &STAT_REPLICATION_CURRENT_LSN,
    &REPLICATION_SLOTS_ACTIVE,
    &REPLICATION_SLOTS_LSN_DIFF,
    &STAT_BGWRITER[0].1,
    &STAT_BGWRITER[1].1,
    &STAT_BGWRITER[2].1,
    &STAT_BGWRITER[3].1,
    &STAT_BGWRITER_BEFORE_17[0].1,
    &STAT_BGWRITER_BEFORE_17[1].1,
    &STAT_BGWRITER_BEFORE_17[2].1,
    &STAT_BGWRITER_BEFORE_17[3].1,
    &STAT_BGWRITER_BEFORE_17[4].1,
    &STAT_BGWRITER_BEFORE_17[5].1,
    &STAT_BGWRITER_BEFORE_17[6].1,
    &STAT_CHECKPOINTER[0].1,
    &STAT_CHECKPOINTER[1].1,
    &STAT_CHECKPOINTER[2].1,
    &STAT_CHECKPOINTER[3].1,
    &STAT_CHECKPOINTER[4].1,
    &STAT_CHECKPOINTER[5].1,
    &STAT_CHECKPOINTER[6].1,
    &STAT_CHECKPOINTER[7].1,
    &STAT_CHECKPOINTER[8].1,
    &STAT_ARCHIVER_ARCHIVED,
    &STAT_ARCHIVER_FAILED,
    &STAT_ARCHIVER_LAST_ARCHIVE_AGE,
    &STAT_ARCHIVER_LAST_ARCHIVED_TIME,
    &STAT_ARCHIVER_LAST_FAILED_TIME,
    &POSTMASTER_START_TIME,
    &LONG_RUNNING_TRANSACTIONS,
    &LONG_RUNNING_TRANSACTIONS_OLDEST,
    &WRAPAROUND_DATFROZENXID,
    &WRAPAROUND_DATMINMXID,
    &DATABASE_SIZE,
    &DATABASE_CONNECTION_LIMIT,
    &STAT_USER_TABLES_COUNTERS[0].1,
    &STAT_USER_TABLES_COUNTERS[1].1,
    &STAT_USER_TABLES_COUNTERS[2].1,
    &STAT_USER_TABLES_COUNTERS[3].1,
    &STAT_USER_TABLES_COUNTERS[4].1,
    &STAT_USER_TABLES_COUNTERS[5].1,
    &STAT_USER_TABLES_COUNTERS[6].1,
    &STAT_USER_TABLES_COUNTERS[7].1,
    &STAT_USER_TABLES_COUNTERS[8].1,
    &STAT_USER_TABLES_COUNTERS[9].1,
    &STAT_USER_TABLES_COUNTERS[10].1,
    &STAT_USER_TABLES_COUNTERS[11].1,
    &STAT_USER_TABLES_GAUGES[0].1,
    &STAT_USER_TABLES_GAUGES[1].1,
    &STAT_USER_TABLES_GAUGES[2].1,
    &STAT_USER_TABLES_GAUGES[3].1,
    &STAT_USER_TABLES_GAUGES[4].1,
    &STAT_USER_TABLES_GAUGES[5].1,
    &STAT_USER_TABLES_GAUGES[6].1,
    &TABLE_SIZE,
    &INDEX_SIZE,
];

/// `$1` = the relids (int8[]) of the top N tables. `pg_stat_user_tables`' own columns
/// from the same statistics functions, but reached through the oid index for just these
/// tables instead of aggregating the whole catalog (0.5 ms instead of 3+ ms with 2,000
/// tables). Reads statistics only: no relation lock.
pub const STAT_USER_TABLES_SQL: &str = "SELECT c.oid::int8 AS relid, current_database()::text AS datname, \
     n.nspname::text AS schemaname, c.relname::text AS relname, \
     pg_stat_get_numscans(c.oid)::int8 AS seq_scan, pg_stat_get_tuples_returned(c.oid)::int8 AS seq_tup_read, \
     x.idx_scan::int8 AS idx_scan, (x.idx_tup_fetch + pg_stat_get_tuples_fetched(c.oid))::int8 AS idx_tup_fetch, \
     pg_stat_get_tuples_inserted(c.oid)::int8 AS n_tup_ins, pg_stat_get_tuples_updated(c.oid)::int8 AS n_tup_upd, \
     pg_stat_get_tuples_deleted(c.oid)::int8 AS n_tup_del, pg_stat_get_tuples_hot_updated(c.oid)::int8 AS n_tup_hot_upd, \
     pg_stat_get_live_tuples(c.oid)::int8 AS n_live_tup, pg_stat_get_dead_tuples(c.oid)::int8 AS n_dead_tup, \
     pg_stat_get_mod_since_analyze(c.oid)::int8 AS n_mod_since_analyze, \
     extract(epoch FROM pg_stat_get_last_vacuum_time(c.oid))::float8 AS last_vacuum, \
     extract(epoch FROM pg_stat_get_last_autovacuum_time(c.oid))::float8 AS last_autovacuum, \
     extract(epoch FROM pg_stat_get_last_analyze_time(c.oid))::float8 AS last_analyze, \
     extract(epoch FROM pg_stat_get_last_autoanalyze_time(c.oid))::float8 AS last_autoanalyze, \
     pg_stat_get_vacuum_count(c.oid)::int8 AS vacuum_count, pg_stat_get_autovacuum_count(c.oid)::int8 AS autovacuum_count, \
     pg_stat_get_analyze_count(c.oid)::int8 AS analyze_count, pg_stat_get_autoanalyze_count(c.oid)::int8 AS autoanalyze_count \
     FROM unnest($1::int8[]) AS wanted(relid) \
     JOIN pg_catalog.pg_class c ON c.oid = wanted.relid::oid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     CROSS JOIN LATERAL (SELECT sum(pg_stat_get_numscans(i.indexrelid)) AS idx_scan, \
                                coalesce(sum(pg_stat_get_tuples_fetched(i.indexrelid)), 0) AS idx_tup_fetch \
                         FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) x \
     ORDER BY n.nspname, c.relname";

/// One table's sizes as last measured (slow cadence).
#[derive(Debug, Clone, PartialEq)]
pub struct TableSize {
    pub relid: i64,
    pub schemaname: String,
    pub relname: String,
    /// `pg_table_size` (heap + TOAST + maps); `None` when it could not be measured (the
    /// table was locked by a migration) and no earlier measurement exists.
    pub table_bytes: Option<f64>,
    pub index_bytes: Option<f64>,
}

pub fn map_stat_user_tables(rows: &[Row], sizes: &[TableSize]) -> anyhow::Result<Vec<Point>> {
    let mut points = Vec::new();
    for row in rows {
        let relid = row.number("relid")? as i64;
        let labels = vec![
            row.text("datname")?,
            row.text("schemaname")?,
            row.text("relname")?,
        ];
        for (column, desc) in STAT_USER_TABLES_COUNTERS
            .iter()
            .chain(&STAT_USER_TABLES_GAUGES)
        {
            points.push(Point::plain(desc, labels.clone(), row.number(column)?));
        }
        if let Some(size) = sizes.iter().find(|s| s.relid == relid) {
            if let Some(bytes) = size.table_bytes {
                points.push(Point::plain(&TABLE_SIZE, labels.clone(), bytes));
            }
            if let Some(bytes) = size.index_bytes {
                points.push(Point::plain(&INDEX_SIZE, labels, bytes));
            }
        }
    }
    Ok(points)
}

/// The `$1` largest user tables and their sizes. Ranked by the catalog's page counts
/// (`relpages` of the table, its TOAST table and its indexes, kept current by autovacuum
/// and ANALYZE): no file access and no lock for the thousands of tables outside the top N.
/// Only the top N are measured (`pg_table_size`, `pg_indexes_size`: file stats and a brief
/// `AccessShareLock`), and not those locked — or waiting to be locked — `ACCESS EXCLUSIVE`
/// (a migration): measuring them would queue behind the lock; their size comes back NULL.
pub const TABLE_SIZES_SQL: &str = "WITH locked AS ( \
       SELECT DISTINCT coalesce(i.indrelid, l.relation) AS relid \
       FROM pg_locks l LEFT JOIN pg_index i ON i.indexrelid = l.relation \
       WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())), \
     ranked AS ( \
       SELECT c.oid, n.nspname, c.relname, \
              c.relpages::int8 + coalesce(t.relpages, 0)::int8 \
                + coalesce((SELECT sum(ic.relpages) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid \
                            WHERE x.indrelid = c.oid), 0)::int8 AS pages \
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       LEFT JOIN pg_class t ON t.oid = c.reltoastrelid \
       WHERE c.relkind IN ('r', 'p', 'm') \
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
       ORDER BY pages DESC, n.nspname, c.relname \
       LIMIT $1), \
     top AS ( \
       SELECT ranked.*, EXISTS (SELECT 1 FROM locked WHERE locked.relid = ranked.oid) AS is_locked \
       FROM ranked) \
     SELECT oid::int8 AS relid, nspname::text AS schemaname, relname::text AS relname, is_locked, \
            CASE WHEN NOT is_locked THEN pg_table_size(oid) END::int8 AS table_bytes, \
            CASE WHEN NOT is_locked THEN pg_indexes_size(oid) END::int8 AS index_bytes \
     FROM top ORDER BY pages DESC, nspname, relname";

/// Maps the size rows; for a locked table keeps the sizes measured last time, if any.
pub fn map_table_sizes(rows: &[Row], previous: &[TableSize]) -> anyhow::Result<Vec<TableSize>> {
    let mut sizes = Vec::with_capacity(rows.len());
    for row in rows {
        let relid = row.number("relid")? as i64;
        let before = previous.iter().find(|s| s.relid == relid);
        let table_bytes = row
            .opt_number("table_bytes")?
            .or_else(|| before.and_then(|b| b.table_bytes));
        let index_bytes = row
            .opt_number("index_bytes")?
            .or_else(|| before.and_then(|b| b.index_bytes));
        sizes.push(TableSize {
            relid,
            schemaname: row.text("schemaname")?,
            relname: row.text("relname")?,
            table_bytes,
            index_bytes,
        });
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::super::rows::Cell;
    use super::*;

    #[test]
    fn descriptors_hold_every_column_table_entry_once() {
        let tables: [&[(&str, MetricDesc)]; 7] = [
            &STAT_DATABASE_COUNTERS,
            &STAT_DATABASE_CONFLICTS,
            &STAT_BGWRITER,
            &STAT_BGWRITER_BEFORE_17,
            &STAT_CHECKPOINTER,
            &STAT_USER_TABLES_COUNTERS,
            &STAT_USER_TABLES_GAUGES,
        ];
        for (column, desc) in tables.iter().flat_map(|t| t.iter()) {
            let found = DESCRIPTORS
                .iter()
                .filter(|d| std::ptr::eq(**d, desc))
                .count();
            assert_eq!(found, 1, "{column}: {} listed {found} times", desc.name);
        }
    }

    fn server(version_num: u32) -> ServerInfo {
        ServerInfo {
            version_num,
            version: "PostgreSQL x".into(),
        }
    }

    fn rendered(points: &[Point]) -> Vec<String> {
        points
            .iter()
            .map(|p| {
                format!(
                    "{}{{{}}} {:?}",
                    p.desc.name,
                    p.desc
                        .labels
                        .iter()
                        .zip(&p.labels)
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    p.value
                )
            })
            .collect()
    }

    #[test]
    fn server_label_is_host_and_port_as_postgres_exporter_makes_it() {
        // postgres_exporter's parseFingerprint (cmd/postgres_exporter/util.go): host or
        // "localhost", ":", port or "5432"; a `host` parameter is a socket directory.
        for (url, expected) in [
            ("postgres://u:secret@127.0.0.1:37255/app", "127.0.0.1:37255"),
            (
                "postgresql://u@db.example.org/mastodon",
                "db.example.org:5432",
            ),
            ("postgres://[::1]:6543/app", "::1:6543"),
            (
                "postgres:///app?host=/var/run/postgresql",
                "/var/run/postgresql:5432",
            ),
            ("postgres:///app?host=/tmp&port=5433", "/tmp:5433"),
            ("postgres:///app", "localhost:5432"),
            (
                "postgres://u:secret@h:1/app?password=p2&sslmode=disable",
                "h:1",
            ),
        ] {
            assert_eq!(server_label(url).as_deref(), Some(expected), "{url}");
        }
        assert_eq!(server_label("not a url"), None);
    }

    #[test]
    fn server_is_on_every_pg_family_but_pg_up_and_the_exporter_ones() {
        for desc in DESCRIPTORS
            .iter()
            .chain(super::super::statements::DESCRIPTORS)
        {
            let exporter_own = desc.name == "pg_up"
                || desc.name.starts_with("pg_exporter_")
                || desc.name.starts_with("pg_scrape_");
            assert_eq!(carries_server(desc), !exporter_own, "{}", desc.name);
            assert!(!desc.labels[..desc.labels.len().saturating_sub(1)].contains(&SERVER));
        }
        for desc in super::super::mastodon::DESCRIPTORS {
            assert!(!desc.labels.contains(&SERVER), "{}", desc.name);
        }
    }

    #[test]
    fn short_version_follows_postgres_exporter() {
        for (num, expected) in [
            (150018, "15.18.0"),
            (130000, "13.0.0"),
            (170002, "17.2.0"),
            (90624, "9.6.24"),
        ] {
            assert_eq!(short_version(num), expected, "{num}");
        }
    }

    #[test]
    fn queries_are_gated_by_server_version() {
        assert!(!stat_database_sql(130010).contains("active_time"));
        assert!(stat_database_sql(140000).contains("active_time"));
        assert!(stat_bgwriter_sql(160004).contains("checkpoints_timed"));
        assert!(!stat_bgwriter_sql(170000).contains("checkpoints_timed"));
        assert!(!stat_bgwriter_sql(170000).contains("buffers_backend"));
        assert_eq!(stat_checkpointer_sql(160004), None);
        assert!(stat_checkpointer_sql(170000).is_some());
    }

    #[test]
    fn stat_database_row_maps_to_exporter_families() {
        let mut cells = vec![
            ("datid", Cell::Number(5.0)),
            ("datname", Cell::Text("postgres".into())),
            ("numbackends", Cell::Number(3.0)),
            ("stats_reset", Cell::Null),
            ("active_time", Cell::Number(1.5)),
        ];
        for (column, _) in &STAT_DATABASE_COUNTERS {
            if *column != "stats_reset" {
                cells.push((column, Cell::Number(7.0)));
            }
        }
        let row = Row::of(cells);
        let points = map_stat_database(std::slice::from_ref(&row), &server(150018)).unwrap();
        let lines = rendered(&points);
        assert_eq!(
            lines[0],
            "pg_stat_database_numbackends{datid=5,datname=postgres} Plain(3.0)"
        );
        assert!(lines.contains(
            &"pg_stat_database_xact_commit{datid=5,datname=postgres} Plain(7.0)".to_string()
        ));
        assert!(
            lines.contains(
                &"pg_stat_database_active_time_seconds_total{datid=5,datname=postgres} Plain(1.5)"
                    .to_string()
            )
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("pg_stat_database_stats_reset"))
        );
        // 1 gauge + 15 counters (stats_reset NULL) + active_time
        assert_eq!(points.len(), 17);
        let on_13 = map_stat_database(&[row], &server(130000)).unwrap();
        assert_eq!(on_13.len(), 16);
    }

    #[test]
    fn replication_on_primary_and_replica() {
        let primary = Row::of([
            ("lag", Cell::Number(0.0)),
            ("is_replica", Cell::Bool(false)),
            ("last_replay", Cell::Null),
        ]);
        assert_eq!(
            rendered(&map_replication(&[primary], &server(150000)).unwrap()),
            [
                "pg_replication_lag_seconds{} Plain(0.0)",
                "pg_replication_lag{} Plain(0.0)",
                "pg_replication_is_replica{} Plain(0.0)"
            ]
        );
        let replica = Row::of([
            ("lag", Cell::Number(4.5)),
            ("is_replica", Cell::Bool(true)),
            ("last_replay", Cell::Number(4.5)),
        ]);
        assert_eq!(
            rendered(&map_replication(&[replica], &server(150000)).unwrap()),
            [
                "pg_replication_lag_seconds{} Plain(4.5)",
                "pg_replication_lag{} Plain(4.5)",
                "pg_replication_is_replica{} Plain(1.0)",
                "pg_replication_last_replay_seconds{} Plain(4.5)"
            ]
        );
    }

    #[test]
    fn bgwriter_columns_depend_on_version() {
        let mut cells = vec![];
        for (column, _) in STAT_BGWRITER.iter().chain(&STAT_BGWRITER_BEFORE_17) {
            cells.push((*column, Cell::Number(1.0)));
        }
        let row = Row::of(cells);
        assert_eq!(
            map_stat_bgwriter(std::slice::from_ref(&row), &server(160000))
                .unwrap()
                .len(),
            11
        );
        assert_eq!(map_stat_bgwriter(&[row], &server(170000)).unwrap().len(), 4);
    }

    #[test]
    fn archiver_age_is_absent_when_never_archived() {
        let never = Row::of([
            ("archived_count", Cell::Number(0.0)),
            ("failed_count", Cell::Number(2.0)),
            ("last_archived_time", Cell::Null),
            ("last_failed_time", Cell::Number(900.0)),
        ]);
        assert_eq!(
            rendered(&map_stat_archiver(&[never], &server(150000)).unwrap()),
            [
                "pg_stat_archiver_archived_count{} Plain(0.0)",
                "pg_stat_archiver_failed_count{} Plain(2.0)",
                "pg_stat_archiver_last_failed_time_seconds{} Plain(900.0)"
            ]
        );
        let archived = Row::of([
            ("archived_count", Cell::Number(3.0)),
            ("failed_count", Cell::Number(0.0)),
            ("last_archived_time", Cell::Number(1000.0)),
            ("last_failed_time", Cell::Null),
        ]);
        let points = map_stat_archiver(&[archived], &server(150000)).unwrap();
        assert_eq!(points[2].value, PointValue::AgeSince(1000.0));
        assert_eq!(points[2].value.resolve(1030.0), 30.0);
        assert_eq!(
            rendered(&points[3..]),
            ["pg_stat_archiver_last_archived_time_seconds{} Plain(1000.0)"]
        );
    }

    #[test]
    fn locked_tables_keep_their_previous_sizes() {
        let previous = vec![TableSize {
            relid: 10,
            schemaname: "public".into(),
            relname: "statuses".into(),
            table_bytes: Some(800.0),
            index_bytes: Some(100.0),
        }];
        let rows = vec![
            Row::of([
                ("relid", Cell::Number(10.0)),
                ("schemaname", Cell::Text("public".into())),
                ("relname", Cell::Text("statuses".into())),
                ("is_locked", Cell::Bool(true)),
                ("table_bytes", Cell::Null),
                ("index_bytes", Cell::Null),
            ]),
            Row::of([
                ("relid", Cell::Number(11.0)),
                ("schemaname", Cell::Text("public".into())),
                ("relname", Cell::Text("users".into())),
                ("is_locked", Cell::Bool(true)),
                ("table_bytes", Cell::Null),
                ("index_bytes", Cell::Null),
            ]),
        ];
        let sizes = map_table_sizes(&rows, &previous).unwrap();
        assert_eq!(sizes[0].table_bytes, Some(800.0));
        assert_eq!(sizes[0].index_bytes, Some(100.0));
        assert_eq!(sizes[1].table_bytes, None);
    }
}
