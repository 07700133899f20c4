//! Mastodon's `.env.production`: a pure dotenv parser ([`parse`]) and the targets that
//! follow from it ([`derive()`]).
//!
//! The parser follows Ruby's `dotenv` gem, which is what Mastodon's Rails side (web and
//! Sidekiq) reads the file with, so fedimeter connects with exactly the credentials
//! Mastodon uses:
//! - `KEY=value`, `export KEY=value`, and the YAML-like `KEY: value`; keys are
//!   `[A-Za-z0-9_.]+`; a later definition of a key wins;
//! - blank lines and `#` comments; in an unquoted value a `#` starts a comment (as in the
//!   gem, even without a space before it) and surrounding whitespace is trimmed;
//! - `'single quoted'` values are taken literally (and may span lines);
//! - `"double quoted"` values may span lines and know `\n`, `\r`, `\"`, `\\` and `\$`;
//! - `$VAR` and `${VAR}` (`VAR` in `[A-Z0-9_]+`) in unquoted and double-quoted values are
//!   replaced by the value of a key defined earlier in the file, or by nothing. Unlike the
//!   gem, the process environment is not consulted (the parser is pure) and `$(command)` is
//!   not run: it is kept as written.
//!
//! Stricter than the gem: a line that is not blank, a comment or an assignment, and a quote
//! that is never closed, are errors (with line and column) instead of being skipped. Error
//! messages never contain values: the file holds passwords.
//!
//! [`derive()`] mirrors `config/database.yml` and `lib/mastodon/redis_configuration.rb`
//! (Mastodon 4.2–4.5); see `reference/mastodon-facts.md` §3.

use std::fmt;

/// A problem in the env file, or in a value that a target is derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The variable the problem is about, when known.
    pub key: Option<String>,
    /// What is wrong: lowercase, never the value.
    pub message: String,
}

/// One `KEY=value` of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvEntry {
    pub key: String,
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
    /// 1-based column (in characters) where the value starts.
    pub column: usize,
}

impl fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvEntry")
            .field("key", &self.key)
            .field("value", &"***")
            .field("line", &self.line)
            .field("column", &self.column)
            .finish()
    }
}

/// A parsed env file. `Debug` shows the keys only: the values are secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    entries: Vec<EnvEntry>,
}

impl fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.key))
            .finish()
    }
}

impl EnvFile {
    /// The last definition of `key`.
    pub fn entry(&self, key: &str) -> Option<&EnvEntry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    /// The value of `key`; an empty value counts as unset (Mastodon's files often carry
    /// `DB_PASS=` and the like).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.entry(key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every entry in file order (a key may appear more than once).
    pub fn entries(&self) -> &[EnvEntry] {
        &self.entries
    }
}

