//! The validation toolkit: [`Ctx`] collects every error with its position (config file
//! or env file) and offers the typed reads every section uses (interpolation, durations,
//! labels, URLs, secrets, timing, names, request headers).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::config::env;
use crate::config::error::{ConfigError, Position};
use crate::config::mastodon_env::{DerivedTarget, EnvFileError};
use crate::config::raw;
use crate::secret::{self, Secret, SecretUrl};

use super::Input;
use super::values::*;

pub(super) struct Ranked {
    /// (0: the config file, 1: the env file; line; column) for sorting.
    pub(super) rank: (u8, usize, usize),
    pub(super) error: ConfigError,
}

pub(super) struct Ctx<'a> {
    pub(super) input: &'a Input<'a>,
    /// The Mastodon env file, once known, for the position of its errors.
    pub(super) env_file: Option<PathBuf>,
    pub(super) errors: Vec<Ranked>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(input: &'a Input<'a>) -> Self {
        Ctx {
            input,
            env_file: None,
            errors: Vec::new(),
        }
    }

    pub(super) fn push_config_error(
        &mut self,
        span: Range<usize>,
        key: Option<String>,
        message: String,
    ) {
        let error = ConfigError::at(self.input.path, self.input.text, span, key, message);
        let p = error.position.unwrap_or(Position { line: 0, column: 0 });
        self.errors.push(Ranked {
            rank: (0, p.line, p.column),
            error,
        });
    }

    /// An error at a span of the config file.
    pub(super) fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.push_config_error(span, Some(key.to_string()), message.into());
    }

    /// An error in the Mastodon env file.
    pub(super) fn env_error(&mut self, error: &EnvFileError) {
        let position = (error.line > 0).then_some(Position {
            line: error.line,
            column: error.column,
        });
        self.errors.push(Ranked {
            rank: (1, error.line, error.column),
            error: ConfigError {
                file: self.env_file.clone(),
                position,
                key: error.key.clone(),
                message: error.message.clone(),
            },
        });
    }

    /// An error about a whole file.
    pub(super) fn file_error(&mut self, path: &Path, message: String) {
        self.errors.push(Ranked {
            rank: (0, 0, 0),
            error: ConfigError::file(path, message),
        });
    }

    /// `value` with `${VAR}` replaced; `None` (errors reported) when a variable is missing.
    pub(super) fn interpolate(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
        match env::interpolate(value.get_ref(), self.input.env) {
            Ok(done) => Some(done.value),
            Err(errors) => {
                for error in errors {
                    let span = self.offset_in_source(value, error.offset);
                    self.error(span, key, error.to_string());
                }
                None
            }
        }
    }

    /// The source span of byte `offset` of a decoded string value: exact when the value
    /// appears verbatim between its quotes, else the start of the value.
    pub(super) fn offset_in_source(&self, value: &Spanned<String>, offset: usize) -> Range<usize> {
        let span = value.span();
        let source = self.input.text.get(span.clone()).unwrap_or("");
        match source.find(value.get_ref().as_str()) {
            Some(i) if !value.get_ref().is_empty() => {
                let start = span.start + i + offset;
                start..start + 1
            }
            _ => span,
        }
    }

    pub(super) fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        let text = self.interpolate(value, key)?;
        match humantime::parse_duration(text.trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "invalid duration {:?}: expected a number and a unit, like \"30s\" or \"5m\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn socket_addr(&mut self, value: &Spanned<String>, key: &str) -> Option<SocketAddr> {
        let text = self.interpolate(value, key)?;
        match text.trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "invalid address {:?}: expected ip:port, like \"127.0.0.1:9480\" or \"[::1]:9480\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// A label value: a target name or the site location.
    pub(super) fn label(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        what: &str,
    ) -> Option<String> {
        let text = self.interpolate(value, key)?;
        match check_label(&text, what) {
            Ok(()) => Some(text),
            Err(message) => {
                self.error(value.span(), key, message);
                None
            }
        }
    }

    /// A URL that is secret (or holds a password): checked by `check`, then wrapped.
    pub(super) fn secret_url(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        let text = self.interpolate(value, key)?;
        match check(&text) {
            Ok(()) => Some(SecretUrl::new(text)),
            Err(message) => {
                secret::register(&text);
                self.error(value.span(), key, message);
                None
            }
        }
    }

    /// The URL of a target derived from the env file, checked by `check`.
    /// The URL of a `[[postgres]]`/`[[redis]]` entry: its own `url`, else the one derived
    /// from the Mastodon env file for a target of the same name; neither is an error.
    pub(super) fn entry_url(
        &mut self,
        own: Option<&Spanned<String>>,
        derived: Option<&DerivedTarget>,
        key: &str,
        span: Range<usize>,
        kind: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        match (own, derived) {
            (Some(v), _) => self.secret_url(v, &format!("{key}.url"), check),
            (None, Some(d)) => self.derived_url(d, kind, check),
            (None, None) => {
                self.error(span, key, MISSING_URL);
                None
            }
        }
    }

    pub(super) fn derived_url(
        &mut self,
        target: &DerivedTarget,
        kind: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        if !target.problems.is_empty() {
            for problem in &target.problems {
                self.env_error(problem);
            }
            return None;
        }
        match check(&target.url) {
            Ok(()) => Some(SecretUrl::new(target.url.clone())),
            Err(message) => {
                secret::register(&target.url);
                let (line, column, key) = match &target.origin {
                    Some(o) => (o.line, o.column, Some(o.key.clone())),
                    None => (0, 0, None),
                };
                self.env_error(&EnvFileError {
                    line,
                    column,
                    key,
                    message: format!(
                        "{message} (or override it with a [[{kind}]] entry named {:?})",
                        target.name
                    ),
                });
                None
            }
        }
    }

    /// A count option: `default` when unset, else a value within `range`.
    pub(super) fn count_in_range(
        &mut self,
        value: Option<&Spanned<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        default: usize,
    ) -> Option<usize> {
        let Some(value) = value else {
            return Some(default);
        };
        let n = *value.get_ref();
        match usize::try_from(n) {
            Ok(count) if range.contains(&n) => Some(count),
            _ => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "{n} is out of range: expected {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// Interval and timeout of a target: defaults, timeout > 0, interval ≥ 1 s,
    /// timeout < interval.
    pub(super) fn timing(
        &mut self,
        key: &str,
        interval: Option<&Spanned<String>>,
        timeout: Option<&Spanned<String>>,
        defaults: (Duration, Duration),
    ) -> Option<(Duration, Duration)> {
        let interval_key = format!("{key}.interval");
        let timeout_key = format!("{key}.timeout");
        // Both are parsed (and their errors reported) before either can end the checks.
        let interval_value = interval.map(|v| self.duration(v, &interval_key));
        let timeout_value = timeout.map(|v| self.duration(v, &timeout_key));
        let i = match interval_value {
            Some(None) => return None,
            Some(Some(d)) => d,
            None => defaults.0,
        };
        let t = match timeout_value {
            Some(None) => return None,
            Some(Some(d)) => d,
            None => defaults.1,
        };
        let mut ok = true;
        if let Some(v) = interval.filter(|_| i < MIN_INTERVAL) {
            self.error(
                v.span(),
                &interval_key,
                format!("interval ({}) must be at least 1s", show(i)),
            );
            ok = false;
        }
        if let Some(v) = timeout.filter(|_| t.is_zero()) {
            self.error(v.span(), &timeout_key, "timeout must be greater than zero");
            ok = false;
        }
        if ok && t >= i {
            match (timeout, interval) {
                (Some(v), _) => self.error(
                    v.span(),
                    &timeout_key,
                    format!(
                        "timeout ({}) must be shorter than interval ({})",
                        show(t),
                        show(i)
                    ),
                ),
                (None, Some(v)) => self.error(
                    v.span(),
                    &interval_key,
                    format!(
                        "interval ({}) must be longer than the default timeout ({})",
                        show(i),
                        show(t)
                    ),
                ),
                (None, None) => {}
            }
            ok = false;
        }
        ok.then_some((i, t))
    }

    /// Validates the names of one kind's entries, including uniqueness; `None` for an
    /// invalid or duplicate name.
    pub(super) fn names<'r>(
        &mut self,
        kind: &str,
        names: impl Iterator<Item = &'r Spanned<String>>,
    ) -> Vec<Option<String>> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, name) in names.enumerate() {
            let key = format!("{kind}[{i}].name");
            let valid = self.label(name, &key, "name");
            let valid = match valid {
                Some(n) => match seen.get(&n) {
                    Some(first) => {
                        self.error(
                            name.span(),
                            &key,
                            format!("duplicate name {n:?} (already used by {kind}[{first}])"),
                        );
                        None
                    }
                    None => {
                        seen.insert(n.clone(), i);
                        Some(n)
                    }
                },
                None => None,
            };
            out.push(valid);
        }
        out
    }
}

