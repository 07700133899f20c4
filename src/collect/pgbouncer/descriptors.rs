//! PgBouncer's metric descriptors (METRICS.md "PgBouncer"; names as pgbouncer_exporter
//! ≥0.11) and their [`DESCRIPTORS`] list.

use crate::model::MetricDesc;

// ---------------------------------------------------------------------------------------
// Metric descriptors (METRICS.md "PgBouncer"; names as pgbouncer_exporter ≥0.11)
// ---------------------------------------------------------------------------------------

pub(super) const POOL_LABELS: &[&str] = &["database", "user"];
pub(super) const STATS_LABELS: &[&str] = &["database"];
pub(super) const DATABASE_LABELS: &[&str] = &[
    "name",
    "host",
    "port",
    "database",
    "force_user",
    "pool_mode",
];
const CLIENT_LABELS: &[&str] = &["database", "user", "application_name", "state"];

pub static VERSION_INFO: MetricDesc = MetricDesc::gauge(
    "pgbouncer_version_info",
    "PgBouncer version as reported by SHOW VERSION (value is always 1)",
    &["version"],
);

pub static POOLS_CLIENT_ACTIVE: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_client_active_connections",
    "Client connections linked to a server connection or idle with no query waiting (SHOW POOLS cl_active)",
    POOL_LABELS,
);
pub static POOLS_CLIENT_WAITING: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_client_waiting_connections",
    "Client connections that sent a query but have no server connection yet (SHOW POOLS cl_waiting)",
    POOL_LABELS,
);
pub static POOLS_CLIENT_ACTIVE_CANCEL: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_client_active_cancel_connections",
    "Client connections that forwarded a cancel request and wait for the server's answer (SHOW POOLS cl_active_cancel_req)",
    POOL_LABELS,
);
pub static POOLS_CLIENT_WAITING_CANCEL: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_client_waiting_cancel_connections",
    "Client connections whose cancel request has not been forwarded yet (SHOW POOLS cl_waiting_cancel_req)",
    POOL_LABELS,
);
pub static POOLS_SERVER_ACTIVE: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_active_connections",
    "Server connections linked to a client (SHOW POOLS sv_active)",
    POOL_LABELS,
);
pub static POOLS_SERVER_ACTIVE_CANCEL: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_active_cancel_connections",
    "Server connections forwarding a cancel request (SHOW POOLS sv_active_cancel)",
    POOL_LABELS,
);
pub static POOLS_SERVER_BEING_CANCELED: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_being_canceled_connections",
    "Server connections waiting for in-flight cancel requests before becoming idle (SHOW POOLS sv_being_canceled)",
    POOL_LABELS,
);
pub static POOLS_SERVER_IDLE: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_idle_connections",
    "Server connections unused and ready for a client (SHOW POOLS sv_idle)",
    POOL_LABELS,
);
pub static POOLS_SERVER_USED: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_used_connections",
    "Server connections idle longer than server_check_delay, to be checked before reuse (SHOW POOLS sv_used)",
    POOL_LABELS,
);
pub static POOLS_SERVER_TESTING: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_testing_connections",
    "Server connections running server_reset_query or server_check_query (SHOW POOLS sv_tested)",
    POOL_LABELS,
);
pub static POOLS_SERVER_LOGIN: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_server_login_connections",
    "Server connections logging in to PostgreSQL (SHOW POOLS sv_login)",
    POOL_LABELS,
);
pub static POOLS_CLIENT_MAXWAIT: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_client_maxwait_seconds",
    "How long the oldest waiting client has waited for a server connection, with microseconds (SHOW POOLS maxwait + maxwait_us)",
    POOL_LABELS,
);
pub static POOLS_SATURATION: MetricDesc = MetricDesc::gauge(
    "pgbouncer_pools_saturation_ratio",
    "Server connections linked to clients (sv_active) divided by the pool size of the database (SHOW DATABASES pool_size, else default_pool_size); at 1 new transactions wait, above 1 the reserve pool is in use",
    POOL_LABELS,
);

