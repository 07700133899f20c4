//! A real PostgreSQL server (and streaming replicas of it) for integration tests.
//!
//! The binaries come from `$FEDIMETER_TEST_PG_BINDIR` when set, otherwise from the highest
//! version among `/usr/lib/postgresql/*/bin` and the `postgres` found on `PATH`
//! ([`PgInstall::get`], with client tools). Other majors run from a server-only bin dir
//! ([`PgInstall::server_only`]: `initdb` and `postgres`, e.g. the builds
//! `scripts/fetch-postgres` caches and lists in `$FEDIMETER_PG_MATRIX`, see
//! [`version_matrix`]); SQL always goes through the main install's `psql`. One `initdb` per
//! install and test process makes a template cluster that every server copies (about 0.1 s
//! instead of about 0.7 s).
//!
//! Each server: listens on 127.0.0.1 only (a free port), unix socket inside its temp dir,
//! `fsync=off`, `shared_buffers=16MB`, `max_connections=50`, `wal_level=replica`,
//! `shared_preload_libraries='pg_stat_statements'` when the extension is installed.
//! Superuser [`SUPERUSER`] / [`SUPERUSER_PASSWORD`]; TCP needs a SCRAM password (no trust
//! over TCP, so wrong passwords fail as in production); the unix socket trusts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::{
    ManagedServer, Probe, ServerDir, ServerProcess, ServiceUser, Started, chown, is_executable,
    log_tail, run_as, run_checked, service_user,
};

/// The superuser every test server has.
pub const SUPERUSER: &str = "postgres";
/// Its password (SCRAM-SHA-256 over TCP).
pub const SUPERUSER_PASSWORD: &str = "fedimeter-test-superuser";
/// The role replicas stream as (created on the primary by [`PgServer::start_replica_of`]).
pub const REPLICATION_USER: &str = "replicator";
/// Its password.
pub const REPLICATION_PASSWORD: &str = "fedimeter-test-replicator";

/// Settings appended to every server's `postgresql.conf`.
const BASE_SETTINGS: &str = "
# --- fedimeter test server ---
listen_addresses = '127.0.0.1'
max_connections = 50
shared_buffers = 16MB
fsync = off
synchronous_commit = off
dynamic_shared_memory_type = mmap
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
logging_collector = off
log_timezone = 'UTC'
timezone = 'UTC'
";

const HBA: &str = "\
# fedimeter test server: trust on the private unix socket only, passwords over TCP
local   all          all                    trust
local   replication  all                    trust
host    all          all   127.0.0.1/32     scram-sha-256
host    replication  all   127.0.0.1/32     scram-sha-256
";

/// A PostgreSQL installation the tests start servers from.
pub struct PgInstall {
    /// Directory with `postgres` and `initdb` (and, for [`PgInstall::get`], `psql`,
    /// `pg_isready`, `pg_basebackup`).
    pub bin_dir: PathBuf,
    /// Major version, e.g. 15.
    pub major_version: u32,
    /// The version `postgres --version` prints, e.g. `15.18` or `18.4`.
    pub version: String,
    /// Whether `pg_stat_statements` is installed (Debian's `postgresql` package has it).
    pub has_pg_stat_statements: bool,
    /// The template cluster of this install (made on first use).
    template: OnceLock<(ServerDir, PathBuf)>,
}

impl std::fmt::Debug for PgInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgInstall")
            .field("bin_dir", &self.bin_dir)
            .field("version", &self.version)
            .field("has_pg_stat_statements", &self.has_pg_stat_statements)
            .finish_non_exhaustive()
    }
}

