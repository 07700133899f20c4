//! The PostgreSQL collector: postgres_exporter's default families (plus long-running
//! transactions, wraparound age and the archiver), both sides of replication, and the
//! Mastodon-aware gauges when the database holds Mastodon's schema.
//!
//! Gentle by construction (DESIGN.md, "how to be gentle"):
//! - ONE connection per target, kept across runs and replaced only when it is lost or a run
//!   was cancelled mid-query (the old one is dropped before the new one is opened); no pool.
//! - `application_name=fedimeter`, `statement_timeout` and `lock_timeout` are startup
//!   options of the session, so every statement is bounded even if the run is cancelled.
//! - Queries are gated by server version (13–17) and read columns by name.
//! - Database and table sizes, settings and the Mastodon gauges run on slower cadences and
//!   are cached in between; table sizes are never measured on a table that is locked
//!   `ACCESS EXCLUSIVE` (a migration), and per-table series are capped at the top N tables.
//!
//! `queries` (SQL + pure row mapping), `settings`, `mastodon` and `rows` hold no I/O.

pub mod mastodon;
pub mod queries;
pub mod rows;
pub mod settings;
pub mod statements;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgSeverity};
use sqlx::{ConnectOptions, Connection};

use self::mastodon::{Cadence, Part, Schema};
use self::queries::{Point, ServerInfo, TableSize};
use self::rows::Row;
use super::runner::Job;
use super::{Collector, Sink};
use crate::config::{PostgresTarget, SecretUrl};
use crate::model::{Kind, TargetId};

pub use crate::config::options::PostgresOptions;

/// The application name fedimeter's session shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "fedimeter";

/// The runner job of one configured PostgreSQL target.
pub fn job(target: &PostgresTarget) -> Job {
    Job {
        id: TargetId::new(Kind::Postgres, &target.common.name),
        interval: target.common.interval,
        timeout: target.common.timeout,
        collector: Box::new(PostgresCollector::new(&target.url, target.options.clone())),
    }
}

/// Connection options for fedimeter's one session: the URL's, plus application name and
/// timeouts as startup options, and no statement logging.
pub fn connect_options(url: &str, options: &PostgresOptions) -> anyhow::Result<PgConnectOptions> {
    // The parse error may quote the URL: do not pass it on.
    let parsed = PgConnectOptions::from_str(url)
        .map_err(|_| anyhow!("the postgres url is not a valid postgres:// url"))?;
    Ok(parsed
        .application_name(APPLICATION_NAME)
        .options([
            (
                "statement_timeout",
                format!("{}ms", options.statement_timeout.as_millis()),
            ),
            (
                "lock_timeout",
                format!("{}ms", options.lock_timeout.as_millis()),
            ),
        ])
        .disable_statement_logging())
}

/// A query's bind parameter.
#[derive(Debug, Clone)]
enum Bind {
    None,
    Int8(i64),
    Int8Array(Vec<i64>),
}

/// How soon a slow group that failed is tried again (unless its own interval is shorter).
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);

/// One query group's state across runs (the `collector` label of `pg_scrape_collector_*`).
#[derive(Debug, Default)]
struct GroupState {
    last_attempt: Option<Instant>,
    last_success: bool,
    last_duration: f64,
    /// Skipped without querying (its table was locked): try again on the next run.
    retry_next_run: bool,
    /// A slow group keeps its points between refreshes; an every-run group hands them to
    /// the sink (no copy).
    cached: bool,
    points: Vec<Point>,
}

impl GroupState {
    /// Whether a group on `interval` (None: every run) should run now. A failed slow group
    /// is retried sooner, after at most [`RETRY_FAILED_AFTER`], but not on every run: a query
    /// that keeps hitting `statement_timeout` must not cost the server that much each run.
    fn is_due(&self, interval: Option<Duration>, now: Instant) -> bool {
        if self.retry_next_run {
            return true;
        }
        match (interval, self.last_attempt) {
            (None, _) | (_, None) => true,
            (Some(interval), Some(at)) => {
                let wait = if self.last_success {
                    interval
                } else {
                    interval.min(RETRY_FAILED_AFTER)
                };
                now.duration_since(at) >= wait
            }
        }
    }
}