pub static STATS_QUERIES_POOLED: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_queries_pooled_total",
    "SQL queries pooled by PgBouncer (SHOW STATS_TOTALS query_count)",
    STATS_LABELS,
);
pub static STATS_QUERIES_DURATION: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_queries_duration_seconds_total",
    "Seconds PgBouncer was connected to PostgreSQL executing queries (SHOW STATS_TOTALS query_time)",
    STATS_LABELS,
);
pub static STATS_RECEIVED_BYTES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_received_bytes_total",
    "Bytes of network traffic received by PgBouncer (SHOW STATS_TOTALS bytes_received)",
    STATS_LABELS,
);
pub static STATS_SENT_BYTES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_sent_bytes_total",
    "Bytes of network traffic sent by PgBouncer (SHOW STATS_TOTALS bytes_sent)",
    STATS_LABELS,
);
pub static STATS_CLIENT_WAIT: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_client_wait_seconds_total",
    "Seconds clients waited for a server connection (SHOW STATS_TOTALS wait_time)",
    STATS_LABELS,
);
pub static STATS_TRANSACTIONS_POOLED: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_sql_transactions_pooled_total",
    "SQL transactions pooled by PgBouncer (SHOW STATS_TOTALS xact_count)",
    STATS_LABELS,
);
pub static STATS_SERVER_IN_TRANSACTION: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_server_in_transaction_seconds_total",
    "Seconds PgBouncer was connected to PostgreSQL in a transaction, idle or executing (SHOW STATS_TOTALS xact_time)",
    STATS_LABELS,
);
pub static STATS_CLIENT_PARSES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_client_parses_total",
    "Prepared-statement Parse messages received from clients (SHOW STATS_TOTALS client_parse_count, PgBouncer 1.21+)",
    STATS_LABELS,
);
pub static STATS_SERVER_PARSES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_server_parses_total",
    "Prepared-statement Parse messages sent by PgBouncer to PostgreSQL (SHOW STATS_TOTALS server_parse_count, PgBouncer 1.21+)",
    STATS_LABELS,
);
pub static STATS_BINDS: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_binds_total",
    "Prepared statements readied for execution with a Bind message (SHOW STATS_TOTALS bind_count, PgBouncer 1.21+)",
    STATS_LABELS,
);
pub static STATS_SERVER_ASSIGNMENTS: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_totals_server_assignments_total",
    "Times a server connection was assigned to a client (SHOW STATS_TOTALS server_assignment_count, PgBouncer 1.23+)",
    STATS_LABELS,
);

// pgbouncer_exporter's pre-0.11 names of the same counters (before PR #194 renamed
// `pgbouncer_stats_*` to `pgbouncer_stats_totals_*`); exported only with `legacy_names`.
pub static LEGACY_STATS_QUERIES_POOLED: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_queries_pooled_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_queries_pooled_total (SHOW STATS_TOTALS query_count)",
    STATS_LABELS,
);
pub static LEGACY_STATS_QUERIES_DURATION: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_queries_duration_seconds_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_queries_duration_seconds_total (SHOW STATS_TOTALS query_time)",
    STATS_LABELS,
);
pub static LEGACY_STATS_RECEIVED_BYTES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_received_bytes_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_received_bytes_total (SHOW STATS_TOTALS bytes_received)",
    STATS_LABELS,
);
pub static LEGACY_STATS_SENT_BYTES: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_sent_bytes_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_sent_bytes_total (SHOW STATS_TOTALS bytes_sent)",
    STATS_LABELS,
);
pub static LEGACY_STATS_CLIENT_WAIT: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_client_wait_seconds_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_client_wait_seconds_total (SHOW STATS_TOTALS wait_time)",
    STATS_LABELS,
);
pub static LEGACY_STATS_SERVER_IN_TRANSACTION: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_server_in_transaction_seconds_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_server_in_transaction_seconds_total (SHOW STATS_TOTALS xact_time)",
    STATS_LABELS,
);
pub static LEGACY_STATS_TRANSACTIONS_POOLED: MetricDesc = MetricDesc::counter(
    "pgbouncer_stats_sql_transactions_pooled_total",
    "Legacy (pgbouncer_exporter <0.11) name of pgbouncer_stats_totals_sql_transactions_pooled_total (SHOW STATS_TOTALS xact_count)",
    STATS_LABELS,
);

pub static DATABASES_POOL_SIZE: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_pool_size",
    "Maximum number of server connections per pool of this database (SHOW DATABASES pool_size)",
    DATABASE_LABELS,
);
pub static DATABASES_RESERVE_POOL: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_reserve_pool",
    "Additional server connections allowed for this database when clients wait (SHOW DATABASES reserve_pool, reserve_pool_size in 1.24+)",
    DATABASE_LABELS,
);
pub static DATABASES_MAX_CONNECTIONS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_max_connections",
    "Maximum number of server connections for this database, 0 for no limit (SHOW DATABASES max_connections)",
    DATABASE_LABELS,
);
pub static DATABASES_CURRENT_CONNECTIONS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_current_connections",
    "Current number of server connections for this database (SHOW DATABASES current_connections)",
    DATABASE_LABELS,
);
pub static DATABASES_PAUSED: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_paused",
    "1 if this database is paused, else 0 (SHOW DATABASES paused)",
    DATABASE_LABELS,
);
pub static DATABASES_DISABLED: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases_disabled",
    "1 if this database is disabled, else 0 (SHOW DATABASES disabled)",
    DATABASE_LABELS,
);

pub static CONFIG_MAX_CLIENT_CONNECTIONS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_config_max_client_connections",
    "Configured maximum number of client connections (SHOW CONFIG max_client_conn)",
    &[],
);
pub static CONFIG_MAX_USER_CONNECTIONS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_config_max_user_connections",
    "Configured maximum number of server connections per user, 0 for no limit (SHOW CONFIG max_user_connections)",
    &[],
);