impl PgInstall {
    /// The main installation, with client tools: Debian's (see the module docs).
    pub fn get() -> &'static PgInstall {
        static INSTALL: OnceLock<&'static PgInstall> = OnceLock::new();
        INSTALL.get_or_init(|| Box::leak(Box::new(PgInstall::find())))
    }

    /// A server-only installation in `bin_dir` (`initdb`, `postgres`; `lib/` and `share/`
    /// beside it), e.g. one of [`version_matrix`]. One per directory and test process.
    /// Panics with the cause when it is unusable.
    pub fn server_only(bin_dir: &Path) -> &'static PgInstall {
        static INSTALLS: Mutex<Vec<&'static PgInstall>> = Mutex::new(Vec::new());
        let mut installs = INSTALLS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(install) = installs.iter().find(|i| i.bin_dir == bin_dir) {
            return install;
        }
        for tool in ["initdb", "postgres"] {
            assert!(
                is_executable(&bin_dir.join(tool)),
                "{} is missing or not executable (run scripts/fetch-postgres)",
                bin_dir.join(tool).display()
            );
        }
        let version = server_version(bin_dir).unwrap_or_else(|e| {
            panic!(
                "cannot run {} --version: {e}",
                bin_dir.join("postgres").display()
            )
        });
        // The relocatable layout of a server-only build: <prefix>/{bin,lib,share}.
        let prefix = bin_dir.parent().unwrap_or(bin_dir);
        let has_pg_stat_statements = prefix.join("lib/postgresql/pg_stat_statements.so").exists()
            && prefix
                .join("share/postgresql/extension/pg_stat_statements.control")
                .exists();
        let install: &'static PgInstall = Box::leak(Box::new(PgInstall {
            bin_dir: bin_dir.to_owned(),
            major_version: major_of(&version),
            version,
            has_pg_stat_statements,
            template: OnceLock::new(),
        }));
        installs.push(install);
        install
    }

    fn find() -> PgInstall {
        let bin_dir = match std::env::var_os("FEDIMETER_TEST_PG_BINDIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let mut candidates: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path().join("bin"))
                    .collect();
                if let Some(on_path) = super::try_find_binary("postgres") {
                    // /usr/local/bin/postgres may be a symlink into the real bin dir.
                    let real = fs::canonicalize(&on_path).unwrap_or(on_path);
                    if let Some(dir) = real.parent() {
                        candidates.push(dir.to_owned());
                    }
                }
                candidates
                    .into_iter()
                    .filter(|dir| is_executable(&dir.join("postgres")))
                    .filter_map(|dir| Some((server_major_version(&dir)?, dir)))
                    .max()
                    .map(|(_, dir)| dir)
                    .unwrap_or_else(|| {
                        panic!(
                            "no PostgreSQL server found on PATH nor in /usr/lib/postgresql/*/bin: \
                             run `scripts/test --install-only`"
                        )
                    })
            }
        };
        let version = server_version(&bin_dir).unwrap_or_else(|e| {
            panic!(
                "cannot read the version of {}: {e}",
                bin_dir.join("postgres").display()
            )
        });
        for tool in ["initdb", "psql", "pg_isready", "pg_basebackup", "pg_config"] {
            assert!(
                is_executable(&bin_dir.join(tool)),
                "{} is missing: the tests need the PostgreSQL server and client tools \
                 (run `scripts/test --install-only`)",
                bin_dir.join(tool).display()
            );
        }
        let pkglibdir = run_checked(
            "pg_config --pkglibdir",
            Command::new(bin_dir.join("pg_config")).arg("--pkglibdir"),
        );
        let sharedir = run_checked(
            "pg_config --sharedir",
            Command::new(bin_dir.join("pg_config")).arg("--sharedir"),
        );
        let has_pg_stat_statements = Path::new(pkglibdir.trim())
            .join("pg_stat_statements.so")
            .exists()
            && Path::new(sharedir.trim())
                .join("extension/pg_stat_statements.control")
                .exists();
        PgInstall {
            bin_dir,
            major_version: major_of(&version),
            version,
            has_pg_stat_statements,
            template: OnceLock::new(),
        }
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// The PostgreSQL majors to test besides the main install, from `$FEDIMETER_PG_MATRIX`
/// (`scripts/test` sets it from `scripts/fetch-postgres`): `"13=/path/bin 14=/path/bin …"`.
/// `None` when the variable is unset or empty. Panics on a malformed entry.
pub fn version_matrix() -> Option<Vec<(u32, PathBuf)>> {
    let value = std::env::var("FEDIMETER_PG_MATRIX").ok()?;
    if value.trim().is_empty() {
        return None;
    }
    let entries = value
        .split_whitespace()
        .map(|entry| {
            let parsed = entry
                .split_once('=')
                .and_then(|(major, dir)| Some((major.parse().ok()?, PathBuf::from(dir))));
            parsed.unwrap_or_else(|| {
                panic!(
                    "FEDIMETER_PG_MATRIX: {entry:?} is not MAJOR=/path/to/bin \
                     (expected e.g. \"13=/var/cache/fedimeter/postgres/13.23.0-beta.16/bin\")"
                )
            })
        })
        .collect();
    Some(entries)
}

