//! Real servers for integration tests: PostgreSQL (with streaming replicas), PgBouncer and
//! Redis, started from the installed Debian binaries (`scripts/test --install-only` installs
//! them) on free loopback ports, each in its own temp dir.
//!
//! Include it from an integration test with `mod support;` and use [`PgServer`],
//! [`PgBouncer`] and [`RedisServer`] (re-exported here). Nothing here depends on the
//! fedimeter library; `tests/testkit.rs` shows every feature in use.
//!
//! Rules every server follows:
//! - **Isolation.** Tests run in parallel (threads of one test binary, and several test
//!   binaries at once), so every server gets its own temp dir and a port found by binding
//!   `127.0.0.1:0`; a start that loses its port to someone else is retried on a new one.
//! - **Teardown.** Dropping a server kills it (and, for PostgreSQL, every child of the
//!   postmaster) and removes its temp dir, also when the test panics. If the test process
//!   itself dies without unwinding (abort, SIGKILL, Ctrl-C), a small watchdog shell per temp
//!   dir notices within a second, kills what is left and removes the dir.
//! - **Root.** PostgreSQL and PgBouncer refuse to run as root: when `geteuid() == 0` they run
//!   as the `postgres` system user, and their temp dir is owned by that user.
//! - **Blocking API.** Every call blocks the calling thread (starting a server takes well under
//!   a second or two). Calling them directly from a `#[tokio::test]` is fine.
//! - **Failures are loud.** A server that does not come up panics with the command, the cause
//!   and the tail of its log. Start times go to stderr, which the harness shows on failure.
//!
//! Environment: `FEDIMETER_TEST_TMPDIR` (where temp dirs go; default `/dev/shm` when it is a
//! roomy tmpfs, else the system temp dir), `FEDIMETER_TEST_PG_BINDIR` (a PostgreSQL `bin`
//! dir, to test another major version; default the highest installed).
#![allow(dead_code)]

pub mod pgbouncer;
pub mod postgres;
pub mod redis;

// Short paths (`support::PgServer`); not every test binary uses every one.
#[allow(unused_imports)]
pub use pgbouncer::{PgBouncer, PgBouncerOptions, PoolMode};
#[allow(unused_imports)]
pub use postgres::PgServer;
#[allow(unused_imports)]
pub use redis::{RedisConn, RedisOptions, RedisServer, Reply};

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to become ready before the start panics.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a start is retried on a fresh port when the port was taken meanwhile.
const PORT_RETRIES: usize = 5;

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago. Never returns the same port twice
/// within one test process; another process can still take it, which is why server starts
/// retry on "Address already in use".
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local_addr of a bound listener")
            .port();
        drop(listener);
        let mut seen = handed_out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.insert(port) {
            return port;
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
pub fn port_accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

// ---------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------

/// Finds an executable on `PATH` or in the sbin directories (which a non-root `PATH` often
/// lacks). Panics with an install hint when it is missing.
pub fn find_binary(name: &str) -> PathBuf {
    try_find_binary(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH nor in /usr/sbin, /usr/local/sbin, /sbin: \
             run `scripts/test --install-only` to install the test servers"
        )
    })
}

/// Like [`find_binary`], but `None` when it is missing.
pub fn try_find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ---------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------

/// What one readiness probe saw.
pub enum Probe {
    Ready,
    NotYet,
    /// Give up now, with this reason.
    Failed(String),
}

/// Calls `probe` every 50 ms until it reports [`Probe::Ready`] (→ `Ok`), [`Probe::Failed`]
/// (→ `Err(reason)`) or `timeout` passes (→ `Err`).
pub fn wait_until(timeout: Duration, mut probe: impl FnMut() -> Probe) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Probe::Ready => return Ok(()),
            Probe::Failed(reason) => return Err(reason),
            Probe::NotYet if Instant::now() >= deadline => {
                return Err(format!("not ready after {timeout:?}"));
            }
            Probe::NotYet => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Polls `condition` every 50 ms until it is true; panics with `what` after `timeout`.
/// For eventually-consistent checks such as "the row reached the replica".
pub fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of a log file, for panic messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read log {}: {e})", path.display()),
    }
}