/// Parses the text of a dotenv file; reports every malformed line.
pub fn parse(text: &str) -> Result<EnvFile, Vec<EnvFileError>> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
        file: EnvFile::default(),
        errors: Vec::new(),
    };
    parser.run();
    if parser.errors.is_empty() {
        Ok(parser.file)
    } else {
        Err(parser.errors)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
    file: EnvFile,
    errors: Vec<EnvFileError>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Skips to the start of the next line.
    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn error(&mut self, line: usize, column: usize, key: Option<&str>, message: &str) {
        self.errors.push(EnvFileError {
            line,
            column,
            key: key.map(str::to_string),
            message: message.to_string(),
        });
    }

    fn run(&mut self) {
        while self.peek().is_some() {
            self.statement();
        }
    }

    /// One line (or several, for a quoted value spanning lines).
    fn statement(&mut self) {
        self.skip_blanks();
        match self.peek() {
            None => return,
            Some('\n') => {
                self.bump();
                return;
            }
            Some('#') => {
                self.skip_line();
                return;
            }
            _ => {}
        }
        let (line, column) = (self.line, self.column);
        let mut exported = false;
        if self.starts_with_word("export") && matches!(self.peek_at(6), Some(' ' | '\t')) {
            for _ in 0..6 {
                self.bump();
            }
            self.skip_blanks();
            exported = true;
        }
        let key_column = self.column;
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                key.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if key.is_empty() {
            self.error(line, key_column, None, "expected a variable name");
            self.skip_line();
            return;
        }
        self.skip_blanks();
        match (self.peek(), self.peek_at(1)) {
            (Some('='), _) => {
                self.bump();
            }
            (Some(':'), Some(' ' | '\t')) => {
                self.bump();
            }
            (None | Some('\n' | '#'), _) if exported => {
                // `export KEY` re-exports a key defined earlier: nothing to store.
                if self.file.entry(&key).is_none() {
                    self.error(
                        line,
                        column,
                        Some(&key),
                        "export of a variable that is not set",
                    );
                }
                self.skip_line();
                return;
            }
            _ => {
                self.error(
                    line,
                    self.column,
                    Some(&key),
                    "expected = after the variable name",
                );
                self.skip_line();
                return;
            }
        }
        self.skip_blanks();
        let (value_line, value_column) = (self.line, self.column);
        let value = match self.peek() {
            Some('\'') => self.single_quoted(&key),
            Some('"') => self.double_quoted(&key),
            _ => Some(self.unquoted()),
        };
        let Some(value) = value else {
            // Unterminated quote: reported; the rest of the file was consumed.
            return;
        };
        self.skip_blanks();
        match self.peek() {
            None | Some('\n') | Some('#') => self.skip_line(),
            Some(_) => {
                self.error(
                    self.line,
                    self.column,
                    Some(&key),
                    "unexpected text after the closing quote",
                );
                self.skip_line();
                return;
            }
        }
        self.file.entries.push(EnvEntry {
            key,
            value,
            line: value_line,
            column: value_column,
        });
    }

    fn starts_with_word(&self, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn single_quoted(&mut self, key: &str) -> Option<String> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    self.error(line, column, Some(key), "single quote is never closed");
                    return None;
                }
                Some('\'') => return Some(value),
                Some('\\') if self.peek() == Some('\'') => {
                    // The gem allows `\'` inside and keeps it as written.
                    value.push('\\');
                    value.push('\'');
                    self.bump();
                }
                Some(c) => value.push(c),
            }
        }
    }

    fn double_quoted(&mut self, key: &str) -> Option<String> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    self.error(line, column, Some(key), "double quote is never closed");
                    return None;
                }
                Some('"') => return Some(value),
                Some('\\') => match self.bump() {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some(c) => value.push(c),
                    None => {}
                },
                Some('$') => self.substitute(&mut value),
                Some(c) => value.push(c),
            }
        }
    }

    fn unquoted(&mut self) -> String {
        let mut value = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\n' | '#' => break,
                '\\' if self.peek_at(1) == Some('$') => {
                    self.bump();
                    self.bump();
                    value.push('$');
                }
                '$' => {
                    self.bump();
                    self.substitute(&mut value);
                }
                _ => {
                    self.bump();
                    value.push(c);
                }
            }
        }
        value.trim_end().to_string()
    }

    /// After a `$`: `${NAME}`, `$NAME` or a literal `$`.
    fn substitute(&mut self, value: &mut String) {
        let braced = self.peek() == Some('{');
        let name_start = self.pos + usize::from(braced);
        let mut len = 0;
        while matches!(self.chars.get(name_start + len), Some(c) if c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        {
            len += 1;
        }
        if len == 0 {
            value.push('$');
            return;
        }
        if braced {
            self.bump();
        }
        let name: String = self.chars[name_start..name_start + len].iter().collect();
        for _ in 0..len {
            self.bump();
        }
        if braced && self.peek() == Some('}') {
            self.bump();
        }
        if let Some(entry) = self.file.entry(&name) {
            value.push_str(&entry.value);
        }
    }
}

/// Where a derived value came from: the variable and its position in the env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub key: String,
    pub line: usize,
    pub column: usize,
}

impl Origin {
    fn of(entry: &EnvEntry) -> Origin {
        Origin {
            key: entry.key.clone(),
            line: entry.line,
            column: entry.column,
        }
    }
}

/// A value read from the env file, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub value: String,
    pub origin: Origin,
}

