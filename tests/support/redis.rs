//! A real Redis (`/usr/bin/redis-server`) for integration tests, plus a tiny blocking RESP2
//! client ([`RedisServer::cmd`]) to seed data and check state without extra crates.
//!
//! Each server: `--bind 127.0.0.1 --port <free> --save '' --appendonly no --dir <temp dir>`,
//! optionally `requirepass` and one ACL user (`user NAME on >PASS ~* &* +@all`). Redis does
//! not mind root, so it runs as the current user.
//!
//! For `rediss://` tests, [`RedisTls::generate`] writes a private CA and a server
//! certificate for `127.0.0.1` signed by it, made with rcgen in-process (no `openssl`
//! command needed), and [`RedisTls::args`] gives the `--tls-*` arguments for them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{
    ManagedServer, Probe, ServerDir, ServerProcess, Started, find_binary, log_since, log_tail,
};

/// Options for [`RedisServer::start_with`].
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// `requirepass`: the `default` user's password.
    pub password: Option<String>,
    /// An ACL user `(name, password)` with every permission.
    pub acl_user: Option<(String, String)>,
    /// Extra `redis-server` arguments, e.g. `["--maxmemory", "10mb"]`.
    pub extra_args: Vec<String>,
}

/// TLS material for a Redis server, in a temp dir that lives as long as this value.
pub struct RedisTls {
    /// The private CA's certificate (PEM): what a client must trust.
    pub ca_file: PathBuf,
    /// The server certificate (PEM, SAN `IP:127.0.0.1` and `localhost`), signed by the CA.
    pub cert_file: PathBuf,
    /// The server certificate's private key (PKCS#8 PEM).
    pub key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl RedisTls {
    /// A fresh CA and server certificate, valid from a day ago for a day. The server has its
    /// own certificate signed by the CA, since webpki refuses a CA certificate used as the
    /// server's own.
    pub fn generate() -> RedisTls {
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "fedimeter redis test CA");
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        ca.not_before = now - day;
        ca.not_after = now + day;
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let mut server =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        server
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        server.not_before = now - day;
        server.not_after = now + day;
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("writing a pem file");
            path
        };
        RedisTls {
            ca_file: write("ca.pem", ca_cert.pem()),
            cert_file: write("cert.pem", server_cert.pem()),
            key_file: write("key.pem", server_key.serialize_pem()),
            _dir: dir,
        }
    }

    /// `redis-server` arguments for a TLS listener on `port` with these files; clients are
    /// not asked for a certificate.
    pub fn args(&self, port: u16) -> Vec<String> {
        vec![
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            self.cert_file.display().to_string(),
            "--tls-key-file".into(),
            self.key_file.display().to_string(),
            "--tls-ca-cert-file".into(),
            self.ca_file.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
    }
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR …`: a reply, not a transport failure.
    Error(String),
    /// `:42`
    Int(i64),
    /// `$…`; `None` is the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*…`; `None` is the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a status, error or bulk reply.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) | Reply::Error(s) => Some(s.clone()),
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

/// One blocking connection speaking RESP2.
pub struct RedisConn {
    reader: BufReader<TcpStream>,
}

impl RedisConn {
    /// Connects to 127.0.0.1:`port`; `timeout` bounds the connect and every read and write.
    pub fn connect(port: u16, timeout: Duration) -> std::io::Result<RedisConn> {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(RedisConn {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            let arg = arg.as_ref();
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request)?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad RESP line {line:?}"),
            )
        };
        let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        let number = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(number()?),
            "$" => match usize::try_from(number()?) {
                Err(_) => Reply::Bulk(None),
                Ok(len) => {
                    let mut bytes = vec![0; len + 2];
                    self.reader.read_exact(&mut bytes)?;
                    bytes.truncate(len);
                    Reply::Bulk(Some(bytes))
                }
            },
            "*" => match usize::try_from(number()?) {
                Err(_) => Reply::Array(None),
                Ok(len) => Reply::Array(Some(
                    (0..len)
                        .map(|_| self.read_reply())
                        .collect::<Result<_, _>>()?,
                )),
            },
            _ => return Err(bad()),
        })
    }
}

/// A running (or stopped) Redis. Dropping it kills it and removes its temp dir.
pub struct RedisServer {
    server: ManagedServer,
    options: RedisOptions,
}

