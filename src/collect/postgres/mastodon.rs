//! Mastodon-aware gauges read from Mastodon's own tables (`mastodon_*` in METRICS.md).
//!
//! Only where the schema is there ([`DETECT_SQL`]); never an error where it is not. Every
//! query is cheap at Hachyderm scale (reference/mastodon-facts.md §10.1): small tables,
//! primary-key range scans over Snowflake ids for `statuses`, `pg_class.reltuples` for row
//! counts of the big tables. Each part runs on its own cadence and is cached in between.

use anyhow::Context;

use super::queries::{Point, PointValue};
use super::rows::Row;
use crate::model::MetricDesc;

pub static REPORTS_OPEN: MetricDesc = MetricDesc::gauge(
    "mastodon_reports_open",
    "Reports not yet resolved (action_taken_at IS NULL)",
    &[],
);
pub static REPORTS_UNASSIGNED: MetricDesc = MetricDesc::gauge(
    "mastodon_reports_unassigned",
    "Open reports no moderator is assigned to",
    &[],
);
pub static OLDEST_OPEN_REPORT_AGE: MetricDesc = MetricDesc::gauge(
    "mastodon_oldest_open_report_age_seconds",
    "Age of the oldest open report (0 when there is none)",
    &[],
);
pub static PENDING_SIGNUPS: MetricDesc = MetricDesc::gauge(
    "mastodon_pending_signups",
    "Sign-ups waiting for approval (users.approved = false)",
    &[],
);
pub static OLDEST_PENDING_SIGNUP_AGE: MetricDesc = MetricDesc::gauge(
    "mastodon_oldest_pending_signup_age_seconds",
    "Age of the oldest sign-up waiting for approval (0 when there is none)",
    &[],
);
pub static ACTIVE_USERS: MetricDesc = MetricDesc::gauge(
    "mastodon_active_users",
    "Local users signed in within the window (users.current_sign_in_at, refreshed at most daily per user)",
    &["window"],
);
pub static USERS: MetricDesc = MetricDesc::gauge("mastodon_users", "Local users", &[]);
pub static NEWEST_STATUS_AGE: MetricDesc = MetricDesc::gauge(
    "mastodon_newest_status_age_seconds",
    "Age of the newest status by origin, from its Snowflake id (absent when none in the last day)",
    &["origin"],
);
pub static STATUSES_CREATED: MetricDesc = MetricDesc::gauge(
    "mastodon_statuses_created",
    "Statuses created in the last 5 minutes by origin (Snowflake id range; remote ones by published time)",
    &["origin"],
);
pub static UNAVAILABLE_DOMAINS: MetricDesc = MetricDesc::gauge(
    "mastodon_unavailable_domains",
    "Domains Mastodon stopped delivering to (unavailable_domains)",
    &[],
);
pub static SOFTWARE_UPDATES_PENDING: MetricDesc = MetricDesc::gauge(
    "mastodon_software_updates_pending",
    "Mastodon releases newer than the running one, by urgency (urgent = security release)",
    &["urgent"],
);
pub static TABLE_ROWS_ESTIMATE: MetricDesc = MetricDesc::gauge(
    "mastodon_table_rows_estimate",
    "Planner estimate of a big table's rows (pg_class.reltuples, updated by ANALYZE)",
    &["table"],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &REPORTS_OPEN,
    &REPORTS_UNASSIGNED,
    &OLDEST_OPEN_REPORT_AGE,
    &PENDING_SIGNUPS,
    &OLDEST_PENDING_SIGNUP_AGE,
    &ACTIVE_USERS,
    &USERS,
    &NEWEST_STATUS_AGE,
    &STATUSES_CREATED,
    &UNAVAILABLE_DOMAINS,
    &SOFTWARE_UPDATES_PENDING,
    &TABLE_ROWS_ESTIMATE,
];