/// What one group does.
enum Work {
    Simple {
        sql: String,
        map: fn(&[Row], &ServerInfo) -> anyhow::Result<Vec<Point>>,
    },
    TableSizes,
    StatUserTables,
    Mastodon(Part),
}

/// The PostgreSQL collector of one target.
pub struct PostgresCollector {
    /// `None` when the URL does not parse (every run then fails with that message).
    connect_options: Option<PgConnectOptions>,
    /// `host:port/database as user`, for messages (never the password).
    describe: String,
    /// The value of the `server` label ([`queries::SERVER`]): `host:port`, never the
    /// user or password.
    server: String,
    options: PostgresOptions,
    connection: Option<PgConnection>,
    /// Set while a run uses the connection: still set at the next run means the previous
    /// run was cancelled mid-query, so the connection's state is unknown and it is replaced.
    in_flight: bool,
    groups: HashMap<&'static str, GroupState>,
    table_sizes: Vec<TableSize>,
    scrapes_total: u64,
}

impl PostgresCollector {
    pub fn new(url: &SecretUrl, options: PostgresOptions) -> PostgresCollector {
        let connect_options = connect_options(url.expose(), &options).ok();
        let describe = match &connect_options {
            Some(o) => format!(
                "{}:{}/{} as {}",
                o.get_socket()
                    .map(|s| s.display().to_string())
                    .unwrap_or_else(|| o.get_host().to_string()),
                o.get_port(),
                o.get_database().unwrap_or(""),
                o.get_username()
            ),
            None => url.to_string(),
        };
        PostgresCollector {
            connect_options,
            describe,
            server: queries::server_label(url.expose()).unwrap_or_default(),
            options,
            connection: None,
            in_flight: false,
            groups: HashMap::new(),
            table_sizes: Vec::new(),
            scrapes_total: 0,
        }
    }

    /// Connects (or checks the kept connection) and reads the server's version. A kept
    /// connection that turns out to be lost is replaced once, within the same run.
    async fn connect(&mut self) -> anyhow::Result<ServerInfo> {
        if let Some(connection) = self.connection.as_mut() {
            match fetch(connection, queries::SERVER_INFO_SQL, Bind::None).await {
                Ok(rows) => return queries::map_server_info(&rows),
                Err(error) if is_connection_lost(&error) => {
                    tracing::info!(target: "fedimeter::collect::postgres", target_db = %self.describe,
                        "postgres connection lost ({error:#}); reconnecting");
                    self.connection = None;
                }
                Err(error) => return Err(error.context("select version()")),
            }
        }
        let options = self
            .connect_options
            .as_ref()
            .context("the postgres url is not a valid postgres:// url")?;
        let mut connection = PgConnection::connect_with(options)
            .await
            .with_context(|| format!("connecting to postgres {}", self.describe))?;
        let rows = fetch(&mut connection, queries::SERVER_INFO_SQL, Bind::None)
            .await
            .context("select version()")?;
        self.connection = Some(connection);
        queries::map_server_info(&rows)
    }