/// The shortest interval a target or an OTLP push may have.
pub(super) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A duration as humantime writes it (`15s`, `1m 30s`).
pub(super) fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
/// Request headers (`otlp.headers`, `probe[i].headers`): valid, unique names; printable
/// values, which are secrets (registered with the redactor, never quoted). `None` when any
/// is invalid (errors reported).
pub(super) fn request_headers(
    ctx: &mut Ctx<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
    prefix: &str,
) -> Option<Vec<(String, Secret<String>)>> {
    let mut headers = Vec::new();
    let mut headers_ok = true;
    let mut seen: HashMap<String, &str> = HashMap::new();
    // In file order, so that a duplicate is reported at its second occurrence.
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    for (name, value) in entries {
        let key = format!("{prefix}.{}", raw::key_segment(name.get_ref()));
        if let Err(message) = check_header_name(name.get_ref()) {
            ctx.error(name.span(), &key, message);
            headers_ok = false;
            continue;
        }
        if let Some(first) = seen.insert(name.get_ref().to_ascii_lowercase(), name.get_ref()) {
            ctx.error(
                name.span(),
                &key,
                format!("duplicate header (same as {first:?}: names are case-insensitive)"),
            );
            headers_ok = false;
        }
        let Some(text) = ctx.interpolate(value, &key) else {
            headers_ok = false;
            continue;
        };
        let value_ok = text
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic());
        let secret = Secret::registered(text);
        if value_ok {
            headers.push((name.get_ref().clone(), secret));
        } else {
            ctx.error(value.span(), &key, "header value must be printable ascii");
            headers_ok = false;
        }
    }
    headers_ok.then_some(headers)
}

/// The message for an entry without `url` that no env-file target completes.
pub(super) const MISSING_URL: &str =
    "missing field `url` (needed unless the name is that of a target from the mastodon env file)";
