//! Pure parsing of the admin console's `SHOW` results: one result is a list of column
//! names and rows of text cells ([`ShowTable`]); [`families_from_show`] reads every value by
//! column *name*, so the column sets of PgBouncer 1.16–1.25 all work. A column this
//! PgBouncer does not have means its family is omitted (never exported as 0); a column we do
//! not know is ignored. No I/O, no clock.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::descriptors::{DATABASE_LABELS, POOL_LABELS, STATS_LABELS, *};
use super::{OTHER_APPLICATION_NAME, PgbouncerOptions};
use crate::collect::Sink;
use crate::model::MetricDesc;

/// A numeric column exported as one family: the first of `columns` that the result has is
/// read (PgBouncer renamed some columns), its value divided by `divisor`.
struct ColumnMetric {
    columns: &'static [&'static str],
    desc: &'static MetricDesc,
    divisor: f64,
}

impl ColumnMetric {
    /// A count (or bytes), exported as is.
    const fn count(columns: &'static [&'static str], desc: &'static MetricDesc) -> Self {
        ColumnMetric {
            columns,
            desc,
            divisor: 1.0,
        }
    }

    /// A time in microseconds, exported in seconds.
    const fn micros(columns: &'static [&'static str], desc: &'static MetricDesc) -> Self {
        ColumnMetric {
            columns,
            desc,
            divisor: MICROSECONDS_PER_SECOND,
        }
    }
}

/// PgBouncer reports times in microseconds; dividing (rather than multiplying by 1e-6)
/// keeps values such as 23401 µs exactly `0.023401`.
const MICROSECONDS_PER_SECOND: f64 = 1e6;

static POOL_COLUMNS: &[ColumnMetric] = &[
    ColumnMetric::count(&["cl_active"], &POOLS_CLIENT_ACTIVE),
    ColumnMetric::count(&["cl_waiting"], &POOLS_CLIENT_WAITING),
    ColumnMetric::count(&["cl_active_cancel_req"], &POOLS_CLIENT_ACTIVE_CANCEL),
    ColumnMetric::count(&["cl_waiting_cancel_req"], &POOLS_CLIENT_WAITING_CANCEL),
    ColumnMetric::count(&["sv_active"], &POOLS_SERVER_ACTIVE),
    ColumnMetric::count(&["sv_active_cancel"], &POOLS_SERVER_ACTIVE_CANCEL),
    ColumnMetric::count(&["sv_being_canceled"], &POOLS_SERVER_BEING_CANCELED),
    ColumnMetric::count(&["sv_idle"], &POOLS_SERVER_IDLE),
    ColumnMetric::count(&["sv_used"], &POOLS_SERVER_USED),
    ColumnMetric::count(&["sv_tested"], &POOLS_SERVER_TESTING),
    ColumnMetric::count(&["sv_login"], &POOLS_SERVER_LOGIN),
];

static STATS_TOTALS_COLUMNS: &[ColumnMetric] = &[
    ColumnMetric::count(&["query_count"], &STATS_QUERIES_POOLED),
    ColumnMetric::micros(&["query_time"], &STATS_QUERIES_DURATION),
    ColumnMetric::count(&["bytes_received"], &STATS_RECEIVED_BYTES),
    ColumnMetric::count(&["bytes_sent"], &STATS_SENT_BYTES),
    ColumnMetric::micros(&["wait_time"], &STATS_CLIENT_WAIT),
    ColumnMetric::count(&["xact_count"], &STATS_TRANSACTIONS_POOLED),
    ColumnMetric::micros(&["xact_time"], &STATS_SERVER_IN_TRANSACTION),
    ColumnMetric::count(&["client_parse_count"], &STATS_CLIENT_PARSES),
    ColumnMetric::count(&["server_parse_count"], &STATS_SERVER_PARSES),
    ColumnMetric::count(&["bind_count"], &STATS_BINDS),
    ColumnMetric::count(&["server_assignment_count"], &STATS_SERVER_ASSIGNMENTS),
];

/// The `legacy_names` aliases: the same columns under pgbouncer_exporter's pre-0.11 names.
static LEGACY_STATS_TOTALS_COLUMNS: &[ColumnMetric] = &[
    ColumnMetric::count(&["query_count"], &LEGACY_STATS_QUERIES_POOLED),
    ColumnMetric::micros(&["query_time"], &LEGACY_STATS_QUERIES_DURATION),
    ColumnMetric::count(&["bytes_received"], &LEGACY_STATS_RECEIVED_BYTES),
    ColumnMetric::count(&["bytes_sent"], &LEGACY_STATS_SENT_BYTES),
    ColumnMetric::micros(&["wait_time"], &LEGACY_STATS_CLIENT_WAIT),
    ColumnMetric::micros(&["xact_time"], &LEGACY_STATS_SERVER_IN_TRANSACTION),
    ColumnMetric::count(&["xact_count"], &LEGACY_STATS_TRANSACTIONS_POOLED),
];