/// Snowflake ids (`lib/mastodon/snowflake.rb`): 48 bits of milliseconds since the Unix
/// epoch, then 16 bits of sequence.
pub const SNOWFLAKE_SEQUENCE_BITS: u32 = 16;

/// The Unix time (seconds) at which the Snowflake `id` was generated.
pub fn snowflake_unix_seconds(id: i64) -> f64 {
    (id >> SNOWFLAKE_SEQUENCE_BITS) as f64 / 1000.0
}

/// The lowest Snowflake id generated at or after `unix_ms`.
pub fn snowflake_lowest_id_at(unix_ms: i64) -> i64 {
    unix_ms << SNOWFLAKE_SEQUENCE_BITS
}

/// The same bound in SQL, for `now() - <interval>` (Mastodon's own trick in
/// `global_follow_recommendations`).
fn lowest_id_since_sql(interval: &str) -> String {
    format!(
        "((extract(epoch FROM now() - interval '{interval}') * 1000)::int8 << {SNOWFLAKE_SEQUENCE_BITS})"
    )
}

/// Which Mastodon tables exist (their oids) and which relations are locked
/// `ACCESS EXCLUSIVE` right now (held or requested: a waiting request blocks us too).
pub const DETECT_SQL: &str = "SELECT \
     to_regclass('public.statuses')::oid::int8 AS statuses, \
     to_regclass('public.users')::oid::int8 AS users, \
     to_regclass('public.accounts')::oid::int8 AS accounts, \
     to_regclass('public.reports')::oid::int8 AS reports, \
     to_regclass('public.unavailable_domains')::oid::int8 AS unavailable_domains, \
     to_regclass('public.software_updates')::oid::int8 AS software_updates, \
     coalesce((SELECT string_agg(DISTINCT relation::int8::text, ',') FROM pg_locks \
       WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())), '') AS locked";

/// The tables the Mastodon parts read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Statuses,
    Users,
    Accounts,
    Reports,
    UnavailableDomains,
    SoftwareUpdates,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Statuses => "statuses",
            Table::Users => "users",
            Table::Accounts => "accounts",
            Table::Reports => "reports",
            Table::UnavailableDomains => "unavailable_domains",
            Table::SoftwareUpdates => "software_updates",
        }
    }

    const ALL: [Table; 6] = [
        Table::Statuses,
        Table::Users,
        Table::Accounts,
        Table::Reports,
        Table::UnavailableDomains,
        Table::SoftwareUpdates,
    ];
}

/// What [`DETECT_SQL`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// `(table, oid)` of the tables that exist.
    pub tables: Vec<(Table, i64)>,
    /// Relations locked (or waiting to be locked) `ACCESS EXCLUSIVE`.
    pub locked: Vec<i64>,
}

impl Schema {
    /// Mastodon's schema: `statuses`, `users` and `accounts` all exist.
    pub fn is_mastodon(&self) -> bool {
        [Table::Statuses, Table::Users, Table::Accounts]
            .iter()
            .all(|t| self.has(*t))
    }

    pub fn has(&self, table: Table) -> bool {
        self.tables.iter().any(|(t, _)| *t == table)
    }

    pub fn is_locked(&self, table: Table) -> bool {
        self.tables
            .iter()
            .any(|(t, oid)| *t == table && self.locked.contains(oid))
    }
}

pub fn map_detect(rows: &[Row]) -> anyhow::Result<Schema> {
    let row = rows
        .first()
        .context("mastodon schema detection returned no row")?;
    let mut tables = Vec::new();
    for table in Table::ALL {
        if let Some(oid) = row.opt_number(table.name())? {
            tables.push((table, oid as i64));
        }
    }
    let locked = row
        .text("locked")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("bad relation oid {s:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Schema { tables, locked })
}

/// The Mastodon parts, each with its own cadence class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Reports,
    Signups,
    Statuses,
    Users,
    UnavailableDomains,
    SoftwareUpdates,
    RowEstimates,
}

