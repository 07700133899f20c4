//! A real PgBouncer (`/usr/sbin/pgbouncer`) in front of a test [`PgServer`].
//!
//! The ini lives in the server's temp dir: `listen_addr = 127.0.0.1` on a free port,
//! `auth_type = scram-sha-256` with a `userlist.txt` holding the PostgreSQL superuser and a
//! `stats` user that is both `admin_users` and `stats_users`. Everything else keeps
//! PgBouncer's defaults unless [`PgBouncerOptions`] says otherwise; in particular
//! `ignore_startup_parameters` is unset, so clients that send `extra_float_digits` (sqlx
//! does by default) are rejected, exactly as by a stock PgBouncer.
//!
//! The admin console (`SHOW POOLS`, `SHOW VERSION`, …) speaks only the simple query
//! protocol: use tokio-postgres `simple_query`, sqlx `raw_sql` on a single `PgConnection`
//! with `.extra_float_digits(None)`, or [`PgBouncer::admin_query`] (psql). See
//! `shared/reference/verified-facts.md` §1.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::postgres::{PgInstall, PgServer, SUPERUSER, SUPERUSER_PASSWORD};
use super::{
    ManagedServer, Probe, ServerDir, ServerProcess, ServiceUser, Started, chown, find_binary,
    log_since, log_tail, port_accepts, run_as, service_user,
};

/// The admin/stats console user.
pub const STATS_USER: &str = "stats";
/// Its password.
pub const STATS_PASSWORD: &str = "fedimeter-test-stats";

/// PgBouncer's `pool_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
    Statement,
}

impl PoolMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// What to put in the ini. `PgBouncerOptions::default()` is a typical Mastodon setup.
#[derive(Clone, Debug)]
pub struct PgBouncerOptions {
    /// `pool_mode`; default transaction (what Mastodon's docs recommend).
    pub pool_mode: PoolMode,
    /// `default_pool_size`; default 5.
    pub pool_size: u32,
    /// `max_client_conn`; default 100.
    pub max_client_conn: u32,
    /// `ignore_startup_parameters`, e.g. `Some("extra_float_digits")`; default unset, as in
    /// a stock PgBouncer.
    pub ignore_startup_parameters: Option<String>,
    /// Databases in `[databases]`, each pointing at the same-named database of the
    /// PostgreSQL server; default `["postgres"]`.
    pub databases: Vec<String>,
    /// Extra `(user, password)` lines for `userlist.txt` (the PostgreSQL superuser and the
    /// stats user are always there).
    pub users: Vec<(String, String)>,
    /// Extra lines for the `[pgbouncer]` section, e.g. `"server_login_retry = 1"`.
    pub extra_settings: Vec<String>,
}

impl Default for PgBouncerOptions {
    fn default() -> Self {
        PgBouncerOptions {
            pool_mode: PoolMode::Transaction,
            pool_size: 5,
            max_client_conn: 100,
            ignore_startup_parameters: None,
            databases: vec!["postgres".to_owned()],
            users: Vec::new(),
            extra_settings: Vec::new(),
        }
    }
}

/// A running (or stopped) PgBouncer. Dropping it kills it and removes its temp dir.
pub struct PgBouncer {
    server: ManagedServer,
    pg_port: u16,
    options: PgBouncerOptions,
    user: Option<&'static ServiceUser>,
}

impl PgBouncer {
    /// A PgBouncer in front of `pg` with `options` (`PgBouncerOptions::default()` for the
    /// usual setup).
    pub fn start(pg: &PgServer, options: PgBouncerOptions) -> PgBouncer {
        let binary = find_binary("pgbouncer");
        let user = service_user();
        let dir = ServerDir::new("pgbouncer", user);
        let userlist = dir.path().join("userlist.txt");
        let mut users = format!(
            "\"{SUPERUSER}\" \"{SUPERUSER_PASSWORD}\"\n\"{STATS_USER}\" \"{STATS_PASSWORD}\"\n"
        );
        for (name, password) in &options.users {
            let _ = writeln!(users, "\"{name}\" \"{password}\"");
        }
        fs::write(&userlist, users).expect("writing userlist.txt");
        chown(&userlist, user);
        let pg_port = pg.port();
        // SIGTERM is PgBouncer's immediate shutdown (SIGINT would wait for clients).
        let server = ManagedServer::start(
            "pgbouncer",
            dir,
            libc::SIGTERM,
            libc::SIGTERM,
            |dir, port| {
                let ini = dir.path().join("pgbouncer.ini");
                fs::write(&ini, ini_text(dir, port, pg_port, &options))
                    .expect("writing pgbouncer.ini");
                chown(&ini, user);
                spawn_pgbouncer(&binary, dir, port, user)
            },
        );
        PgBouncer {
            server,
            pg_port,
            options,
            user,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The port of the PostgreSQL server behind it.
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    pub fn options(&self) -> &PgBouncerOptions {
        &self.options
    }

    /// `postgres://stats:…@127.0.0.1:PORT/pgbouncer`: the admin console.
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://{STATS_USER}:{STATS_PASSWORD}@127.0.0.1:{}/pgbouncer",
            self.port()
        )
    }