static DATABASE_COLUMNS: &[ColumnMetric] = &[
    ColumnMetric::count(&["pool_size"], &DATABASES_POOL_SIZE),
    ColumnMetric::count(
        &["reserve_pool", "reserve_pool_size"],
        &DATABASES_RESERVE_POOL,
    ),
    ColumnMetric::count(&["max_connections"], &DATABASES_MAX_CONNECTIONS),
    ColumnMetric::count(&["current_connections"], &DATABASES_CURRENT_CONNECTIONS),
    ColumnMetric::count(&["paused"], &DATABASES_PAUSED),
    ColumnMetric::count(&["disabled"], &DATABASES_DISABLED),
];

/// `SHOW LISTS` row name → family.
static LISTS: &[(&str, &MetricDesc)] = &[
    ("databases", &LISTS_DATABASES),
    ("users", &LISTS_USERS),
    ("pools", &LISTS_POOLS),
    ("free_clients", &LISTS_FREE_CLIENTS),
    ("used_clients", &LISTS_USED_CLIENTS),
    ("login_clients", &LISTS_LOGIN_CLIENTS),
    ("free_servers", &LISTS_FREE_SERVERS),
    ("used_servers", &LISTS_USED_SERVERS),
    ("dns_names", &LISTS_DNS_NAMES),
    ("dns_zones", &LISTS_DNS_ZONES),
    ("dns_queries", &LISTS_DNS_QUERIES),
];

/// `SHOW CONFIG` key → family.
static CONFIG_KEYS: &[(&str, &MetricDesc)] = &[
    ("max_client_conn", &CONFIG_MAX_CLIENT_CONNECTIONS),
    ("max_user_connections", &CONFIG_MAX_USER_CONNECTIONS),
];

// ---------------------------------------------------------------------------------------
// Pure parsing
// ---------------------------------------------------------------------------------------

/// The admin console commands this collector runs, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Show {
    Version,
    Lists,
    Config,
    Databases,
    Pools,
    StatsTotals,
    Clients,
}

impl Show {
    /// Every command, in run order (`Clients` only runs when opted in).
    pub const ALL: [Show; 7] = [
        Show::Version,
        Show::Lists,
        Show::Config,
        Show::Databases,
        Show::Pools,
        Show::StatsTotals,
        Show::Clients,
    ];

    pub fn sql(self) -> &'static str {
        match self {
            Show::Version => "SHOW VERSION",
            Show::Lists => "SHOW LISTS",
            Show::Config => "SHOW CONFIG",
            Show::Databases => "SHOW DATABASES",
            Show::Pools => "SHOW POOLS",
            Show::StatsTotals => "SHOW STATS_TOTALS",
            Show::Clients => "SHOW CLIENTS",
        }
    }
}

/// One `SHOW` result as the admin console sends it: column names, and rows of text cells
/// (`None` is SQL NULL). Values are only ever looked up by column name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShowTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ShowTable {
    /// A table from borrowed column names and cells (handy in tests).
    pub fn new(columns: &[&str], rows: &[&[Option<&str>]]) -> Self {
        ShowTable {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|row| row.iter().map(|cell| cell.map(str::to_owned)).collect())
                .collect(),
        }
    }

    /// Index of the column named `name`, if this result has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Index of the first of `names` that this result has.
    fn first_column(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.column(n))
    }

    /// The cell of `row` in `column`; `None` for NULL, an absent column or a short row.
    fn cell(row: &[Option<String>], column: Option<usize>) -> Option<&str> {
        column.and_then(|i| row.get(i)).and_then(|c| c.as_deref())
    }

    /// Parses the unaligned output of `psql -A -F'|' -P null='\N' -P footer=off -c 'SHOW …'`:
    /// a header line of column names, then one line per row; `\N` is NULL. This is how the
    /// fixtures captured from real PgBouncers are stored.
    pub fn from_psql_unaligned(text: &str) -> Self {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let columns = lines
            .next()
            .map(|h| h.split('|').map(str::to_owned).collect())
            .unwrap_or_default();
        let rows = lines
            .map(|line| {
                line.split('|')
                    .map(|cell| (cell != "\\N").then(|| cell.to_owned()))
                    .collect()
            })
            .collect();
        ShowTable { columns, rows }
    }
}

/// The results of one run, by command. A command that failed or did not run is absent.
#[derive(Debug, Clone, Default)]
pub struct ShowResults {
    pub tables: HashMap<Show, ShowTable>,
}

impl ShowResults {
    pub fn get(&self, show: Show) -> Option<&ShowTable> {
        self.tables.get(&show)
    }
}

/// What [`families_from_show`] could not turn into samples.
#[derive(Debug, Default, PartialEq)]
pub struct ParseReport {
    /// Cells that should be numbers and are not (one entry per command and column).
    pub problems: Vec<String>,
    /// Commands whose rows were cut at [`PgbouncerOptions::max_pools`]: (command, rows seen).
    pub truncated: Vec<(Show, usize)>,
}