/// How often a part refreshes (the intervals come from `PostgresOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Moderation queues and ingest freshness: default 1 min.
    Fast,
    /// Users, federation, estimates: default 5 min.
    Normal,
    /// Software updates (Mastodon refreshes them every 30 min): default 15 min.
    Slow,
}

impl Part {
    pub const ALL: [Part; 7] = [
        Part::Reports,
        Part::Signups,
        Part::Statuses,
        Part::Users,
        Part::UnavailableDomains,
        Part::SoftwareUpdates,
        Part::RowEstimates,
    ];

    /// The `collector` label of `pg_scrape_collector_*`.
    pub fn collector_name(self) -> &'static str {
        match self {
            Part::Reports => "mastodon_reports",
            Part::Signups => "mastodon_signups",
            Part::Statuses => "mastodon_statuses",
            Part::Users => "mastodon_users",
            Part::UnavailableDomains => "mastodon_unavailable_domains",
            Part::SoftwareUpdates => "mastodon_software_updates",
            Part::RowEstimates => "mastodon_row_estimates",
        }
    }

    pub fn cadence(self) -> Cadence {
        match self {
            Part::Reports | Part::Signups | Part::Statuses => Cadence::Fast,
            Part::Users | Part::UnavailableDomains | Part::RowEstimates => Cadence::Normal,
            Part::SoftwareUpdates => Cadence::Slow,
        }
    }

    /// The table the part reads (none: catalog only).
    pub fn table(self) -> Option<Table> {
        match self {
            Part::Reports => Some(Table::Reports),
            Part::Signups | Part::Users => Some(Table::Users),
            Part::Statuses => Some(Table::Statuses),
            Part::UnavailableDomains => Some(Table::UnavailableDomains),
            Part::SoftwareUpdates => Some(Table::SoftwareUpdates),
            Part::RowEstimates => None,
        }
    }

    pub fn sql(self) -> String {
        match self {
            Part::Reports => "SELECT count(*)::int8 AS open, \
                 count(*) FILTER (WHERE assigned_account_id IS NULL)::int8 AS unassigned, \
                 extract(epoch FROM min(created_at))::float8 AS oldest \
                 FROM reports WHERE action_taken_at IS NULL"
                .to_string(),
            Part::Signups => "SELECT count(*)::int8 AS pending, \
                 extract(epoch FROM min(created_at))::float8 AS oldest \
                 FROM users WHERE approved = false"
                .to_string(),
            Part::Users => "SELECT count(*)::int8 AS users, \
                 count(*) FILTER (WHERE current_sign_in_at > now() - interval '1 day')::int8 AS d1, \
                 count(*) FILTER (WHERE current_sign_in_at > now() - interval '7 days')::int8 AS d7, \
                 count(*) FILTER (WHERE current_sign_in_at > now() - interval '30 days')::int8 AS d30 \
                 FROM users"
                .to_string(),
            Part::Statuses => {
                // One primary-key range scan over the last hour; only when an origin has no
                // status in that hour, one backwards scan bounded to the last day (an
                // InitPlan, evaluated only when coalesce needs it).
                let local = "(coalesce(local, false) OR uri IS NULL)";
                let hour = lowest_id_since_sql("1 hour");
                let five_minutes = lowest_id_since_sql("5 minutes");
                let day = lowest_id_since_sql("1 day");
                format!(
                    "WITH recent AS ( \
                       SELECT max(id) FILTER (WHERE {local}) AS newest_local, \
                              max(id) FILTER (WHERE NOT {local}) AS newest_remote, \
                              count(*) FILTER (WHERE id >= {five_minutes} AND {local}) AS created_local, \
                              count(*) FILTER (WHERE id >= {five_minutes} AND NOT {local}) AS created_remote \
                       FROM statuses WHERE id >= {hour}) \
                     SELECT coalesce(newest_local, (SELECT id FROM statuses WHERE id >= {day} AND {local} \
                                                    ORDER BY id DESC LIMIT 1))::int8 AS newest_local, \
                            coalesce(newest_remote, (SELECT id FROM statuses WHERE id >= {day} AND NOT {local} \
                                                     ORDER BY id DESC LIMIT 1))::int8 AS newest_remote, \
                            created_local::int8 AS created_local, created_remote::int8 AS created_remote \
                     FROM recent"
                )
            }
            Part::UnavailableDomains => {
                "SELECT count(*)::int8 AS domains FROM unavailable_domains".to_string()
            }
            Part::SoftwareUpdates => "SELECT count(*) FILTER (WHERE urgent)::int8 AS urgent, \
                 count(*) FILTER (WHERE urgent IS NOT TRUE)::int8 AS not_urgent \
                 FROM software_updates"
                .to_string(),
            Part::RowEstimates => "SELECT c.relname::text AS table_name, c.reltuples::float8 AS estimate \
                 FROM pg_class c WHERE c.oid IN (to_regclass('public.statuses'), \
                 to_regclass('public.accounts'), to_regclass('public.media_attachments')) \
                 ORDER BY c.relname"
                .to_string(),
        }
    }

    pub fn map(self, rows: &[Row]) -> anyhow::Result<Vec<Point>> {
        let first = || rows.first().context("query returned no row");
        Ok(match self {
            Part::Reports => {
                let row = first()?;
                vec![
                    Point::single(&REPORTS_OPEN, row.number("open")?),
                    Point::single(&REPORTS_UNASSIGNED, row.number("unassigned")?),
                    age_or_zero(&OLDEST_OPEN_REPORT_AGE, row.opt_number("oldest")?),
                ]
            }
            Part::Signups => {
                let row = first()?;
                vec![
                    Point::single(&PENDING_SIGNUPS, row.number("pending")?),
                    age_or_zero(&OLDEST_PENDING_SIGNUP_AGE, row.opt_number("oldest")?),
                ]
            }
            Part::Users => {
                let row = first()?;
                vec![
                    Point::single(&USERS, row.number("users")?),
                    Point::plain(&ACTIVE_USERS, vec!["1d".into()], row.number("d1")?),
                    Point::plain(&ACTIVE_USERS, vec!["7d".into()], row.number("d7")?),
                    Point::plain(&ACTIVE_USERS, vec!["30d".into()], row.number("d30")?),
                ]
            }
            Part::Statuses => {
                let row = first()?;
                let mut points = Vec::new();
                for origin in ["local", "remote"] {
                    if let Some(id) = row.opt_number(&format!("newest_{origin}"))? {
                        points.push(Point {
                            desc: &NEWEST_STATUS_AGE,
                            labels: vec![origin.into()],
                            value: PointValue::AgeSince(snowflake_unix_seconds(id as i64)),
                        });
                    }
                }
                for origin in ["local", "remote"] {
                    points.push(Point::plain(
                        &STATUSES_CREATED,
                        vec![origin.into()],
                        row.number(&format!("created_{origin}"))?,
                    ));
                }
                points
            }
            Part::UnavailableDomains => {
                vec![Point::single(
                    &UNAVAILABLE_DOMAINS,
                    first()?.number("domains")?,
                )]
            }
            Part::SoftwareUpdates => {
                let row = first()?;
                vec![
                    Point::plain(
                        &SOFTWARE_UPDATES_PENDING,
                        vec!["true".into()],
                        row.number("urgent")?,
                    ),
                    Point::plain(
                        &SOFTWARE_UPDATES_PENDING,
                        vec!["false".into()],
                        row.number("not_urgent")?,
                    ),
                ]
            }
            Part::RowEstimates => {
                let mut points = Vec::new();
                for row in rows {
                    // reltuples is -1 for a table never vacuumed or analyzed (PG 14+).
                    let estimate = row.number("estimate")?;
                    if estimate >= 0.0 {
                        points.push(Point::plain(
                            &TABLE_ROWS_ESTIMATE,
                            vec![row.text("table_name")?],
                            estimate,
                        ));
                    }
                }
                points
            }
        })
    }
}