/// The part of a log file written after byte `offset`.
pub fn log_since(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

/// The unprivileged account that PostgreSQL and PgBouncer run as when the tests run as root.
#[derive(Clone, Debug)]
pub struct ServiceUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// `Some(postgres user)` when running as root (falls back to `nobody`), `None` otherwise.
pub fn service_user() -> Option<&'static ServiceUser> {
    static USER: OnceLock<Option<ServiceUser>> = OnceLock::new();
    USER.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let user = ["postgres", "nobody"]
            .iter()
            .find_map(|name| lookup_user(name))
            .expect("running as root, but neither a `postgres` nor a `nobody` user exists");
        Some(user)
    })
    .as_ref()
}

fn lookup_user(name: &str) -> Option<ServiceUser> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam takes a valid C string; the returned record is read before any
    // other call could overwrite it. Tests only call this once (behind a OnceLock).
    let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null pointer from getpwnam.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Some(ServiceUser {
        name: name.to_owned(),
        uid,
        gid,
    })
}

/// Makes `cmd` run as `user` (if any): uid, gid, no supplementary groups.
pub(crate) fn run_as(cmd: &mut Command, user: Option<&ServiceUser>) {
    if let Some(user) = user {
        cmd.uid(user.uid).gid(user.gid);
    }
}

pub(crate) fn chown(path: &Path, user: Option<&ServiceUser>) {
    if let Some(user) = user {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .unwrap_or_else(|e| panic!("chown {} to {}: {e}", path.display(), user.name));
    }
}

// ---------------------------------------------------------------------------------------
// Temp dirs with a watchdog
// ---------------------------------------------------------------------------------------

/// Kills the server whose pid is in `$2/.server-pid` (and the server's children), then
/// removes the dir `$2`, once process `$1` (the test process) is gone. Exits quietly when
/// the dir disappears first (normal teardown).
const WATCHDOG_SCRIPT: &str = r#"
parent=$1 dir=$2
while kill -0 "$parent" 2>/dev/null; do
  [ -d "$dir" ] || exit 0
  sleep 1
done
if [ -f "$dir/.server-pid" ]; then
  pid=$(cat "$dir/.server-pid")
  kids=""
  for stat in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$stat" || continue
    rest=${line##*) }
    set -- $rest
    kid=${stat#/proc/}
    [ "$2" = "$pid" ] && kids="$kids ${kid%/stat}"
  done
  kill -KILL "$pid" $kids 2>/dev/null
fi
rm -rf "$dir"
"#;

/// Where server temp dirs go: `$FEDIMETER_TEST_TMPDIR` if set, else `/dev/shm` when it is
/// a tmpfs with at least 1 GiB free (a PostgreSQL data dir is about 25 MB; on a disk shared
/// with busy compilers, copying it took seconds instead of a few milliseconds), else the
/// system temp dir.
pub fn temp_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FEDIMETER_TEST_TMPDIR") {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        if free_bytes(shm).is_some_and(|free| free >= 1 << 30) {
            return shm.to_owned();
        }
        std::env::temp_dir()
    })
}

/// Free bytes on the file system of `dir`, if it is a writable directory.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: access and statvfs take a valid C string and (for statvfs) a pointer to a
    // zeroed struct that they fill in.
    unsafe {
        if libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) != 0 {
            return None;
        }
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        Some(stat.f_bavail as u64 * stat.f_frsize as u64)
    }
}

/// A temp dir for one server (or one PostgreSQL template), owned by the service user when
/// running as root, removed on drop. A watchdog removes it (and kills the server registered
/// with [`ServerDir::set_server_pid`]) if the test process dies without unwinding.
pub struct ServerDir {
    watchdog: Option<Child>,
    dir: tempfile::TempDir,
}