/// Turns one run's `SHOW` results into samples. Pure: no I/O, no clock.
pub fn families_from_show(
    results: &ShowResults,
    options: &PgbouncerOptions,
    sink: &mut Sink,
) -> ParseReport {
    let mut report = ParseReport::default();
    if let Some(table) = results.get(Show::Version) {
        version_samples(table, sink);
    }
    if let Some(table) = results.get(Show::Lists) {
        key_value_samples(
            table,
            Show::Lists,
            "list",
            "items",
            LISTS,
            sink,
            &mut report,
        );
    }
    if let Some(table) = results.get(Show::Config) {
        key_value_samples(
            table,
            Show::Config,
            "key",
            "value",
            CONFIG_KEYS,
            sink,
            &mut report,
        );
    }
    if let Some(table) = results.get(Show::Databases) {
        column_samples(
            table,
            Show::Databases,
            DATABASE_LABELS,
            DATABASE_COLUMNS,
            options.max_pools,
            sink,
            &mut report,
        );
    }
    if let Some(table) = results.get(Show::Pools) {
        column_samples(
            table,
            Show::Pools,
            POOL_LABELS,
            POOL_COLUMNS,
            options.max_pools,
            sink,
            &mut report,
        );
        maxwait_samples(table, options.max_pools, sink, &mut report);
        saturation_samples(
            table,
            results.get(Show::Databases),
            results.get(Show::Config),
            options.max_pools,
            sink,
        );
    }
    if let Some(table) = results.get(Show::StatsTotals) {
        column_samples(
            table,
            Show::StatsTotals,
            STATS_LABELS,
            STATS_TOTALS_COLUMNS,
            options.max_pools,
            sink,
            &mut report,
        );
        if options.legacy_names {
            // Same cells under second names: bad cells and truncation were reported by the
            // pass above, so this pass's report is dropped.
            let mut legacy = ParseReport::default();
            column_samples(
                table,
                Show::StatsTotals,
                STATS_LABELS,
                LEGACY_STATS_TOTALS_COLUMNS,
                options.max_pools,
                sink,
                &mut legacy,
            );
        }
    }
    if options.client_connections {
        if let Some(table) = results.get(Show::Clients) {
            client_connection_samples(
                table,
                options.client_connections_max_application_names,
                sink,
            );
        }
    }
    report
}

/// Parses a numeric cell as PgBouncer writes it (integers; NUMERIC for the totals).
fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Records a non-numeric cell once per command and column.
fn note_bad_cell(report: &mut ParseReport, show: Show, column: &str, cell: &str) {
    let problem = format!("{}: column {column} is not a number: {cell:?}", show.sql());
    let prefix = format!("{}: column {column} ", show.sql());
    if !report.problems.iter().any(|p| p.starts_with(&prefix)) {
        report.problems.push(problem);
    }
}

fn version_samples(table: &ShowTable, sink: &mut Sink) {
    let column = table.column("version");
    if let Some(version) = table
        .rows
        .first()
        .and_then(|row| ShowTable::cell(row, column))
    {
        sink.sample(&VERSION_INFO, [version], 1.0);
    }
}