    /// The groups of this run, with their cadence (None: every run).
    fn plan(&self, server: &ServerInfo) -> Vec<(&'static str, Option<Duration>, Work)> {
        use queries as q;
        let simple = |sql: String, map| Work::Simple { sql, map };
        let v = server.version_num;
        let mut plan: Vec<(&'static str, Option<Duration>, Work)> = vec![
            (
                "stat_database",
                None,
                simple(q::stat_database_sql(v), q::map_stat_database),
            ),
            (
                "stat_database_conflicts",
                None,
                simple(
                    q::STAT_DATABASE_CONFLICTS_SQL.into(),
                    q::map_stat_database_conflicts,
                ),
            ),
            (
                "stat_activity",
                None,
                simple(q::STAT_ACTIVITY_SQL.into(), q::map_stat_activity),
            ),
            ("locks", None, simple(q::LOCKS_SQL.into(), q::map_locks)),
            (
                "replication",
                None,
                simple(q::REPLICATION_SQL.into(), q::map_replication),
            ),
            (
                "stat_replication",
                None,
                simple(q::STAT_REPLICATION_SQL.into(), q::map_stat_replication),
            ),
            (
                "replication_slots",
                None,
                simple(q::REPLICATION_SLOTS_SQL.into(), q::map_replication_slots),
            ),
            (
                "stat_bgwriter",
                None,
                simple(q::stat_bgwriter_sql(v), q::map_stat_bgwriter),
            ),
        ];
        if let Some(sql) = q::stat_checkpointer_sql(v) {
            plan.push((
                "stat_checkpointer",
                None,
                simple(sql.into(), q::map_stat_checkpointer),
            ));
        }
        plan.extend([
            (
                "stat_archiver",
                None,
                simple(q::STAT_ARCHIVER_SQL.into(), q::map_stat_archiver),
            ),
            (
                "postmaster",
                None,
                simple(q::POSTMASTER_SQL.into(), q::map_postmaster),
            ),
            (
                "long_running_transactions",
                None,
                simple(
                    q::LONG_RUNNING_TRANSACTIONS_SQL.into(),
                    q::map_long_running_transactions,
                ),
            ),
            (
                "database_wraparound",
                None,
                simple(q::WRAPAROUND_SQL.into(), q::map_wraparound),
            ),
            (
                "database",
                Some(self.options.size_interval),
                simple(q::DATABASE_SQL.into(), q::map_database),
            ),
            (
                "settings",
                Some(self.options.settings_interval),
                simple(settings::SETTINGS_SQL.into(), settings::map_settings),
            ),
        ]);
        if self.options.stat_statements {
            plan.push((
                "stat_statements",
                Some(self.options.stat_statements_interval),
                simple(
                    statements::stat_statements_sql(v, self.options.stat_statements_limit),
                    statements::map_stat_statements,
                ),
            ));
        }
        if self.options.statio_user_indexes {
            plan.push((
                "statio_user_indexes",
                None,
                simple(
                    statements::statio_user_indexes_sql(),
                    statements::map_statio_user_indexes,
                ),
            ));
        }
        if self.options.table_limit > 0 {
            plan.push((
                "table_sizes",
                Some(self.options.size_interval),
                Work::TableSizes,
            ));
            plan.push(("stat_user_tables", None, Work::StatUserTables));
        }
        if self.options.mastodon {
            for part in Part::ALL {
                let interval = match part.cadence() {
                    Cadence::Fast => self.options.mastodon_fast_interval,
                    Cadence::Normal => self.options.mastodon_interval,
                    Cadence::Slow => self.options.mastodon_slow_interval,
                };
                plan.push((part.collector_name(), Some(interval), Work::Mastodon(part)));
            }
        }
        plan
    }