/// A PostgreSQL or Redis target derived from the env file. Its URL may hold a password:
/// `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedTarget {
    pub name: String,
    /// The connection URL; meaningless when `problems` is not empty.
    pub url: String,
    /// The variable that decided the URL (`DATABASE_URL`, `DB_HOST`, `REDIS_URL`, …);
    /// `None` when every part is a default.
    pub origin: Option<Origin>,
    /// Redis only: read Sidekiq's keys here.
    pub sidekiq: bool,
    /// Redis only: `REDIS_NAMESPACE`, on the target that holds Sidekiq.
    pub namespace: Option<String>,
    /// Variables that could not be used (a port that is not a number, …). They are errors
    /// unless the fedimeter config overrides this target's URL.
    pub problems: Vec<EnvFileError>,
}

impl fmt::Debug for DerivedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DerivedTarget")
            .field("name", &self.name)
            .field("url", &"***")
            .field("origin", &self.origin)
            .field("sidekiq", &self.sidekiq)
            .field("namespace", &self.namespace)
            .field("problems", &self.problems)
            .finish()
    }
}

/// Everything fedimeter takes from a Mastodon env file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// `mastodon` (primary) and, when a replica is configured, `mastodon-replica`.
    pub postgres: Vec<DerivedTarget>,
    /// `mastodon` (base), `sidekiq` and `cache` when they are separate servers.
    pub redis: Vec<DerivedTarget>,
    pub local_domain: Option<EnvValue>,
    pub web_domain: Option<EnvValue>,
    pub streaming_base_url: Option<EnvValue>,
}

/// Name of the PostgreSQL and base Redis targets derived from the env file.
pub const PRIMARY_NAME: &str = "mastodon";
/// Name of the PostgreSQL read replica target (`REPLICA_DB_NAME` or `REPLICA_DATABASE_URL`).
pub const REPLICA_NAME: &str = "mastodon-replica";
/// Name of the Redis target from `SIDEKIQ_REDIS_*`, when it differs from the base Redis.
pub const SIDEKIQ_NAME: &str = "sidekiq";
/// Name of the Redis target from `CACHE_REDIS_*`, when it differs from the others.
pub const CACHE_NAME: &str = "cache";

/// The targets and domains that follow from `env`, as Mastodon would resolve them.
pub fn derive(env: &EnvFile) -> Derived {
    let mut derived = Derived::default();
    derived
        .postgres
        .push(postgres_target(env, PRIMARY_NAME, ""));
    // Mastodon enables the replica only when one of these two is set.
    if env.value("REPLICA_DATABASE_URL").is_some() || env.value("REPLICA_DB_NAME").is_some() {
        derived
            .postgres
            .push(postgres_target(env, REPLICA_NAME, "REPLICA_"));
    }
    derived.redis = redis_targets(env);

    let value = |key: &str| {
        let entry = env.entry(key)?;
        (!entry.value.is_empty()).then(|| EnvValue {
            value: entry.value.clone(),
            origin: Origin::of(entry),
        })
    };
    derived.local_domain = value("LOCAL_DOMAIN");
    derived.web_domain = value("WEB_DOMAIN");
    derived.streaming_base_url = value("STREAMING_API_BASE_URL");
    derived
}

fn problem(entry: &EnvEntry, message: &str) -> EnvFileError {
    EnvFileError {
        line: entry.line,
        column: entry.column,
        key: Some(entry.key.clone()),
        message: message.to_string(),
    }
}

/// A URL taken or assembled from env variables.
#[derive(Default)]
struct Resolved {
    url: String,
    origin: Option<Origin>,
    problems: Vec<EnvFileError>,
}

/// `<prefix>DATABASE_URL`, or a URL built from `<prefix>DB_*` (each `REPLICA_DB_*` falling
/// back to `DB_*`) with `config/database.yml`'s defaults.
fn postgres_target(env: &EnvFile, name: &str, prefix: &str) -> DerivedTarget {
    let resolved = postgres_url(env, prefix);
    DerivedTarget {
        name: name.to_string(),
        url: resolved.url,
        origin: resolved.origin,
        sidekiq: false,
        namespace: None,
        problems: resolved.problems,
    }
}