    /// `postgres://postgres:…@127.0.0.1:PORT/DB`: a client connection through PgBouncer
    /// (`db` must be one of [`PgBouncerOptions::databases`]).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{db}",
            self.port()
        )
    }

    /// Runs one admin console command (e.g. `SHOW POOLS`) with psql, which uses the simple
    /// query protocol; returns the rows unaligned (`a|b` per line). Panics on error.
    pub fn admin_query(&self, command: &str) -> String {
        let output = Command::new(PgInstall::get().tool("psql"))
            .args([
                "--no-psqlrc",
                "--no-align",
                "--tuples-only",
                "--quiet",
                "--no-password",
            ])
            .args(["--host", "127.0.0.1", "--port", &self.port().to_string()])
            .args([
                "--username",
                STATS_USER,
                "--dbname",
                "pgbouncer",
                "--command",
                command,
            ])
            .env("PGPASSWORD", STATS_PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running psql against the PgBouncer admin console");
        assert!(
            output.status.success(),
            "admin console command {command:?} on port {} failed: {}\n--- pgbouncer log ---\n{}",
            self.port(),
            String::from_utf8_lossy(&output.stderr).trim(),
            self.log_tail(20)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub fn log_path(&self) -> PathBuf {
        self.server.dir().join("pgbouncer.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    pub fn ini_path(&self) -> PathBuf {
        self.server.dir().join("pgbouncer.ini")
    }

    /// PgBouncer's pid. Panics when it is stopped.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Whether it is running (a SIGSTOPped one counts as running).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// SIGSTOP: connections are accepted by the kernel but nothing answers.
    pub fn sigstop(&self) {
        self.server.sigstop();
    }

    pub fn sigcont(&self) {
        self.server.sigcont();
    }

    /// SIGHUP: reload the ini (edit [`PgBouncer::ini_path`] first).
    pub fn reload(&self) {
        self.server.signal(libc::SIGHUP);
    }

    /// Immediate shutdown (SIGTERM). The port and temp dir stay for
    /// [`PgBouncer::start_again`].
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Crash: SIGKILL.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts it again on the same port with the same ini. Panics if it is running or the
    /// port was taken meanwhile.
    pub fn start_again(&mut self) {
        let (binary, user) = (find_binary("pgbouncer"), self.user);
        self.server
            .start_again(|dir, port| spawn_pgbouncer(&binary, dir, port, user));
    }
}

fn ini_text(dir: &ServerDir, port: u16, pg_port: u16, options: &PgBouncerOptions) -> String {
    let mut ini = String::from("[databases]\n");
    for db in &options.databases {
        let _ = writeln!(ini, "{db} = host=127.0.0.1 port={pg_port} dbname={db}");
    }
    let _ = write!(
        ini,
        "\n[pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {socket_dir}\n\
         auth_type = scram-sha-256\n\
         auth_file = {userlist}\n\
         admin_users = {STATS_USER}\n\
         stats_users = {STATS_USER}\n\
         pool_mode = {pool_mode}\n\
         default_pool_size = {pool_size}\n\
         max_client_conn = {max_client_conn}\n",
        socket_dir = dir.path().display(),
        userlist = dir.path().join("userlist.txt").display(),
        pool_mode = options.pool_mode.as_str(),
        pool_size = options.pool_size,
        max_client_conn = options.max_client_conn,
    );
    if let Some(params) = &options.ignore_startup_parameters {
        let _ = writeln!(ini, "ignore_startup_parameters = {params}");
    }
    for line in &options.extra_settings {
        let _ = writeln!(ini, "{line}");
    }
    ini
}

fn spawn_pgbouncer(
    binary: &std::path::Path,
    dir: &ServerDir,
    port: u16,
    user: Option<&ServiceUser>,
) -> Started {
    let mut cmd = Command::new(binary);
    cmd.arg(dir.path().join("pgbouncer.ini"));
    run_as(&mut cmd, user);
    let log = dir.path().join("pgbouncer.log");
    let offset = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let listening = format!("listening on 127.0.0.1:{port}");
    ServerProcess::spawn_until_ready("pgbouncer", cmd, dir, &log, |_pid| {
        // The log line (from this start, not an earlier one) proves that it is our
        // PgBouncer that holds the port, not someone who took it meanwhile.
        if log_since(&log, offset).contains(&listening) && port_accepts(port) {
            Probe::Ready
        } else {
            Probe::NotYet
        }
    })
}