pub static LISTS_DATABASES: MetricDesc = MetricDesc::gauge(
    "pgbouncer_databases",
    "Count of databases (SHOW LISTS)",
    &[],
);
pub static LISTS_USERS: MetricDesc =
    MetricDesc::gauge("pgbouncer_users", "Count of users (SHOW LISTS)", &[]);
pub static LISTS_POOLS: MetricDesc =
    MetricDesc::gauge("pgbouncer_pools", "Count of pools (SHOW LISTS)", &[]);
pub static LISTS_FREE_CLIENTS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_free_clients",
    "Count of free client slots kept allocated for reuse (SHOW LISTS)",
    &[],
);
pub static LISTS_USED_CLIENTS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_used_clients",
    "Count of used clients (SHOW LISTS)",
    &[],
);
pub static LISTS_LOGIN_CLIENTS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_login_clients",
    "Count of clients in login state (SHOW LISTS)",
    &[],
);
pub static LISTS_FREE_SERVERS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_free_servers",
    "Count of free server slots kept allocated for reuse (SHOW LISTS)",
    &[],
);
pub static LISTS_USED_SERVERS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_used_servers",
    "Count of used servers (SHOW LISTS)",
    &[],
);
pub static LISTS_DNS_NAMES: MetricDesc = MetricDesc::gauge(
    "pgbouncer_cached_dns_names",
    "Count of DNS names in the cache (SHOW LISTS dns_names)",
    &[],
);
pub static LISTS_DNS_ZONES: MetricDesc = MetricDesc::gauge(
    "pgbouncer_cached_dns_zones",
    "Count of DNS zones in the cache (SHOW LISTS dns_zones)",
    &[],
);
pub static LISTS_DNS_QUERIES: MetricDesc = MetricDesc::gauge(
    "pgbouncer_in_flight_dns_queries",
    "Count of in-flight DNS queries (SHOW LISTS dns_queries)",
    &[],
);

pub static CLIENT_CONNECTIONS: MetricDesc = MetricDesc::gauge(
    "pgbouncer_client_connections",
    "Client connections by database, user, application and state (SHOW CLIENTS, opt-in)",
    CLIENT_LABELS,
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &crate::model::PGBOUNCER_UP,
    &VERSION_INFO,
    &POOLS_CLIENT_ACTIVE,
    &POOLS_CLIENT_WAITING,
    &POOLS_CLIENT_ACTIVE_CANCEL,
    &POOLS_CLIENT_WAITING_CANCEL,
    &POOLS_SERVER_ACTIVE,
    &POOLS_SERVER_ACTIVE_CANCEL,
    &POOLS_SERVER_BEING_CANCELED,
    &POOLS_SERVER_IDLE,
    &POOLS_SERVER_USED,
    &POOLS_SERVER_TESTING,
    &POOLS_SERVER_LOGIN,
    &POOLS_CLIENT_MAXWAIT,
    &POOLS_SATURATION,
    &STATS_QUERIES_POOLED,
    &STATS_QUERIES_DURATION,
    &STATS_RECEIVED_BYTES,
    &STATS_SENT_BYTES,
    &STATS_CLIENT_WAIT,
    &STATS_TRANSACTIONS_POOLED,
    &STATS_SERVER_IN_TRANSACTION,
    &STATS_CLIENT_PARSES,
    &STATS_SERVER_PARSES,
    &STATS_BINDS,
    &STATS_SERVER_ASSIGNMENTS,
    &DATABASES_POOL_SIZE,
    &DATABASES_RESERVE_POOL,
    &DATABASES_MAX_CONNECTIONS,
    &DATABASES_CURRENT_CONNECTIONS,
    &DATABASES_PAUSED,
    &DATABASES_DISABLED,
    &CONFIG_MAX_CLIENT_CONNECTIONS,
    &CONFIG_MAX_USER_CONNECTIONS,
    &LISTS_DATABASES,
    &LISTS_USERS,
    &LISTS_POOLS,
    &LISTS_FREE_CLIENTS,
    &LISTS_USED_CLIENTS,
    &LISTS_LOGIN_CLIENTS,
    &LISTS_FREE_SERVERS,
    &LISTS_USED_SERVERS,
    &LISTS_DNS_NAMES,
    &LISTS_DNS_ZONES,
    &LISTS_DNS_QUERIES,
    &CLIENT_CONNECTIONS,
    &LEGACY_STATS_QUERIES_POOLED,
    &LEGACY_STATS_QUERIES_DURATION,
    &LEGACY_STATS_RECEIVED_BYTES,
    &LEGACY_STATS_SENT_BYTES,
    &LEGACY_STATS_CLIENT_WAIT,
    &LEGACY_STATS_SERVER_IN_TRANSACTION,
    &LEGACY_STATS_TRANSACTIONS_POOLED,
];