    async fn collect_connected(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let server = self.connect().await?;
        let mut labels = queries::static_point(&server).labels;
        labels.push(self.server.clone());
        sink.sample(&queries::PG_STATIC, labels, 1.0);
        let plan = self.plan(&server);
        let run_started = Instant::now();
        // Mastodon's schema, detected at most once per run and only when a part is due.
        let mut schema: Option<Schema> = None;
        for (name, interval, work) in plan {
            let state = self.groups.entry(name).or_default();
            state.cached = interval.is_some();
            if !state.is_due(interval, run_started) {
                continue;
            }
            if let Work::Mastodon(part) = &work {
                if schema.is_none() {
                    let connection = self.connection.as_mut().context("no connection")?;
                    match fetch(connection, mastodon::DETECT_SQL, Bind::None).await {
                        Ok(rows) => schema = Some(mastodon::map_detect(&rows)?),
                        Err(error) if is_connection_lost(&error) => {
                            self.connection = None;
                            return Err(error.context("detecting mastodon's schema"));
                        }
                        Err(error) => {
                            sink.partial_error("mastodon schema detection", &error);
                            schema = Some(Schema::default());
                        }
                    }
                }
                let schema = schema.as_ref().context("schema detected above")?;
                if !schema.is_mastodon() {
                    // Not Mastodon's database: nothing to do, and nothing to report.
                    self.groups.remove(name);
                    continue;
                }
                if let Some(table) = part.table() {
                    if !schema.has(table) {
                        self.groups.remove(name);
                        continue;
                    }
                    if schema.is_locked(table) {
                        let state = self.groups.entry(name).or_default();
                        state.last_attempt = Some(Instant::now());
                        state.last_success = false;
                        state.last_duration = 0.0;
                        state.retry_next_run = true;
                        sink.partial_error(
                            name,
                            &anyhow!(
                                "table {} is locked ACCESS EXCLUSIVE (a migration?): skipped, last values kept",
                                table.name()
                            ),
                        );
                        continue;
                    }
                }
            }
            let started = Instant::now();
            let result = self.run_work(&server, &work).await;
            let duration = started.elapsed().as_secs_f64();
            let state = self.groups.entry(name).or_default();
            state.last_attempt = Some(started);
            state.last_duration = duration;
            state.retry_next_run = false;
            match result {
                Ok(points) => {
                    state.last_success = true;
                    state.points = points;
                }
                Err(error) => {
                    state.last_success = false;
                    // Every-run groups show nothing rather than stale data; slow groups keep
                    // their last values (that is what the cache is for).
                    if interval.is_none() {
                        state.points.clear();
                    }
                    if is_connection_lost(&error) {
                        self.connection = None;
                        return Err(error.context(format!("running the {name} queries")));
                    }
                    sink.partial_error(name, &error);
                }
            }
        }
        Ok(())
    }

    async fn run_work(&mut self, server: &ServerInfo, work: &Work) -> anyhow::Result<Vec<Point>> {
        let connection = self.connection.as_mut().context("no connection")?;
        match work {
            Work::Simple { sql, map } => {
                let rows = fetch(connection, sql, Bind::None).await?;
                map(&rows, server)
            }
            Work::TableSizes => {
                let limit = i64::try_from(self.options.table_limit).unwrap_or(i64::MAX);
                let rows = fetch(connection, queries::TABLE_SIZES_SQL, Bind::Int8(limit)).await?;
                self.table_sizes = queries::map_table_sizes(&rows, &self.table_sizes)?;
                // The sizes are emitted with the stat_user_tables rows.
                Ok(Vec::new())
            }
            Work::StatUserTables => {
                if self.table_sizes.is_empty() {
                    return Ok(Vec::new());
                }
                let relids = self.table_sizes.iter().map(|t| t.relid).collect();
                let rows = fetch(
                    connection,
                    queries::STAT_USER_TABLES_SQL,
                    Bind::Int8Array(relids),
                )
                .await?;
                queries::map_stat_user_tables(&rows, &self.table_sizes)
            }
            Work::Mastodon(part) => {
                let rows = fetch(connection, &part.sql(), Bind::None).await?;
                part.map(&rows)
            }
        }
    }

    /// Writes every group's current points and the per-group meta-metrics. Every-run groups
    /// move their points out (they are recomputed next run); slow groups keep a copy.
    fn emit(&mut self, sink: &mut Sink) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut names: Vec<&'static str> = self.groups.keys().copied().collect();
        names.sort_unstable();
        for name in names {
            let Some(state) = self.groups.get_mut(name) else {
                continue;
            };
            if state.last_attempt.is_none() {
                continue;
            }
            let server = self.server.as_str();
            if state.cached {
                for point in &state.points {
                    let with_server = queries::carries_server(point.desc).then_some(server);
                    sink.sample(
                        point.desc,
                        point.labels.iter().map(String::as_str).chain(with_server),
                        point.value.resolve(now),
                    );
                }
            } else {
                for point in std::mem::take(&mut state.points) {
                    let value = point.value.resolve(now);
                    let mut labels = point.labels;
                    if queries::carries_server(point.desc) {
                        labels.push(server.to_string());
                    }
                    sink.sample(point.desc, labels, value);
                }
            }
            sink.sample(&queries::COLLECTOR_DURATION, [name], state.last_duration);
            sink.sample(
                &queries::COLLECTOR_SUCCESS,
                [name],
                if state.last_success { 1.0 } else { 0.0 },
            );
        }
    }
}