/// `postgres --version` → the version it prints ("postgres (PostgreSQL) 15.18 (Debian …)" →
/// "15.18").
fn server_version(bin_dir: &Path) -> Result<String, String> {
    let output = Command::new(bin_dir.join("postgres"))
        .arg("--version")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{}: {}{}",
            output.status,
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    text.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| format!("no version in {text:?}"))
}

/// "15.18" → 15, "18beta1" → 18.
fn major_of(version: &str) -> u32 {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no major version in {version:?}"))
}

/// `postgres --version` → major version ("postgres (PostgreSQL) 15.18 (Debian …)" → 15).
fn server_major_version(bin_dir: &Path) -> Option<u32> {
    let version = server_version(bin_dir).ok()?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| major_of(&version))
}

/// The per-process template cluster of `install` (initdb'd once, copied by every server).
/// It lives until the test process exits; its watchdog then removes it.
fn template_data_dir(install: &'static PgInstall) -> &'static Path {
    let (_, data) = install.template.get_or_init(|| {
        let user = service_user();
        let dir = ServerDir::new("pg-template", user);
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, SUPERUSER_PASSWORD).expect("writing the initdb password file");
        chown(&pwfile, user);
        let data = dir.path().join("data");
        let mut initdb = Command::new(install.tool("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--pwfile"])
            .arg(&pwfile)
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["--encoding=UTF8", "--no-locale", "--no-sync"])
            // 1 MB WAL segments instead of 16: a third of the bytes to copy per server.
            .arg("--wal-segsize=1")
            .current_dir(dir.path());
        if install.major_version >= 14 {
            // Not that it matters in a test log; 13's initdb has no such option.
            initdb.arg("--no-instructions");
        }
        run_as(&mut initdb, user);
        run_checked(
            &format!(
                "initdb of the template cluster (PostgreSQL {})",
                install.version
            ),
            &mut initdb,
        );
        let mut conf = BASE_SETTINGS.to_owned();
        if install.has_pg_stat_statements {
            conf.push_str("shared_preload_libraries = 'pg_stat_statements'\n");
        }
        append(&data.join("postgresql.conf"), &conf);
        fs::write(data.join("pg_hba.conf"), HBA).expect("writing pg_hba.conf");
        (dir, data)
    });
    data
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("appending to {}: {e}", path.display()));
}

/// A running (or stopped) PostgreSQL server in its own temp dir. Dropping it shuts it down
/// (immediate shutdown, then SIGKILL) and removes the dir.
pub struct PgServer {
    server: ManagedServer,
    replica_of: Option<u16>,
    user: Option<&'static ServiceUser>,
    install: &'static PgInstall,
}

impl PgServer {
    /// A fresh primary with the default settings.
    pub fn start() -> PgServer {
        PgServer::start_with(&[])
    }

    /// A fresh primary with extra `postgresql.conf` lines, e.g. `"max_connections = 5"`
    /// (a later line overrides an earlier one).
    pub fn start_with(settings: &[&str]) -> PgServer {
        PgServer::start_from(PgInstall::get(), settings)
    }

    /// A fresh primary of another installation (e.g. [`PgInstall::server_only`]) with extra
    /// `postgresql.conf` lines. [`PgServer::exec`] still uses the main install's `psql`.
    pub fn start_from(install: &'static PgInstall, settings: &[&str]) -> PgServer {
        let user = service_user();
        let dir = ServerDir::new(&format!("pg{}", install.major_version), user);
        let data = dir.path().join("data");
        let template = template_data_dir(install);
        let copy_started = std::time::Instant::now();
        run_checked(
            "copying the template cluster",
            Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(template)
                .arg(&data),
        );
        eprintln!(
            "postgres: copied the template cluster in {:?}",
            copy_started.elapsed()
        );
        chown(&data, user);
        if !settings.is_empty() {
            append(
                &data.join("postgresql.conf"),
                &format!("{}\n", settings.join("\n")),
            );
        }
        PgServer::boot(dir, None, user, install)
    }