impl RedisServer {
    /// No password, no ACL user.
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOptions::default())
    }

    pub fn start_with(options: RedisOptions) -> RedisServer {
        let dir = ServerDir::new("redis", None);
        let server = ManagedServer::start(
            "redis-server",
            dir,
            libc::SIGTERM,
            libc::SIGTERM,
            |dir, port| spawn_redis(dir, port, &options),
        );
        RedisServer { server, options }
    }

    /// A replica of `master` (`--replicaof 127.0.0.1 <port>`, with `--masterauth` when the
    /// master has a `requirepass` password). It answers before its link to the master is
    /// up: wait for `master_link_status:up` where that matters.
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        let mut extra_args = vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            master.port().to_string(),
        ];
        if let Some(password) = &master.options.password {
            extra_args.extend(["--masterauth".to_owned(), password.clone()]);
        }
        RedisServer::start_with(RedisOptions {
            extra_args,
            ..RedisOptions::default()
        })
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// `redis://[user:pass@]127.0.0.1:PORT` with the ACL user if there is one, else the
    /// `requirepass` password, else no credentials.
    pub fn url(&self) -> String {
        match (&self.options.acl_user, &self.options.password) {
            (Some((user, pass)), _) => format!("redis://{user}:{pass}@127.0.0.1:{}", self.port()),
            (None, Some(pass)) => format!("redis://:{pass}@127.0.0.1:{}", self.port()),
            (None, None) => format!("redis://127.0.0.1:{}", self.port()),
        }
    }

    /// A fresh connection, authenticated like [`RedisServer::url`]. Panics on failure.
    pub fn conn(&self) -> RedisConn {
        let mut conn = RedisConn::connect(self.port(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connecting to redis on port {}: {e}", self.port()));
        let auth: Option<Vec<&str>> = match (&self.options.acl_user, &self.options.password) {
            (Some((user, pass)), _) => Some(vec!["AUTH", user, pass]),
            (None, Some(pass)) => Some(vec!["AUTH", pass]),
            (None, None) => None,
        };
        if let Some(auth) = auth {
            let reply = conn.cmd(&auth).expect("sending AUTH");
            assert_eq!(
                reply,
                Reply::Status("OK".into()),
                "AUTH on redis port {} failed",
                self.port()
            );
        }
        conn
    }

    /// Runs one command on a fresh authenticated connection, e.g.
    /// `redis.cmd(&["LPUSH", "queue:default", job])`. Panics on I/O errors; an error reply
    /// is returned as [`Reply::Error`].
    pub fn cmd<A: AsRef<[u8]>>(&self, args: &[A]) -> Reply {
        self.conn()
            .cmd(args)
            .unwrap_or_else(|e| panic!("redis command on port {} failed: {e}", self.port()))
    }

    pub fn log_path(&self) -> PathBuf {
        self.server.dir().join("redis.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    /// redis-server's pid. Panics when it is stopped.
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

    /// Clean shutdown (SIGTERM; nothing is saved). The port and temp dir stay for
    /// [`RedisServer::start_again`]; the data is gone (no persistence).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Crash: SIGKILL.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts it again on the same port. Panics if it is running or the port was taken.
    pub fn start_again(&mut self) {
        let options = &self.options;
        self.server
            .start_again(|dir, port| spawn_redis(dir, port, options));
    }
}

/// Spawns redis-server on `port` in `dir` and waits until it answers (used by [`RedisServer`];
/// public so the retry-on-port-clash logic can be tested).
pub fn spawn_redis(dir: &ServerDir, port: u16, options: &RedisOptions) -> Started {
    let log = dir.path().join("redis.log");
    let mut cmd = Command::new(find_binary("redis-server"));
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(&log);
    if let Some(password) = &options.password {
        cmd.args(["--requirepass", password]);
    }
    if let Some((user, password)) = &options.acl_user {
        cmd.args([
            "--user",
            user,
            "on",
            &format!(">{password}"),
            "~*",
            "&*",
            "+@all",
        ]);
    }
    cmd.args(&options.extra_args);
    let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    ServerProcess::spawn_until_ready("redis-server", cmd, dir, &log, |_pid| {
        // "Ready to accept connections" from this start proves the port is ours; a PING
        // then shows it answers (NOAUTH counts: it is up, it wants a password).
        if !log_since(&log, offset).contains("Ready to accept connections") {
            return Probe::NotYet;
        }
        match RedisConn::connect(port, Duration::from_secs(1)).and_then(|mut c| c.cmd(&["PING"])) {
            Ok(Reply::Status(_)) => Probe::Ready,
            Ok(Reply::Error(e)) if e.starts_with("NOAUTH") => Probe::Ready,
            _ => Probe::NotYet,
        }
    })
}