fn postgres_url(env: &EnvFile, prefix: &str) -> Resolved {
    if let Some(entry) = env
        .entry(&format!("{prefix}DATABASE_URL"))
        .filter(|e| !e.value.is_empty())
    {
        return Resolved {
            url: entry.value.clone(),
            origin: Some(Origin::of(entry)),
            problems: Vec::new(),
        };
    }
    let lookup = |name: &str| {
        env.entry(&format!("{prefix}{name}"))
            .filter(|e| !e.value.is_empty())
            .or_else(|| env.entry(name).filter(|e| !e.value.is_empty()))
    };
    let host = lookup("DB_HOST");
    let port = lookup("DB_PORT");
    let user = lookup("DB_USER");
    let name = lookup("DB_NAME");
    let pass = lookup("DB_PASS");
    let sslmode = lookup("DB_SSLMODE");
    let mut problems = Vec::new();

    let Ok(mut url) = url::Url::parse("postgres://localhost:5432") else {
        // A constant that parses; an empty URL would fail validation loudly.
        return Resolved::default();
    };
    if let Some(host) = host {
        if host.value.starts_with('/') {
            // A Unix socket directory (the sample file's `/var/run/postgresql`).
            url.query_pairs_mut().append_pair("host", &host.value);
        } else if set_host(&mut url, &host.value).is_err() {
            problems.push(problem(host, "invalid host name"));
        }
    }
    if let Some(port) = port {
        match port.value.parse::<u16>() {
            Ok(n) if url.set_port(Some(n)).is_ok() => {}
            _ => problems.push(problem(port, "not a port number")),
        }
    }
    let user_name = user.map_or("mastodon", |u| u.value.as_str());
    if url.set_username(user_name).is_err() {
        problems.extend(user.map(|u| problem(u, "invalid user name")));
    }
    if let Some(pass) = pass {
        if url.set_password(Some(&pass.value)).is_err() {
            problems.push(problem(pass, "cannot be used in a url"));
        }
    }
    let database = name.map_or("mastodon_production", |n| n.value.as_str());
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.clear().push(database);
    }
    if let Some(mode) = sslmode {
        url.query_pairs_mut().append_pair("sslmode", &mode.value);
    }
    Resolved {
        url: url.to_string(),
        origin: [host, port, user, name]
            .into_iter()
            .flatten()
            .next()
            .map(Origin::of),
        problems,
    }
}

/// Sets a host name or IP address (IPv6 with or without brackets).
fn set_host(url: &mut url::Url, host: &str) -> Result<(), url::ParseError> {
    if host.contains(':') && !host.starts_with('[') {
        url.set_host(Some(&format!("[{host}]")))
    } else {
        url.set_host(Some(host))
    }
}

/// The Redis servers: base (`REDIS_*`), Sidekiq (`SIDEKIQ_REDIS_*`) and cache
/// (`CACHE_REDIS_*`), the last two falling back to the base when unset. A server is
/// monitored once, however many roles it plays.
fn redis_targets(env: &EnvFile) -> Vec<DerivedTarget> {
    let namespace = env.value("REDIS_NAMESPACE").map(str::to_string);
    let mut targets = Vec::new();
    let Some(base) = redis_url(env, "") else {
        return targets;
    };
    let sidekiq = redis_url(env, "SIDEKIQ_").filter(|s| !same_url(&s.url, &base.url));
    let cache = redis_url(env, "CACHE_").filter(|c| {
        !same_url(&c.url, &base.url) && !sidekiq.as_ref().is_some_and(|s| same_url(&c.url, &s.url))
    });
    let sidekiq_on_base = sidekiq.is_none();
    targets.push(DerivedTarget {
        name: PRIMARY_NAME.to_string(),
        url: base.url,
        origin: base.origin,
        sidekiq: sidekiq_on_base,
        namespace: namespace.clone().filter(|_| sidekiq_on_base),
        problems: base.problems,
    });
    if let Some(s) = sidekiq {
        targets.push(DerivedTarget {
            name: SIDEKIQ_NAME.to_string(),
            url: s.url,
            origin: s.origin,
            sidekiq: true,
            namespace,
            problems: s.problems,
        });
    }
    if let Some(c) = cache {
        targets.push(DerivedTarget {
            name: CACHE_NAME.to_string(),
            url: c.url,
            origin: c.origin,
            sidekiq: false,
            namespace: None,
            problems: c.problems,
        });
    }
    targets
}