/// `SHOW LISTS` and `SHOW CONFIG`: one row per item; `wanted` maps item names to families.
fn key_value_samples(
    table: &ShowTable,
    show: Show,
    key_column: &str,
    value_column: &str,
    wanted: &[(&str, &'static MetricDesc)],
    sink: &mut Sink,
    report: &mut ParseReport,
) {
    let (key, value) = (table.column(key_column), table.column(value_column));
    for row in &table.rows {
        let Some(name) = ShowTable::cell(row, key) else {
            continue;
        };
        let Some((_, desc)) = wanted.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        match ShowTable::cell(row, value).map(|c| (c, parse_number(c))) {
            Some((_, Some(v))) => sink.value(desc, v),
            Some((cell, None)) => note_bad_cell(report, show, name, cell),
            None => {}
        }
    }
}

/// Label values of `row`: each label is read from the column of the same name; NULL or an
/// absent column gives `""` (as pgbouncer_exporter does).
fn label_values(table: &ShowTable, row: &[Option<String>], labels: &[&str]) -> Vec<String> {
    labels
        .iter()
        .map(|l| {
            ShowTable::cell(row, table.column(l))
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Rows beyond `max_rows`, noted once per command in the report.
fn capped_rows<'a>(
    table: &'a ShowTable,
    show: Show,
    max_rows: usize,
    report: Option<&mut ParseReport>,
) -> &'a [Vec<Option<String>>] {
    if table.rows.len() > max_rows {
        if let Some(report) = report {
            if !report.truncated.iter().any(|(s, _)| *s == show) {
                report.truncated.push((show, table.rows.len()));
            }
        }
        &table.rows[..max_rows]
    } else {
        &table.rows
    }
}

/// One family per known numeric column that this result has; rows give the samples.
fn column_samples(
    table: &ShowTable,
    show: Show,
    labels: &[&str],
    metrics: &[ColumnMetric],
    max_rows: usize,
    sink: &mut Sink,
    report: &mut ParseReport,
) {
    let rows = capped_rows(table, show, max_rows, Some(report));
    let present: Vec<(&ColumnMetric, usize)> = metrics
        .iter()
        .filter_map(|m| table.first_column(m.columns).map(|i| (m, i)))
        .collect();
    for row in rows {
        let label_values = label_values(table, row, labels);
        for (metric, index) in &present {
            let Some(cell) = ShowTable::cell(row, Some(*index)) else {
                continue;
            };
            match parse_number(cell) {
                Some(v) => sink.sample(
                    metric.desc,
                    label_values.iter().cloned(),
                    v / metric.divisor,
                ),
                None => note_bad_cell(report, show, &table.columns[*index], cell),
            }
        }
    }
}

/// `maxwait + maxwait_us / 1e6`: pgbouncer_exporter reads only the whole seconds, so waits
/// under a second read 0 there.
fn maxwait_samples(table: &ShowTable, max_rows: usize, sink: &mut Sink, report: &mut ParseReport) {
    let Some(seconds_column) = table.column("maxwait") else {
        return;
    };
    let micros_column = table.column("maxwait_us");
    for row in capped_rows(table, Show::Pools, max_rows, None) {
        let Some(cell) = ShowTable::cell(row, Some(seconds_column)) else {
            continue;
        };
        let Some(seconds) = parse_number(cell) else {
            note_bad_cell(report, Show::Pools, "maxwait", cell);
            continue;
        };
        let micros = match ShowTable::cell(row, micros_column).map(|c| (c, parse_number(c))) {
            Some((_, Some(us))) => us,
            Some((cell, None)) => {
                note_bad_cell(report, Show::Pools, "maxwait_us", cell);
                0.0
            }
            None => 0.0,
        };
        sink.sample(
            &POOLS_CLIENT_MAXWAIT,
            label_values(table, row, POOL_LABELS),
            seconds + micros / MICROSECONDS_PER_SECOND,
        );
    }
}

/// The pool size that applies to pools of `database`: its `SHOW DATABASES` `pool_size`, or
/// `default_pool_size` from `SHOW CONFIG` when that is missing. `None` when neither is a
/// positive number.
fn pool_sizes(
    databases: Option<&ShowTable>,
    config: Option<&ShowTable>,
) -> (HashMap<String, f64>, Option<f64>) {
    let mut sizes = HashMap::new();
    if let Some(table) = databases {
        let (name, size) = (table.column("name"), table.column("pool_size"));
        for row in &table.rows {
            if let (Some(n), Some(s)) = (
                ShowTable::cell(row, name),
                ShowTable::cell(row, size).and_then(parse_number),
            ) {
                if s > 0.0 {
                    sizes.insert(n.to_owned(), s);
                }
            }
        }
    }
    let default = config.and_then(|table| {
        let (key, value) = (table.column("key"), table.column("value"));
        table
            .rows
            .iter()
            .find(|row| ShowTable::cell(row, key) == Some("default_pool_size"))
            .and_then(|row| ShowTable::cell(row, value))
            .and_then(parse_number)
            .filter(|v| *v > 0.0)
    });
    (sizes, default)
}

/// `pgbouncer_pools_saturation_ratio = sv_active / pool size` per pool.
fn saturation_samples(
    pools: &ShowTable,
    databases: Option<&ShowTable>,
    config: Option<&ShowTable>,
    max_rows: usize,
    sink: &mut Sink,
) {
    let Some(active_column) = pools.column("sv_active") else {
        return;
    };
    let database_column = pools.column("database");
    let (sizes, default) = pool_sizes(databases, config);
    for row in capped_rows(pools, Show::Pools, max_rows, None) {
        let Some(active) = ShowTable::cell(row, Some(active_column)).and_then(parse_number) else {
            continue;
        };
        let database = ShowTable::cell(row, database_column).unwrap_or("");
        let Some(size) = sizes.get(database).copied().or(default) else {
            continue;
        };
        sink.sample(
            &POOLS_SATURATION,
            label_values(pools, row, POOL_LABELS),
            active / size,
        );
    }
}

/// `SHOW CLIENTS` counted by (database, user, application_name, state), with at most
/// `max_application_names` distinct application names (the rest become
/// [`OTHER_APPLICATION_NAME`]).
fn client_connection_samples(table: &ShowTable, max_application_names: usize, sink: &mut Sink) {
    let application_column = table.column("application_name");
    let mut per_application: HashMap<&str, u64> = HashMap::new();
    for row in &table.rows {
        let app = ShowTable::cell(row, application_column).unwrap_or("");
        *per_application.entry(app).or_default() += 1;
    }
    let mut ranked: Vec<(&str, u64)> = per_application.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept: HashSet<&str> = ranked
        .iter()
        .take(max_application_names)
        .map(|(name, _)| *name)
        .collect();

    let (database, user, state) = (
        table.column("database"),
        table.column("user"),
        table.column("state"),
    );
    let mut counts: BTreeMap<[&str; 4], u64> = BTreeMap::new();
    for row in &table.rows {
        let app = ShowTable::cell(row, application_column).unwrap_or("");
        let app = if kept.contains(app) {
            app
        } else {
            OTHER_APPLICATION_NAME
        };
        let key = [
            ShowTable::cell(row, database).unwrap_or(""),
            ShowTable::cell(row, user).unwrap_or(""),
            app,
            ShowTable::cell(row, state).unwrap_or(""),
        ];
        *counts.entry(key).or_default() += 1;
    }
    for (labels, count) in counts {
        sink.sample(&CLIENT_CONNECTIONS, labels, count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::exposition::{Format, render_families};

    /// Captured from a real PgBouncer 1.18.0 (Debian 12) in transaction mode: database `app`
    /// with `pool_size=2`, five clients holding transactions (two active, three waiting).
    fn captured_1_18() -> ShowResults {
        let fixture = |text: &str| ShowTable::from_psql_unaligned(text);
        let mut results = ShowResults::default();
        for (show, text) in [
            (
                Show::Version,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/version.txt"),
            ),
            (
                Show::Lists,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/lists.txt"),
            ),
            (
                Show::Config,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/config.txt"),
            ),
            (
                Show::Databases,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/databases.txt"),
            ),
            (
                Show::Pools,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/pools.txt"),
            ),
            (
                Show::StatsTotals,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/stats_totals.txt"),
            ),
            (
                Show::Clients,
                include_str!("../../../tests/fixtures/pgbouncer/1.18/clients.txt"),
            ),
        ] {
            results.tables.insert(show, fixture(text));
        }
        results
    }

    /// A table written as psql's unaligned output (header line, `|` separators, `\N` NULL).
    fn table(text: &str) -> ShowTable {
        ShowTable::from_psql_unaligned(text)
    }

    fn results(tables: Vec<(Show, ShowTable)>) -> ShowResults {
        ShowResults {
            tables: tables.into_iter().collect(),
        }
    }

    /// Renders the samples of `results` in the text format, keeping only the lines of
    /// families whose name starts with one of `prefixes` (all when empty).
    fn render(
        results: &ShowResults,
        options: &PgbouncerOptions,
        prefixes: &[&str],
    ) -> (String, ParseReport) {
        let mut sink = Sink::new();
        let report = families_from_show(results, options, &mut sink);
        let (families, _) = sink.into_parts();
        let text = render_families(families.iter().map(|f| (f, None)), Format::Text);
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| prefixes.is_empty() || prefixes.iter().any(|p| l.starts_with(p)))
            .collect();
        (kept.join("\n"), report)
    }

    fn check(results: &ShowResults, options: &PgbouncerOptions, prefixes: &[&str], expect: &str) {
        let (got, report) = render(results, options, prefixes);
        assert_eq!(got, expect.trim(), "\n--- got ---\n{got}\n");
        assert_eq!(report, ParseReport::default());
    }

    #[test]
    fn captured_pgbouncer_1_18_gives_every_family_it_has() {
        check(
            &captured_1_18(),
            &PgbouncerOptions::default(),
            &[],
            r#"
pgbouncer_cached_dns_names 0
pgbouncer_cached_dns_zones 0
pgbouncer_config_max_client_connections 100
pgbouncer_config_max_user_connections 0
pgbouncer_databases 3
pgbouncer_databases_current_connections{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 2
pgbouncer_databases_current_connections{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 1
pgbouncer_databases_current_connections{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 0
pgbouncer_databases_disabled{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_disabled{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_disabled{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 0
pgbouncer_databases_max_connections{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_max_connections{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_max_connections{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 0
pgbouncer_databases_paused{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_paused{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_paused{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 0
pgbouncer_databases_pool_size{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 2
pgbouncer_databases_pool_size{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 7
pgbouncer_databases_pool_size{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 2
pgbouncer_databases_reserve_pool{name="app",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_reserve_pool{name="other",host="127.0.0.1",port="55432",database="postgres",force_user="",pool_mode=""} 0
pgbouncer_databases_reserve_pool{name="pgbouncer",host="",port="56432",database="pgbouncer",force_user="pgbouncer",pool_mode="statement"} 0
pgbouncer_free_clients 44
pgbouncer_free_servers 47
pgbouncer_in_flight_dns_queries 0
pgbouncer_login_clients 0
pgbouncer_pools 3
pgbouncer_pools_client_active_cancel_connections{database="app",user="postgres"} 0
pgbouncer_pools_client_active_cancel_connections{database="other",user="postgres"} 0
pgbouncer_pools_client_active_cancel_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_client_active_connections{database="app",user="postgres"} 2
pgbouncer_pools_client_active_connections{database="other",user="postgres"} 0
pgbouncer_pools_client_active_connections{database="pgbouncer",user="pgbouncer"} 1
pgbouncer_pools_client_maxwait_seconds{database="app",user="postgres"} 1.567392
pgbouncer_pools_client_maxwait_seconds{database="other",user="postgres"} 0
pgbouncer_pools_client_maxwait_seconds{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_client_waiting_cancel_connections{database="app",user="postgres"} 0
pgbouncer_pools_client_waiting_cancel_connections{database="other",user="postgres"} 0
pgbouncer_pools_client_waiting_cancel_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_client_waiting_connections{database="app",user="postgres"} 3
pgbouncer_pools_client_waiting_connections{database="other",user="postgres"} 0
pgbouncer_pools_client_waiting_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_saturation_ratio{database="app",user="postgres"} 1
pgbouncer_pools_saturation_ratio{database="other",user="postgres"} 0
pgbouncer_pools_saturation_ratio{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_active_cancel_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_active_cancel_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_active_cancel_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_active_connections{database="app",user="postgres"} 2
pgbouncer_pools_server_active_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_active_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_being_canceled_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_being_canceled_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_being_canceled_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_idle_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_idle_connections{database="other",user="postgres"} 1
pgbouncer_pools_server_idle_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_login_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_login_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_login_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_testing_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_testing_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_testing_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_pools_server_used_connections{database="app",user="postgres"} 0
pgbouncer_pools_server_used_connections{database="other",user="postgres"} 0
pgbouncer_pools_server_used_connections{database="pgbouncer",user="pgbouncer"} 0
pgbouncer_stats_totals_client_wait_seconds_total{database="app"} 0.023401
pgbouncer_stats_totals_client_wait_seconds_total{database="other"} 0.002585
pgbouncer_stats_totals_client_wait_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_totals_queries_duration_seconds_total{database="app"} 0
pgbouncer_stats_totals_queries_duration_seconds_total{database="other"} 0.000246
pgbouncer_stats_totals_queries_duration_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_totals_queries_pooled_total{database="app"} 5
pgbouncer_stats_totals_queries_pooled_total{database="other"} 1
pgbouncer_stats_totals_queries_pooled_total{database="pgbouncer"} 3
pgbouncer_stats_totals_received_bytes_total{database="app"} 80
pgbouncer_stats_totals_received_bytes_total{database="other"} 14
pgbouncer_stats_totals_received_bytes_total{database="pgbouncer"} 0
pgbouncer_stats_totals_sent_bytes_total{database="app"} 90
pgbouncer_stats_totals_sent_bytes_total{database="other"} 108
pgbouncer_stats_totals_sent_bytes_total{database="pgbouncer"} 0
pgbouncer_stats_totals_server_in_transaction_seconds_total{database="app"} 0
pgbouncer_stats_totals_server_in_transaction_seconds_total{database="other"} 0.000246
pgbouncer_stats_totals_server_in_transaction_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_totals_sql_transactions_pooled_total{database="app"} 5
pgbouncer_stats_totals_sql_transactions_pooled_total{database="other"} 1
pgbouncer_stats_totals_sql_transactions_pooled_total{database="pgbouncer"} 3
pgbouncer_used_clients 6
pgbouncer_used_servers 3
pgbouncer_users 3
pgbouncer_version_info{version="PgBouncer 1.18.0"} 1
"#,
        );
    }

    /// `legacy_names`: the seven pre-0.11 names carry the same values as their
    /// `stats_totals_` forms (stats_totals.txt by hand: µs → s for the three times); off by
    /// default.
    #[test]
    fn legacy_names_repeat_the_stats_totals_under_pre_0_11_names() {
        let legacy = [
            "pgbouncer_stats_client_",
            "pgbouncer_stats_queries_",
            "pgbouncer_stats_received_",
            "pgbouncer_stats_sent_",
            "pgbouncer_stats_server_",
            "pgbouncer_stats_sql_",
        ];
        let (text, _) = render(&captured_1_18(), &PgbouncerOptions::default(), &legacy);
        assert_eq!(text, "", "legacy names must be off by default");
        let options = PgbouncerOptions {
            legacy_names: true,
            ..PgbouncerOptions::default()
        };
        check(
            &captured_1_18(),
            &options,
            &legacy,
            r#"
pgbouncer_stats_client_wait_seconds_total{database="app"} 0.023401
pgbouncer_stats_client_wait_seconds_total{database="other"} 0.002585
pgbouncer_stats_client_wait_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_queries_duration_seconds_total{database="app"} 0
pgbouncer_stats_queries_duration_seconds_total{database="other"} 0.000246
pgbouncer_stats_queries_duration_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_queries_pooled_total{database="app"} 5
pgbouncer_stats_queries_pooled_total{database="other"} 1
pgbouncer_stats_queries_pooled_total{database="pgbouncer"} 3
pgbouncer_stats_received_bytes_total{database="app"} 80
pgbouncer_stats_received_bytes_total{database="other"} 14
pgbouncer_stats_received_bytes_total{database="pgbouncer"} 0
pgbouncer_stats_sent_bytes_total{database="app"} 90
pgbouncer_stats_sent_bytes_total{database="other"} 108
pgbouncer_stats_sent_bytes_total{database="pgbouncer"} 0
pgbouncer_stats_server_in_transaction_seconds_total{database="app"} 0
pgbouncer_stats_server_in_transaction_seconds_total{database="other"} 0.000246
pgbouncer_stats_server_in_transaction_seconds_total{database="pgbouncer"} 0
pgbouncer_stats_sql_transactions_pooled_total{database="app"} 5
pgbouncer_stats_sql_transactions_pooled_total{database="other"} 1
pgbouncer_stats_sql_transactions_pooled_total{database="pgbouncer"} 3
"#,
        );
    }

    #[test]
    fn stats_totals_of_1_18_have_no_prepared_statement_or_assignment_families() {
        let (text, _) = render(&captured_1_18(), &PgbouncerOptions::default(), &[]);
        for absent in [
            "pgbouncer_stats_totals_client_parses_total",
            "pgbouncer_stats_totals_server_parses_total",
            "pgbouncer_stats_totals_binds_total",
            "pgbouncer_stats_totals_server_assignments_total",
            "pgbouncer_client_connections",
        ] {
            assert!(
                !text.contains(absent),
                "{absent} must be omitted, got:\n{text}"
            );
        }
    }

    #[test]
    fn a_future_version_with_an_unknown_and_a_missing_column_keeps_the_rest() {
        // Pools as a later PgBouncer might send them: a new column `load_balance_hosts`
        // (unknown here) and no `sv_used` any more.
        let pools = table(
            r"
database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|sv_active_cancel|sv_being_canceled|sv_idle|sv_tested|sv_login|maxwait|maxwait_us|pool_mode|load_balance_hosts
mastodon|mastodon|12|4|0|0|10|0|0|0|0|0|0|250000|transaction|round-robin
",
        );
        check(
            &results(vec![(Show::Pools, pools)]),
            &PgbouncerOptions::default(),
            &[],
            r#"
pgbouncer_pools_client_active_cancel_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_client_active_connections{database="mastodon",user="mastodon"} 12
pgbouncer_pools_client_maxwait_seconds{database="mastodon",user="mastodon"} 0.25
pgbouncer_pools_client_waiting_cancel_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_client_waiting_connections{database="mastodon",user="mastodon"} 4
pgbouncer_pools_server_active_cancel_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_server_active_connections{database="mastodon",user="mastodon"} 10
pgbouncer_pools_server_being_canceled_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_server_idle_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_server_login_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_server_testing_connections{database="mastodon",user="mastodon"} 0
"#,
        );
    }

    #[test]
    fn pools_of_1_16_omit_the_split_cancel_columns() {
        // PgBouncer 1.16 had one `cl_cancel_req` column and no sv_*_cancel columns.
        let pools = table(
            r"
database|user|cl_active|cl_waiting|cl_cancel_req|sv_active|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode
mastodon|mastodon|3|0|1|3|2|0|0|0|2|5|transaction
",
        );
        check(
            &results(vec![(Show::Pools, pools)]),
            &PgbouncerOptions::default(),
            &["pgbouncer_pools_client", "pgbouncer_pools_server_active"],
            r#"
pgbouncer_pools_client_active_connections{database="mastodon",user="mastodon"} 3
pgbouncer_pools_client_maxwait_seconds{database="mastodon",user="mastodon"} 2.000005
pgbouncer_pools_client_waiting_connections{database="mastodon",user="mastodon"} 0
pgbouncer_pools_server_active_connections{database="mastodon",user="mastodon"} 3
"#,
        );
    }

    #[test]
    fn stats_totals_of_1_25_fill_the_prepared_statement_and_assignment_counters() {
        // Column set of PgBouncer 1.25 (`client_connect_count` is unknown here).
        let totals = table(
            r"
database|server_assignment_count|xact_count|query_count|bytes_received|bytes_sent|xact_time|query_time|wait_time|client_parse_count|server_parse_count|bind_count|client_connect_count
mastodon|900|1000|2500|123456|654321|4500000|3000001|1500|40|12|800|77
",
        );
        check(
            &results(vec![(Show::StatsTotals, totals)]),
            &PgbouncerOptions::default(),
            &[],
            r#"
pgbouncer_stats_totals_binds_total{database="mastodon"} 800
pgbouncer_stats_totals_client_parses_total{database="mastodon"} 40
pgbouncer_stats_totals_client_wait_seconds_total{database="mastodon"} 0.0015
pgbouncer_stats_totals_queries_duration_seconds_total{database="mastodon"} 3.000001
pgbouncer_stats_totals_queries_pooled_total{database="mastodon"} 2500
pgbouncer_stats_totals_received_bytes_total{database="mastodon"} 123456
pgbouncer_stats_totals_sent_bytes_total{database="mastodon"} 654321
pgbouncer_stats_totals_server_assignments_total{database="mastodon"} 900
pgbouncer_stats_totals_server_in_transaction_seconds_total{database="mastodon"} 4.5
pgbouncer_stats_totals_server_parses_total{database="mastodon"} 12
pgbouncer_stats_totals_sql_transactions_pooled_total{database="mastodon"} 1000
"#,
        );
    }

    #[test]
    fn databases_of_1_24_read_reserve_pool_size_and_null_labels_as_empty() {
        let databases = table(
            r"
name|host|port|database|force_user|pool_size|min_pool_size|reserve_pool_size|server_lifetime|pool_mode|load_balance_hosts|max_connections|current_connections|max_client_connections|current_client_connections|paused|disabled
mastodon|10.0.0.5|5432|mastodon_production|\N|20|0|5|3600|\N|\N|0|18|0|40|0|1
",
        );
        check(
            &results(vec![(Show::Databases, databases)]),
            &PgbouncerOptions::default(),
            &[],
            r#"
pgbouncer_databases_current_connections{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 18
pgbouncer_databases_disabled{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 1
pgbouncer_databases_max_connections{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 0
pgbouncer_databases_paused{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 0
pgbouncer_databases_pool_size{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 20
pgbouncer_databases_reserve_pool{name="mastodon",host="10.0.0.5",port="5432",database="mastodon_production",force_user="",pool_mode=""} 5
"#,
        );
    }

    #[test]
    fn maxwait_without_microseconds_column_is_whole_seconds() {
        let pools = table("database|user|maxwait\ndb|u|3");
        check(
            &results(vec![(Show::Pools, pools)]),
            &PgbouncerOptions::default(),
            &[],
            r#"pgbouncer_pools_client_maxwait_seconds{database="db",user="u"} 3"#,
        );
    }

    #[test]
    fn saturation_uses_the_database_pool_size_else_default_pool_size() {
        let pools = table(
            r"
database|user|sv_active
sized|u|3
null_size|u|5
unlisted|u|10
reserve|u|6
",
        );
        let databases = table("name|pool_size\nsized|4\nnull_size|\\N\nreserve|4");
        let config = table("key|value|default|changeable\ndefault_pool_size|20|20|yes");
        check(
            &results(vec![
                (Show::Pools, pools.clone()),
                (Show::Databases, databases.clone()),
                (Show::Config, config),
            ]),
            &PgbouncerOptions::default(),
            &["pgbouncer_pools_saturation_ratio"],
            r#"
pgbouncer_pools_saturation_ratio{database="sized",user="u"} 0.75
pgbouncer_pools_saturation_ratio{database="null_size",user="u"} 0.25
pgbouncer_pools_saturation_ratio{database="unlisted",user="u"} 0.5
pgbouncer_pools_saturation_ratio{database="reserve",user="u"} 1.5
"#,
        );
        // Without SHOW CONFIG only the databases with a pool size of their own have a ratio.
        check(
            &results(vec![(Show::Pools, pools), (Show::Databases, databases)]),
            &PgbouncerOptions::default(),
            &["pgbouncer_pools_saturation_ratio"],
            r#"
pgbouncer_pools_saturation_ratio{database="sized",user="u"} 0.75
pgbouncer_pools_saturation_ratio{database="reserve",user="u"} 1.5
"#,
        );
    }

    #[test]
    fn null_cells_are_skipped_and_non_numbers_reported_once_per_column() {
        let pools = table("database|user|cl_active|cl_waiting\na|u|\\N|x\nb|u|1|y");
        let (text, report) = render(
            &results(vec![(Show::Pools, pools)]),
            &PgbouncerOptions::default(),
            &[],
        );
        assert_eq!(
            text,
            r#"pgbouncer_pools_client_active_connections{database="b",user="u"} 1"#
        );
        assert_eq!(
            report.problems,
            vec![r#"SHOW POOLS: column cl_waiting is not a number: "x""#.to_string()]
        );
    }

    #[test]
    fn rows_beyond_max_pools_are_dropped_and_reported() {
        let pools =
            table("database|user|cl_active|sv_active|maxwait\na|u|1|1|0\nb|u|2|1|0\nc|u|3|1|0");
        let options = PgbouncerOptions {
            max_pools: 2,
            ..PgbouncerOptions::default()
        };
        let (text, report) = render(
            &results(vec![(Show::Pools, pools)]),
            &options,
            &["pgbouncer_pools_client_active"],
        );
        assert_eq!(
            text,
            "pgbouncer_pools_client_active_connections{database=\"a\",user=\"u\"} 1\n\
             pgbouncer_pools_client_active_connections{database=\"b\",user=\"u\"} 2"
        );
        assert_eq!(report.truncated, vec![(Show::Pools, 3)]);
    }

    #[test]
    fn client_connections_are_opt_in_and_aggregated() {
        let options = PgbouncerOptions {
            client_connections: true,
            ..PgbouncerOptions::default()
        };
        check(
            &captured_1_18(),
            &options,
            &["pgbouncer_client_connections"],
            r#"
pgbouncer_client_connections{database="app",user="postgres",application_name="holder1",state="active"} 1
pgbouncer_client_connections{database="app",user="postgres",application_name="holder2",state="waiting"} 1
pgbouncer_client_connections{database="app",user="postgres",application_name="holder3",state="waiting"} 1
pgbouncer_client_connections{database="app",user="postgres",application_name="holder4",state="waiting"} 1
pgbouncer_client_connections{database="app",user="postgres",application_name="holder5",state="active"} 1
pgbouncer_client_connections{database="pgbouncer",user="pgbouncer",application_name="psql",state="active"} 1
"#,
        );
    }

    #[test]
    fn application_names_beyond_the_cap_count_as_other() {
        let clients = table(
            r"
database|user|state|application_name
mastodon|mastodon|active|puma
mastodon|mastodon|idle|puma
mastodon|mastodon|idle|puma
mastodon|mastodon|active|sidekiq
mastodon|mastodon|waiting|sidekiq
mastodon|mastodon|active|psql
mastodon|mastodon|idle|random-1
",
        );
        let options = PgbouncerOptions {
            client_connections: true,
            client_connections_max_application_names: 2,
            ..PgbouncerOptions::default()
        };
        check(
            &results(vec![(Show::Clients, clients)]),
            &options,
            &[],
            r#"
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="other",state="active"} 1
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="other",state="idle"} 1
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="puma",state="active"} 1
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="puma",state="idle"} 2
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="sidekiq",state="active"} 1
pgbouncer_client_connections{database="mastodon",user="mastodon",application_name="sidekiq",state="waiting"} 1
"#,
        );
    }

    #[test]
    fn no_results_no_families() {
        check(
            &ShowResults::default(),
            &PgbouncerOptions::default(),
            &[],
            "",
        );
    }
}
