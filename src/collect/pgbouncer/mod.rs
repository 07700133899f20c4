//! PgBouncer: the admin console's `SHOW VERSION`, `SHOW LISTS`, `SHOW CONFIG`,
//! `SHOW DATABASES`, `SHOW POOLS`, `SHOW STATS_TOTALS` (and, opt-in, `SHOW CLIENTS`) as
//! pgbouncer_exporter's families (≥0.11 names), plus a derived pool saturation gauge.
//!
//! The code is split in three, like `postgres/`:
//! - `descriptors.rs`: the families and their [`DESCRIPTORS`] list.
//! - **Pure parsing** (`parse.rs`: [`ShowTable`], [`families_from_show`]): one `SHOW` result is a list of
//!   column names and rows of text cells; every value is read by column *name*, so the column
//!   sets of PgBouncer 1.16–1.25 all work. A column this PgBouncer does not have means its
//!   family is omitted (never exported as 0); a column we do not know is ignored.
//! - **I/O** (this file: [`PgbouncerCollector`]): one long-lived tokio-postgres connection per target,
//!   speaking only the simple query protocol (the console rejects the extended protocol, and
//!   tokio-postgres sends no startup parameter the console refuses, such as
//!   `extra_float_digits`; see `reference/verified-facts.md` §1). No pool, no ping. The
//!   connection is dropped and made again after an error or a cancelled run.
//!
//! `pgbouncer_up` is set by the runner from the result of [`Collector::collect`]: `Err` when
//! PgBouncer cannot be reached or logged in to, or when every `SHOW` failed.

mod descriptors;
mod parse;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::runner::Job;
use super::{Collector, Sink};
use crate::config::PgbouncerTarget;
use crate::model::{Kind, TargetId};

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

pub use crate::config::options::{
    DEFAULT_CLIENT_CONNECTIONS, DEFAULT_CLIENT_CONNECTIONS_MAX_APPLICATION_NAMES,
    DEFAULT_MAX_POOLS, PgbouncerOptions,
};

/// The application name under which connections beyond
/// [`PgbouncerOptions::client_connections_max_application_names`] are counted.
pub const OTHER_APPLICATION_NAME: &str = "other";

pub use descriptors::*;
pub use parse::{ParseReport, Show, ShowResults, ShowTable, families_from_show};

// ---------------------------------------------------------------------------------------
// I/O: the admin console connection
// ---------------------------------------------------------------------------------------

/// The [`Job`] for one configured PgBouncer.
pub fn job(target: &PgbouncerTarget) -> Job {
    Job {
        id: TargetId::new(Kind::Pgbouncer, &target.common.name),
        interval: target.common.interval,
        timeout: target.common.timeout,
        collector: Box::new(PgbouncerCollector::new(target)),
    }
}

/// One live connection to the admin console; dropping it stops its driver task, so a
/// connection stuck on a frozen PgBouncer does not outlive it.
struct AdminConnection {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for AdminConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Collects one PgBouncer over one long-lived admin console connection.
pub struct PgbouncerCollector {
    /// Connection settings, or why the URL could not be used.
    connect_config: Result<tokio_postgres::Config, String>,
    /// The URL with its password masked, for messages.
    shown_url: String,
    options: PgbouncerOptions,
    connection: Option<AdminConnection>,
    /// Set while a run talks to PgBouncer; still set at the next run means the previous
    /// run was cancelled at its timeout, and its connection is not to be trusted.
    run_unfinished: bool,
    /// Commands whose truncation at `max_pools` was already logged.
    truncation_logged: HashSet<Show>,
}

impl PgbouncerCollector {
    pub fn new(target: &PgbouncerTarget) -> Self {
        let connect_config = admin_connect_config(target.url.expose(), target.common.timeout);
        PgbouncerCollector {
            connect_config,
            shown_url: target.url.redacted().to_owned(),
            options: target.options.clone(),
            connection: None,
            run_unfinished: false,
            truncation_logged: HashSet::new(),
        }
    }