impl ServerDir {
    pub fn new(prefix: &str, owner: Option<&ServiceUser>) -> ServerDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("fedimeter-{prefix}-"))
            .tempdir_in(temp_root())
            .unwrap_or_else(|e| panic!("creating a temp dir in {}: {e}", temp_root().display()));
        chown(dir.path(), owner);
        let watchdog = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("fedimeter-test-watchdog")
            .arg(std::process::id().to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok();
        ServerDir { watchdog, dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Registers (or, with `None`, forgets) the server pid the watchdog must kill.
    pub fn set_server_pid(&self, pid: Option<u32>) {
        let file = self.path().join(".server-pid");
        match pid {
            Some(pid) => fs::write(&file, pid.to_string()).expect("writing .server-pid"),
            None => {
                let _ = fs::remove_file(&file);
            }
        }
    }
}

impl Drop for ServerDir {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // `self.dir` (TempDir) removes the directory after this.
    }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// Sends `signal` to one process; errors (already gone) are ignored.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Whether a process with this pid exists (zombies included).
pub fn process_exists(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence/permission.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// All descendants of `root` (children, grandchildren, …), found through `/proc/*/stat`.
/// PostgreSQL's children call `setsid()`, so a process group does not reach them.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may contain spaces and parens.
            let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after_comm
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parent_of {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// A running server process: its own process group, stdout and stderr appended to a log
/// file, registered with the watchdog of its [`ServerDir`].
pub struct ServerProcess {
    child: Child,
    name: String,
    log: PathBuf,
}

/// Outcome of [`ServerProcess::spawn_until_ready`].
pub enum Started {
    Ready(ServerProcess),
    /// The server exited because its port was taken: try again on another port.
    PortInUse(String),
}

impl ServerProcess {
    /// Spawns `cmd` and waits (bounded by [`START_TIMEOUT`]) until `ready(pid)` says so.
    /// Panics with the log tail when the process exits or does not become ready, except
    /// when its log says "Address already in use" ([`Started::PortInUse`]).
    pub fn spawn_until_ready(
        name: &str,
        mut cmd: Command,
        dir: &ServerDir,
        log: &Path,
        mut ready: impl FnMut(u32) -> Probe,
    ) -> Started {
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let offset = log_file.metadata().map(|m| m.len()).unwrap_or(0);
        let stderr = log_file.try_clone().expect("cloning a log file handle");
        cmd.stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .current_dir(dir.path())
            .process_group(0);
        let description = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot spawn {description}: {e}"));
        dir.set_server_pid(Some(child.id()));
        let pid = child.id();
        let mut process = ServerProcess {
            child,
            name: name.to_owned(),
            log: log.to_owned(),
        };

        let outcome = wait_until(START_TIMEOUT, || match process.child.try_wait() {
            Ok(Some(status)) => Probe::Failed(format!("exited with {status}")),
            Err(e) => Probe::Failed(format!("waitpid failed: {e}")),
            Ok(None) => ready(pid),
        });
        match outcome {
            Ok(()) => Started::Ready(process),
            Err(reason) => {
                process.kill_now();
                dir.set_server_pid(None);
                let new_log = log_since(log, offset);
                if new_log.contains("Address already in use") {
                    return Started::PortInUse(new_log);
                }
                panic!(
                    "{name} did not start: {reason}\ncommand: {description}\n\
                     --- last lines of {} ---\n{}",
                    log.display(),
                    log_tail(log, 40)
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (not exited; a SIGSTOPped one is running).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process and all its descendants.
    pub fn tree(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        pids.extend(descendants(self.pid()));
        pids
    }

    /// SIGSTOPs the process first (so it forks nothing new), then every descendant.
    pub fn stop_signal_tree(&self) {
        signal(self.pid(), libc::SIGSTOP);
        for pid in descendants(self.pid()) {
            signal(pid, libc::SIGSTOP);
        }
    }

    /// SIGCONTs every descendant, then the process.
    pub fn cont_signal_tree(&self) {
        for pid in descendants(self.pid()) {
            signal(pid, libc::SIGCONT);
        }
        signal(self.pid(), libc::SIGCONT);
    }

    /// Resumes the tree if stopped, sends `sig` to the process and waits up to `grace` for
    /// it to exit; then SIGKILLs the process and every descendant. Returns the exit status.
    pub fn terminate(&mut self, sig: i32, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        self.cont_signal_tree();
        signal(self.pid(), sig);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{}: pid {} ignored signal {sig} for {grace:?}; killing it",
            self.name,
            self.pid()
        );
        self.kill_now();
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILLs the process and every descendant, and reaps the process.
    pub fn kill_now(&mut self) {
        // Collect the descendants before the parent dies and they are re-parented.
        let tree = self.tree();
        for pid in tree {
            signal(pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    pub fn log(&self) -> &Path {
        &self.log
    }
}

/// Starts a server on a fresh port, retrying on a new port when the old one was taken.
/// `start(port)` returns what [`ServerProcess::spawn_until_ready`] returned.
pub fn start_on_free_port(
    name: &str,
    mut start: impl FnMut(u16) -> Started,
) -> (u16, ServerProcess) {
    let mut last_log = String::new();
    let started = Instant::now();
    for _ in 0..PORT_RETRIES {
        let port = free_port();
        match start(port) {
            Started::Ready(process) => {
                // Captured by the test harness: shown only when the test fails.
                eprintln!(
                    "{name}: ready on 127.0.0.1:{port} in {:?}",
                    started.elapsed()
                );
                return (port, process);
            }
            Started::PortInUse(log) => last_log = log,
        }
    }
    panic!("{name}: the port was taken {PORT_RETRIES} times in a row; last log:\n{last_log}");
}

/// The lifecycle every server shares: a temp dir, a port kept across restarts, and the
/// process (absent while stopped). Dropping it sends `drop_signal`, SIGKILLs whatever is
/// left after 5 s, and removes the temp dir.
pub struct ManagedServer {
    process: Option<ServerProcess>,
    name: &'static str,
    port: u16,
    /// Signal for [`ManagedServer::stop`] (a clean shutdown).
    stop_signal: i32,
    /// Signal on drop (the quickest shutdown that still cleans up).
    drop_signal: i32,
    // Declared last: removed after the process is gone.
    dir: ServerDir,
}

impl ManagedServer {
    /// Starts a server in `dir` on a free port (retrying on a port clash) with
    /// `spawn(dir, port)`, usually a wrapper around [`ServerProcess::spawn_until_ready`].
    pub fn start(
        name: &'static str,
        dir: ServerDir,
        stop_signal: i32,
        drop_signal: i32,
        mut spawn: impl FnMut(&ServerDir, u16) -> Started,
    ) -> ManagedServer {
        let (port, process) = start_on_free_port(name, |port| spawn(&dir, port));
        ManagedServer {
            process: Some(process),
            name,
            port,
            stop_signal,
            drop_signal,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's main pid. Panics when it is stopped.
    pub fn pid(&self) -> u32 {
        self.running("pid").pid()
    }

    /// The main pid and all its descendants.
    pub fn pids(&self) -> Vec<u32> {
        self.running("pids").tree()
    }

    /// Whether it is running (a SIGSTOPped server counts as running).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ServerProcess::is_running)
    }

    /// SIGSTOP to the process and every descendant: the kernel still completes TCP
    /// handshakes on the port, but nothing answers, like a hung server.
    pub fn sigstop(&self) {
        self.running("sigstop").stop_signal_tree();
    }

    /// SIGCONT to everything [`ManagedServer::sigstop`] stopped.
    pub fn sigcont(&self) {
        self.running("sigcont").cont_signal_tree();
    }

    /// Sends any signal (e.g. SIGHUP) to the main process.
    pub fn signal(&self, sig: i32) {
        signal(self.running("signal").pid(), sig);
    }

    /// Clean shutdown with the stop signal (SIGKILL after 15 s). Port and dir stay.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(self.stop_signal, Duration::from_secs(15));
        }
        self.dir.set_server_pid(None);
    }

    /// Crash: SIGKILL the process and every descendant at once. Port and dir stay.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill_now();
        }
        self.dir.set_server_pid(None);
    }

    /// Starts it again on the same port in the same dir with `spawn(dir, port)`. Panics if
    /// it is running or the port was taken while it was stopped.
    pub fn start_again(&mut self, spawn: impl FnOnce(&ServerDir, u16) -> Started) {
        assert!(
            self.process.is_none(),
            "start_again: {} on port {} is still running",
            self.name,
            self.port
        );
        match spawn(&self.dir, self.port) {
            Started::Ready(process) => self.process = Some(process),
            Started::PortInUse(log) => panic!(
                "start_again: port {} was taken while {} was stopped:\n{log}",
                self.port, self.name
            ),
        }
    }

    fn running(&self, what: &str) -> &ServerProcess {
        self.process
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: {} on port {} is stopped", self.name, self.port))
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(self.drop_signal, Duration::from_secs(5));
        }
        self.dir.set_server_pid(None);
    }
}

/// Runs a short helper command to completion; panics with its output when it fails.
pub fn run_checked(what: &str, cmd: &mut Command) -> String {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}