/// `<prefix>REDIS_URL`, or a URL built from `<prefix>REDIS_HOST/PORT/DB/USER/PASSWORD`.
/// The base (empty prefix) has defaults (localhost:6379, db 0); a prefixed one without a
/// host is `None` (Mastodon then uses the base).
fn redis_url(env: &EnvFile, prefix: &str) -> Option<Resolved> {
    let get = |name: &str| {
        env.entry(&format!("{prefix}REDIS_{name}"))
            .filter(|e| !e.value.is_empty())
    };
    if let Some(entry) = get("URL") {
        return Some(Resolved {
            url: entry.value.clone(),
            origin: Some(Origin::of(entry)),
            problems: Vec::new(),
        });
    }
    let host = get("HOST");
    if host.is_none() && !prefix.is_empty() {
        return None;
    }
    let (port, db, user, password) = (get("PORT"), get("DB"), get("USER"), get("PASSWORD"));
    let mut problems = Vec::new();
    let Ok(mut url) = url::Url::parse("redis://localhost:6379/0") else {
        return Some(Resolved::default());
    };
    if let Some(host) = host {
        if set_host(&mut url, &host.value).is_err() {
            problems.push(problem(host, "invalid host name"));
        }
    }
    if let Some(port) = port {
        match port.value.parse::<u16>() {
            Ok(n) if url.set_port(Some(n)).is_ok() => {}
            _ => problems.push(problem(port, "not a port number")),
        }
    }
    if let Some(db) = db {
        if db.value.parse::<u32>().is_ok() {
            url.set_path(&format!("/{}", db.value));
        } else {
            problems.push(problem(db, "not a database number"));
        }
    }
    if let Some(user) = user {
        if url.set_username(&user.value).is_err() {
            problems.push(problem(user, "invalid user name"));
        }
    }
    if let Some(password) = password {
        if url.set_password(Some(&password.value)).is_err() {
            problems.push(problem(password, "cannot be used in a url"));
        }
    }
    Some(Resolved {
        url: url.to_string(),
        origin: [host, port, db]
            .into_iter()
            .flatten()
            .next()
            .map(Origin::of),
        problems,
    })
}

fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        match parse(text) {
            Ok(file) => file
                .entries()
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
            Err(errors) => panic!("{text:?}: {errors:?}"),
        }
    }

    #[test]
    fn parser_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("A=1", &[("A", "1")]),
            ("A=1\nB=2\n", &[("A", "1"), ("B", "2")]),
            ("export A=1", &[("A", "1")]),
            ("  export\tA = 1  ", &[("A", "1")]),
            ("A: 1", &[("A", "1")]),
            ("A=", &[("A", "")]),
            ("# comment\n\n   \nA=1 # trailing", &[("A", "1")]),
            ("A=abc#def", &[("A", "abc")]),
            ("A='x # y'", &[("A", "x # y")]),
            ("A=\"x # y\"  # c", &[("A", "x # y")]),
            ("A='a\\nb $B'", &[("A", "a\\nb $B")]),
            ("A=\"a\\nb\\\"c\\\\d\"", &[("A", "a\nb\"c\\d")]),
            (
                "A=\"line1\nline2\"\nB=2",
                &[("A", "line1\nline2"), ("B", "2")],
            ),
            ("A='it\\'s'", &[("A", "it\\'s")]),
            ("A=x\r\nB=y\r\n", &[("A", "x"), ("B", "y")]),
            (
                "HOST=db\nURL=pg://${HOST}:$PORT/x",
                &[("HOST", "db"), ("URL", "pg://db:/x")],
            ),
            ("P=a$b$$c\\$D", &[("P", "a$b$$c$D")]),
            ("A=1\nB=\"${A}-\\$A\"", &[("A", "1"), ("B", "1-$A")]),
            ("A=$(whoami)", &[("A", "$(whoami)")]),
            ("export=1", &[("export", "1")]),
            ("A=1\nexport A", &[("A", "1")]),
            ("mixed.Case_9=v", &[("mixed.Case_9", "v")]),
            ("A=1\nA=2", &[("A", "1"), ("A", "2")]),
        ];
        for (text, want) in cases {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(parsed(text), want, "{text:?}");
        }
    }

    #[test]
    fn later_definitions_win_and_empty_is_unset() {
        let file = parse("A=1\nA=2\nB=\n").unwrap();
        assert_eq!(file.value("A"), Some("2"));
        assert_eq!(file.value("B"), None);
        assert_eq!(file.entry("B").map(|e| e.line), Some(3));
    }

    #[test]
    fn errors_name_line_and_column_never_the_value() {
        let text = "OK=1\nnot an assignment\nA=\"secret-value\" trailing\n=x\nexport NOPE\nB='unterminated-secret\n";
        let errors = parse(text).unwrap_err();
        let got: Vec<(usize, usize, Option<&str>, &str)> = errors
            .iter()
            .map(|e| (e.line, e.column, e.key.as_deref(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, 5, Some("not"), "expected = after the variable name"),
                (3, 18, Some("A"), "unexpected text after the closing quote"),
                (4, 1, None, "expected a variable name"),
                (5, 1, Some("NOPE"), "export of a variable that is not set"),
                (6, 3, Some("B"), "single quote is never closed"),
            ]
        );
        assert!(!format!("{errors:?}").contains("secret"));
    }

    #[test]
    fn debug_hides_values() {
        let file = parse("DB_PASS=hunter2-xyz\n").unwrap();
        assert_eq!(format!("{file:?}"), "[\"DB_PASS\"]");
        assert!(!format!("{:?}", file.entries()).contains("hunter2"));
    }

    fn derived(text: &str) -> Derived {
        derive(&parse(text).unwrap())
    }

    fn urls(targets: &[DerivedTarget]) -> Vec<(&str, &str, bool, Option<&str>)> {
        targets
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.url.as_str(),
                    t.sidekiq,
                    t.namespace.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn postgres_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "",
                &[(
                    "mastodon",
                    "postgres://mastodon@localhost:5432/mastodon_production",
                )],
            ),
            (
                "DB_HOST=/var/run/postgresql\nDB_PASS=\n",
                &[(
                    "mastodon",
                    "postgres://mastodon@localhost:5432/mastodon_production?host=%2Fvar%2Frun%2Fpostgresql",
                )],
            ),
            (
                "DB_HOST=db.internal\nDB_PORT=6432\nDB_USER=u\nDB_NAME=n\nDB_PASS=p@ss/word\nDB_SSLMODE=require\n",
                &[(
                    "mastodon",
                    "postgres://u:p%40ss%2Fword@db.internal:6432/n?sslmode=require",
                )],
            ),
            (
                "DB_HOST=::1\n",
                &[(
                    "mastodon",
                    "postgres://mastodon@[::1]:5432/mastodon_production",
                )],
            ),
            (
                "DATABASE_URL=postgresql://a:b@h/db\nDB_HOST=ignored\n",
                &[("mastodon", "postgresql://a:b@h/db")],
            ),
            (
                "DB_HOST=primary\nDB_PASS=pw\nREPLICA_DB_NAME=mastodon_production\nREPLICA_DB_HOST=replica\n",
                &[
                    (
                        "mastodon",
                        "postgres://mastodon:pw@primary:5432/mastodon_production",
                    ),
                    (
                        "mastodon-replica",
                        "postgres://mastodon:pw@replica:5432/mastodon_production",
                    ),
                ],
            ),
            (
                "REPLICA_DB_HOST=replica-alone-does-nothing\n",
                &[(
                    "mastodon",
                    "postgres://mastodon@localhost:5432/mastodon_production",
                )],
            ),
            (
                "REPLICA_DATABASE_URL=postgres://r@replica/db\n",
                &[
                    (
                        "mastodon",
                        "postgres://mastodon@localhost:5432/mastodon_production",
                    ),
                    ("mastodon-replica", "postgres://r@replica/db"),
                ],
            ),
        ];
        for (text, want) in cases {
            let d = derived(text);
            let got: Vec<(&str, &str)> = d
                .postgres
                .iter()
                .map(|t| (t.name.as_str(), t.url.as_str()))
                .collect();
            assert_eq!(got, want.to_vec(), "{text:?}");
        }
    }

    #[test]
    fn redis_table() {
        type Want<'a> = &'a [(&'a str, &'a str, bool, Option<&'a str>)];
        let cases: &[(&str, Want)] = &[
            ("", &[("mastodon", "redis://localhost:6379/0", true, None)]),
            (
                "REDIS_HOST=r1\nREDIS_PORT=6380\nREDIS_DB=2\nREDIS_PASSWORD=pw\nREDIS_NAMESPACE=ns\n",
                &[("mastodon", "redis://:pw@r1:6380/2", true, Some("ns"))],
            ),
            (
                "REDIS_URL=redis://base:6379/0\nREDIS_USER=ignored\n",
                &[("mastodon", "redis://base:6379/0", true, None)],
            ),
            (
                "REDIS_URL=redis://base/0\nSIDEKIQ_REDIS_URL=redis://jobs/0\nCACHE_REDIS_URL=redis://cache/0\nREDIS_NAMESPACE=ns\n",
                &[
                    ("mastodon", "redis://base/0", false, None),
                    ("sidekiq", "redis://jobs/0", true, Some("ns")),
                    ("cache", "redis://cache/0", false, None),
                ],
            ),
            (
                "SIDEKIQ_REDIS_HOST=jobs\nSIDEKIQ_REDIS_PASSWORD=pw\nCACHE_REDIS_PORT=7000\n",
                &[
                    ("mastodon", "redis://localhost:6379/0", false, None),
                    ("sidekiq", "redis://:pw@jobs:6379/0", true, None),
                ],
            ),
            (
                "REDIS_URL=redis://same/0\nSIDEKIQ_REDIS_URL=redis://same/0\nCACHE_REDIS_URL=redis://same/0\n",
                &[("mastodon", "redis://same/0", true, None)],
            ),
            (
                "REDIS_USER=u\nREDIS_PASSWORD=pw\n",
                &[("mastodon", "redis://u:pw@localhost:6379/0", true, None)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(urls(&derived(text).redis), want.to_vec(), "{text:?}");
        }
    }

    #[test]
    fn domains_and_origins() {
        let d = derived(
            "LOCAL_DOMAIN=example.social\nWEB_DOMAIN=\nSTREAMING_API_BASE_URL=wss://streaming.example.social\nDB_PORT=5433\n",
        );
        assert_eq!(
            d.local_domain.as_ref().map(|v| v.value.as_str()),
            Some("example.social")
        );
        assert_eq!(d.web_domain, None);
        assert_eq!(
            d.streaming_base_url.map(|v| v.value),
            Some("wss://streaming.example.social".to_string())
        );
        assert_eq!(
            d.postgres[0].origin,
            Some(Origin {
                key: "DB_PORT".into(),
                line: 4,
                column: 9
            })
        );
        assert_eq!(d.redis[0].origin, None);
    }

    #[test]
    fn bad_values_are_problems_of_their_target() {
        let d =
            derived("DB_PORT=54x32\nREDIS_DB=zero\nSIDEKIQ_REDIS_HOST=h\nSIDEKIQ_REDIS_PORT=-1\n");
        let got: Vec<(&str, usize, &str, &str)> = d
            .postgres
            .iter()
            .chain(&d.redis)
            .flat_map(|t| t.problems.iter().map(move |p| (t.name.as_str(), p)))
            .map(|(name, p)| {
                (
                    name,
                    p.line,
                    p.key.as_deref().unwrap_or(""),
                    p.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("mastodon", 1, "DB_PORT", "not a port number"),
                ("mastodon", 2, "REDIS_DB", "not a database number"),
                ("sidekiq", 4, "SIDEKIQ_REDIS_PORT", "not a port number"),
            ]
        );
    }

    #[test]
    fn debug_of_derived_targets_hides_urls() {
        let d = derived("DB_PASS=hunter2-xyz\nREDIS_PASSWORD=hunter3-xyz\n");
        let shown = format!("{d:?}");
        assert!(!shown.contains("hunter"), "{shown}");
    }
}