#[async_trait]
impl Collector for PostgresCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let started = Instant::now();
        self.scrapes_total += 1;
        if self.in_flight {
            // The previous run was cancelled (timeout) in the middle of a query: whatever
            // the connection is doing, drop it (the server ends the backend when it notices)
            // before opening another, so there is never more than one.
            self.connection = None;
        }
        self.in_flight = true;
        let errors_before = sink.partial_errors().len();
        let result = self.collect_connected(sink).await;
        self.in_flight = false;
        if result.is_ok() {
            self.emit(sink);
        }
        let failed = result.is_err() || sink.partial_errors().len() > errors_before;
        sink.value(&queries::SCRAPES_TOTAL, self.scrapes_total as f64);
        sink.value(&queries::LAST_SCRAPE_ERROR, if failed { 1.0 } else { 0.0 });
        sink.value(
            &queries::LAST_SCRAPE_DURATION,
            started.elapsed().as_secs_f64(),
        );
        result
    }
}

/// Runs one query on the connection and decodes its rows.
async fn fetch(connection: &mut PgConnection, sql: &str, bind: Bind) -> anyhow::Result<Vec<Row>> {
    // Every query text is built here from constants and integers, never from input.
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let query = match bind {
        Bind::None => query,
        Bind::Int8(v) => query.bind(v),
        Bind::Int8Array(v) => query.bind(v),
    };
    let rows = query.fetch_all(&mut *connection).await?;
    rows::decode_all(&rows)
}

/// Whether `error` means the session is gone (the server closed it, the network failed,
/// the server is shutting down) rather than one statement failing.
fn is_connection_lost(error: &anyhow::Error) -> bool {
    let Some(error) = error.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let fatal = db
                .try_downcast_ref::<PgDatabaseError>()
                .is_some_and(|e| matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic));
            fatal || code.starts_with("08") || code.starts_with("57P")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_options_carry_name_and_timeouts() {
        let options = PostgresOptions {
            statement_timeout: Duration::from_millis(1500),
            ..PostgresOptions::default()
        };
        let connect =
            connect_options("postgres://u:secret@db.example:6543/mastodon", &options).unwrap();
        assert_eq!(connect.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(
            connect.get_options(),
            Some("-c statement_timeout=1500ms -c lock_timeout=1000ms")
        );
        assert_eq!(connect.get_port(), 6543);
        assert_eq!(connect.get_database(), Some("mastodon"));
    }

    #[test]
    fn bad_url_error_does_not_quote_the_url() {
        let error = connect_options("postgres://u:hunter2@[bad/x", &PostgresOptions::default())
            .unwrap_err();
        assert!(!format!("{error:#}").contains("hunter2"));
    }

    #[test]
    fn only_session_level_errors_count_as_a_lost_connection() {
        let io = anyhow::Error::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(is_connection_lost(&io));
        let io_with_context = io.context("running the locks queries");
        assert!(is_connection_lost(&io_with_context));
        assert!(is_connection_lost(&anyhow::Error::from(
            sqlx::Error::Protocol("unexpected message".into())
        )));
        assert!(!is_connection_lost(&anyhow::Error::from(
            sqlx::Error::RowNotFound
        )));
        assert!(!is_connection_lost(&anyhow!("column x is missing")));
    }

    #[test]
    fn slow_groups_run_when_due_and_failed_ones_retry_within_a_minute() {
        let now = Instant::now();
        let mut state = GroupState::default();
        let five_min = Some(Duration::from_secs(300));
        assert!(state.is_due(five_min, now));
        state.last_attempt = Some(now);
        state.last_success = true;
        assert!(!state.is_due(five_min, now + Duration::from_secs(299)));
        assert!(state.is_due(five_min, now + Duration::from_secs(300)));
        assert!(state.is_due(None, now));
        state.last_success = false;
        assert!(!state.is_due(five_min, now + Duration::from_secs(59)));
        assert!(state.is_due(five_min, now + Duration::from_secs(60)));
        assert!(state.is_due(Some(Duration::ZERO), now));
        state.retry_next_run = true;
        assert!(state.is_due(five_min, now + Duration::from_secs(1)));
    }
}