    /// A streaming replica of `primary` made with `pg_basebackup -R` (hot standby, so it
    /// answers read-only queries). Creates the [`REPLICATION_USER`] role on `primary` when
    /// missing. `primary` may itself be a replica made here (cascading replication). Only
    /// for servers of the main install (`pg_basebackup` is its own).
    pub fn start_replica_of(primary: &PgServer) -> PgServer {
        primary.exec(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{REPLICATION_USER}') THEN
                 CREATE ROLE {REPLICATION_USER} WITH REPLICATION LOGIN PASSWORD '{REPLICATION_PASSWORD}';
               END IF;
             END $$;"
        ));
        let user = service_user();
        let dir = ServerDir::new("pg-replica", user);
        let data = dir.path().join("data");
        let mut basebackup = Command::new(PgInstall::get().tool("pg_basebackup"));
        basebackup
            .arg("--pgdata")
            .arg(&data)
            .args(["--host", "127.0.0.1", "--port", &primary.port().to_string()])
            .args(["--username", REPLICATION_USER, "--no-password"])
            .args([
                "--write-recovery-conf",
                "--wal-method=stream",
                "--checkpoint=fast",
            ])
            .arg("--no-sync")
            .env("PGPASSWORD", REPLICATION_PASSWORD)
            .current_dir(dir.path());
        run_as(&mut basebackup, user);
        run_checked("pg_basebackup from the primary", &mut basebackup);
        PgServer::boot(dir, Some(primary.port()), user, primary.install)
    }

    fn boot(
        dir: ServerDir,
        replica_of: Option<u16>,
        user: Option<&'static ServiceUser>,
        install: &'static PgInstall,
    ) -> PgServer {
        let name = server_name(replica_of);
        // Clean stop: "fast" shutdown (SIGINT). Drop: "immediate" shutdown (SIGQUIT), which
        // waits for no checkpoint, client or walsender.
        let server = ManagedServer::start(name, dir, libc::SIGINT, libc::SIGQUIT, |dir, port| {
            spawn_postgres(name, dir, port, user, install)
        });
        PgServer {
            server,
            replica_of,
            user,
            install,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `postgres://postgres:…@127.0.0.1:PORT/DB` (superuser, password auth over TCP).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{db}",
            self.port()
        )
    }

    /// [`PgServer::url`] for the `postgres` database.
    pub fn superuser_url(&self) -> String {
        self.url("postgres")
    }

    /// A URL for any role/password, e.g. to check that a wrong password is rejected.
    pub fn url_for(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{db}",
            self.port()
        )
    }

    /// The port of the primary this server replicates from, if it is a replica.
    pub fn replica_of(&self) -> Option<u16> {
        self.replica_of
    }

    pub fn data_dir(&self) -> PathBuf {
        self.server.dir().join("data")
    }

    /// The directory of the unix socket (`host=` for libpq; trust auth there).
    pub fn socket_dir(&self) -> PathBuf {
        self.server.dir().join("socket")
    }

    pub fn log_path(&self) -> PathBuf {
        self.server.dir().join("postgres.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    /// The installation this server runs from.
    pub fn install(&self) -> &'static PgInstall {
        self.install
    }

    /// `CREATE DATABASE "name"`.
    pub fn create_database(&self, name: &str) {
        self.exec(&format!("CREATE DATABASE \"{name}\""));
    }

    /// Runs SQL (one or more `;`-separated statements, each in its own transaction) in the
    /// `postgres` database with psql; returns the rows, unaligned (`a|b` per line, trimmed).
    /// Panics on error.
    pub fn exec(&self, sql: &str) -> String {
        self.exec_in("postgres", sql)
    }

    /// [`PgServer::exec`] in database `db`.
    pub fn exec_in(&self, db: &str, sql: &str) -> String {
        self.try_exec_in(db, sql).unwrap_or_else(|e| {
            panic!("SQL failed on port {} ({db}): {e}\nSQL: {sql}", self.port())
        })
    }

    /// [`PgServer::exec_in`] that returns psql's error output instead of panicking.
    pub fn try_exec_in(&self, db: &str, sql: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = Command::new(PgInstall::get().tool("psql"))
            .args(["--no-psqlrc", "--no-align", "--tuples-only", "--quiet"])
            .args(["--set", "ON_ERROR_STOP=1", "--no-password"])
            .args(["--host", "127.0.0.1", "--port", &self.port().to_string()])
            .args(["--username", SUPERUSER, "--dbname", db])
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        let mut stdin = child.stdin.take().expect("psql stdin is piped");
        stdin
            .write_all(sql.as_bytes())
            .map_err(|e| format!("writing SQL to psql: {e}"))?;
        drop(stdin);
        let output = child
            .wait_with_output()
            .map_err(|e| format!("waiting for psql: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// The postmaster's pid. Panics when the server is stopped.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Pids of the postmaster and all its children (backends, checkpointer, walsenders, …).
    pub fn pids(&self) -> Vec<u32> {
        self.server.pids()
    }

    /// Whether the postmaster is running (a SIGSTOPped one counts as running).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// SIGSTOPs the postmaster and every child: the port still accepts TCP connections (the
    /// kernel completes the handshake) but nothing answers, like a hung server.
    pub fn sigstop(&self) {
        self.server.sigstop();
    }

    /// SIGCONTs everything [`PgServer::sigstop`] stopped.
    pub fn sigcont(&self) {
        self.server.sigcont();
    }

    /// Clean "fast" shutdown (SIGINT: disconnects clients, checkpoints). The port, data and
    /// temp dir stay for [`PgServer::start_again`].
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Crash: SIGKILL the postmaster and all children at once. [`PgServer::start_again`]
    /// then runs crash recovery.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the server again on the same port with the same data dir. Panics if it is
    /// running, or if the port was taken meanwhile.
    pub fn start_again(&mut self) {
        let (name, user, install) = (server_name(self.replica_of), self.user, self.install);
        self.server
            .start_again(|dir, port| spawn_postgres(name, dir, port, user, install));
    }
}

fn server_name(replica_of: Option<u16>) -> &'static str {
    if replica_of.is_some() {
        "postgres replica"
    } else {
        "postgres"
    }
}

fn spawn_postgres(
    name: &str,
    dir: &ServerDir,
    port: u16,
    user: Option<&ServiceUser>,
    install: &PgInstall,
) -> Started {
    let socket_dir = dir.path().join("socket");
    if !socket_dir.exists() {
        fs::create_dir(&socket_dir).expect("creating the socket dir");
        chown(&socket_dir, user);
    }
    let mut cmd = Command::new(install.tool("postgres"));
    cmd.arg("-D")
        .arg(dir.path().join("data"))
        .args(["-c", &format!("port={port}")])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", socket_dir.display()));
    run_as(&mut cmd, user);
    let log = dir.path().join("postgres.log");
    let pid_file = dir.path().join("data/postmaster.pid");
    ServerProcess::spawn_until_ready(name, cmd, dir, &log, |pid| {
        // `pg_ctl start --wait` reads the same file: line 1 is the postmaster's pid (a
        // crashed server leaves a stale file), line 8 its status, "ready" once it accepts
        // connections (also for a hot standby).
        let Ok(text) = fs::read_to_string(&pid_file) else {
            return Probe::NotYet;
        };
        let lines: Vec<&str> = text.lines().collect();
        let file_pid = lines.first().map(|l| l.trim());
        let status = lines.get(7).map(|l| l.trim());
        if file_pid == Some(pid.to_string().as_str())
            && status == Some("ready")
            && super::port_accepts(port)
        {
            Probe::Ready
        } else {
            Probe::NotYet
        }
    })
}

/// The subset of Mastodon's schema the `mastodon_*` gauges read (db/schema.rb, 4.5).
pub const MASTODON_SCHEMA: &str = "
CREATE TABLE accounts (id bigint PRIMARY KEY, username varchar NOT NULL, domain varchar);
CREATE TABLE users (id bigserial PRIMARY KEY, account_id bigint, email varchar,
  created_at timestamp NOT NULL, current_sign_in_at timestamp, approved boolean DEFAULT true NOT NULL,
  disabled boolean DEFAULT false NOT NULL, confirmed_at timestamp);
CREATE TABLE statuses (id bigint PRIMARY KEY, uri varchar, text text DEFAULT '' NOT NULL,
  created_at timestamp NOT NULL, account_id bigint NOT NULL, local boolean, deleted_at timestamp,
  visibility integer DEFAULT 0 NOT NULL, reblog_of_id bigint, reply boolean DEFAULT false NOT NULL);
CREATE TABLE reports (id bigserial PRIMARY KEY, comment text DEFAULT '' NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL, account_id bigint NOT NULL,
  action_taken_at timestamp, action_taken_by_account_id bigint, target_account_id bigint NOT NULL,
  assigned_account_id bigint);
CREATE TABLE unavailable_domains (id bigserial PRIMARY KEY, domain varchar DEFAULT '' NOT NULL,
  created_at timestamp NOT NULL, updated_at timestamp NOT NULL);
CREATE TABLE software_updates (id bigserial PRIMARY KEY, version varchar NOT NULL,
  urgent boolean DEFAULT false NOT NULL, type integer DEFAULT 0 NOT NULL, release_notes varchar DEFAULT '' NOT NULL);
CREATE TABLE media_attachments (id bigint PRIMARY KEY, status_id bigint, file_file_size integer,
  remote_url varchar DEFAULT '' NOT NULL, created_at timestamp NOT NULL);
";