    async fn connect(&self) -> anyhow::Result<AdminConnection> {
        let config = self
            .connect_config
            .as_ref()
            .map_err(|e| anyhow::anyhow!("invalid pgbouncer url {}: {e}", self.shown_url))?;
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            let hint = if is_authentication_failure(&e) {
                " (check the user and password in the url; the user must be in stats_users or admin_users)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "cannot connect to the pgbouncer admin console {}: {}{hint}",
                self.shown_url,
                one_line(&e)
            )
        })?;
        let driver = tokio::spawn(async move {
            // Ends when PgBouncer closes the connection or the client is dropped; the error
            // surfaces to the next query as a closed connection.
            let _ = connection.await;
        });
        Ok(AdminConnection { client, driver })
    }

    /// Runs every command on the current connection. `Err` only when the connection itself
    /// failed; a command PgBouncer answers with an error is recorded in `failed`.
    async fn query_all(
        client: &tokio_postgres::Client,
        options: &PgbouncerOptions,
        failed: &mut Vec<(Show, String)>,
    ) -> Result<ShowResults, (Show, tokio_postgres::Error)> {
        let mut results = ShowResults::default();
        for show in Show::ALL {
            if show == Show::Clients && !options.client_connections {
                continue;
            }
            match show_table(client, show.sql()).await {
                Ok(table) => {
                    results.tables.insert(show, table);
                }
                Err(e) if e.as_db_error().is_some() => failed.push((show, one_line(&e))),
                Err(e) => return Err((show, e)),
            }
        }
        Ok(results)
    }

    async fn collect_results(&mut self) -> anyhow::Result<(ShowResults, Vec<(Show, String)>)> {
        let mut reused = false;
        match &self.connection {
            Some(c) if !c.client.is_closed() => reused = true,
            _ => self.connection = Some(self.connect().await?),
        }
        loop {
            let Some(connection) = &self.connection else {
                anyhow::bail!("no pgbouncer connection");
            };
            let mut failed = Vec::new();
            match Self::query_all(&connection.client, &self.options, &mut failed).await {
                Ok(results) => return Ok((results, failed)),
                Err((show, error)) => {
                    self.connection = None;
                    if reused {
                        // The connection kept from the last run died meanwhile (PgBouncer
                        // restarted, idle timeout): one fresh attempt before giving up.
                        tracing::debug!(target: "fedimeter::collect", "pgbouncer connection lost ({}), reconnecting", one_line(&error));
                        reused = false;
                        self.connection = Some(self.connect().await?);
                        continue;
                    }
                    anyhow::bail!(
                        "{} on the pgbouncer admin console {} failed: {}",
                        show.sql(),
                        self.shown_url,
                        one_line(&error)
                    );
                }
            }
        }
    }

    async fn collect_all(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let (results, failed) = self.collect_results().await?;
        if results.tables.is_empty() {
            let first = failed
                .first()
                .map(|(show, e)| format!("{}: {e}", show.sql()))
                .unwrap_or_default();
            anyhow::bail!(
                "every SHOW command failed on the pgbouncer admin console {} ({first})",
                self.shown_url
            );
        }
        for (show, error) in &failed {
            sink.partial_error(show.sql(), &anyhow::anyhow!("{error}"));
        }
        let report = families_from_show(&results, &self.options, sink);
        for problem in &report.problems {
            sink.partial_error("parsing", &anyhow::anyhow!("{problem}"));
        }
        for (show, rows) in &report.truncated {
            if self.truncation_logged.insert(*show) {
                tracing::warn!(
                    target: "fedimeter::collect",
                    "{} on {} returned {rows} rows; only the first {} are exported (pgbouncer max_pools)",
                    show.sql(),
                    self.shown_url,
                    self.options.max_pools
                );
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Collector for PgbouncerCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        if std::mem::replace(&mut self.run_unfinished, true) {
            // The last run was cancelled at its timeout mid-conversation (a frozen PgBouncer,
            // a half-open TCP connection): start over on a new connection.
            self.connection = None;
        }
        let result = self.collect_all(sink).await;
        self.run_unfinished = false;
        result
    }
}

/// Connection settings from the target URL: database `pgbouncer` unless the URL names one,
/// `application_name=fedimeter` unless set (shows up in `SHOW CLIENTS`), and the target's
/// timeout as the connect timeout.
fn admin_connect_config(url: &str, timeout: Duration) -> Result<tokio_postgres::Config, String> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| one_line(&e))?;
    if config.get_dbname().is_none() {
        config.dbname("pgbouncer");
    }
    if config.get_application_name().is_none() {
        config.application_name("fedimeter");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    Ok(config)
}

/// Runs one command with the simple query protocol and reads the result by column name.
async fn show_table(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<ShowTable, tokio_postgres::Error> {
    let mut table = ShowTable::default();
    for message in client.simple_query(sql).await? {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                table.columns = columns.iter().map(|c| c.name().to_owned()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                if table.columns.is_empty() {
                    table.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                table.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    Ok(table)
}

/// Whether PgBouncer refused the login: SQLSTATE 28P01/28000 as PostgreSQL sends them, or
/// PgBouncer's own wording (1.18 sends "SASL authentication failed" and "password
/// authentication failed" with SQLSTATE 08P01, and "not allowed" for a user that is in
/// neither `stats_users` nor `admin_users`).
fn is_authentication_failure(error: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    error.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::INVALID_PASSWORD
            || *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || db.message().contains("authentication failed")
            || db.message() == "not allowed"
    })
}

/// An error and its causes on one line (`a: b: c`), without PostgreSQL's multi-line DETAIL
/// and HINT, so that one failure is one log line.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = match e.downcast_ref::<tokio_postgres::error::DbError>() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        };
        let text = text.replace('\n', " ");
        if !parts.last().is_some_and(|last| last.ends_with(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_without_repeating_a_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error connecting to server")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other("connection refused\nDETAIL: x"));
        assert_eq!(
            one_line(&error),
            "error connecting to server: connection refused DETAIL: x"
        );
    }

    #[test]
    fn connect_config_defaults_to_the_pgbouncer_database_and_names_itself() {
        let config = admin_connect_config(
            "postgres://stats:secret@127.0.0.1:6432",
            Duration::from_secs(3),
        )
        .expect("valid url");
        assert_eq!(config.get_dbname(), Some("pgbouncer"));
        assert_eq!(config.get_application_name(), Some("fedimeter"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        let config = admin_connect_config(
            "postgres://stats@127.0.0.1:6432/pgbouncer?application_name=mine&connect_timeout=1",
            Duration::from_secs(3),
        )
        .expect("valid url");
        assert_eq!(config.get_application_name(), Some("mine"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(1)));
    }
}