/// An age gauge: since `at` (Unix seconds), or 0 when there is nothing waiting.
fn age_or_zero(desc: &'static MetricDesc, at: Option<f64>) -> Point {
    match at {
        Some(at) => Point {
            desc,
            labels: Vec::new(),
            value: PointValue::AgeSince(at),
        },
        None => Point::single(desc, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::super::rows::Cell;
    use super::*;

    #[test]
    fn snowflake_math_round_trips() {
        // 2024-01-01T00:00:00Z = 1704067200000 ms.
        let id = snowflake_lowest_id_at(1_704_067_200_000);
        assert_eq!(id, 111_677_748_019_200_000);
        assert_eq!(snowflake_unix_seconds(id), 1_704_067_200.0);
        // The 16 sequence bits do not change the time.
        assert_eq!(snowflake_unix_seconds(id + 0xffff), 1_704_067_200.0);
        assert_eq!(snowflake_unix_seconds(id + 0x10000), 1_704_067_200.001);
        // An id of the shape mastodon.social hands out (2022-11-06T20:19:21.498Z).
        assert_eq!(
            snowflake_unix_seconds(109_298_710_052_734_080),
            1_667_765_961.498
        );
    }

    #[test]
    fn detection_reads_tables_and_locks() {
        let row = Row::of([
            ("statuses", Cell::Number(100.0)),
            ("users", Cell::Number(101.0)),
            ("accounts", Cell::Number(102.0)),
            ("reports", Cell::Null),
            ("unavailable_domains", Cell::Number(104.0)),
            ("software_updates", Cell::Null),
            ("locked", Cell::Text("100,7".into())),
        ]);
        let schema = map_detect(&[row]).unwrap();
        assert!(schema.is_mastodon());
        assert!(schema.has(Table::UnavailableDomains));
        assert!(!schema.has(Table::Reports));
        assert!(schema.is_locked(Table::Statuses));
        assert!(!schema.is_locked(Table::Users));
        let empty = Row::of([
            ("statuses", Cell::Null),
            ("users", Cell::Null),
            ("accounts", Cell::Null),
            ("reports", Cell::Null),
            ("unavailable_domains", Cell::Null),
            ("software_updates", Cell::Null),
            ("locked", Cell::Text(String::new())),
        ]);
        assert!(!map_detect(&[empty]).unwrap().is_mastodon());
    }

    #[test]
    fn statuses_row_maps_to_ages_and_counts() {
        let id = snowflake_lowest_id_at(1_700_000_000_000);
        let row = Row::of([
            ("newest_local", Cell::Number(id as f64)),
            ("newest_remote", Cell::Null),
            ("created_local", Cell::Number(2.0)),
            ("created_remote", Cell::Number(0.0)),
        ]);
        let points = Part::Statuses.map(&[row]).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].labels, ["local"]);
        assert_eq!(points[0].value.resolve(1_700_000_030.0), 30.0);
        assert_eq!(points[1].desc.name, "mastodon_statuses_created");
        assert_eq!(points[2].value, PointValue::Plain(0.0));
    }

    #[test]
    fn empty_queues_have_zero_age() {
        let row = Row::of([
            ("open", Cell::Number(0.0)),
            ("unassigned", Cell::Number(0.0)),
            ("oldest", Cell::Null),
        ]);
        let points = Part::Reports.map(&[row]).unwrap();
        assert_eq!(points[2].value, PointValue::Plain(0.0));
    }

    #[test]
    fn never_analyzed_tables_have_no_estimate() {
        let rows = [
            Row::of([
                ("table_name", Cell::Text("accounts".into())),
                ("estimate", Cell::Number(-1.0)),
            ]),
            Row::of([
                ("table_name", Cell::Text("statuses".into())),
                ("estimate", Cell::Number(42.0)),
            ]),
        ];
        let points = Part::RowEstimates.map(&rows).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].labels, ["statuses"]);
    }
}
