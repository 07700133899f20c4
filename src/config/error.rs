//! Config errors: each one names a file, a `line:col` when known, the key it is about, and
//! a message. [`ConfigErrors`] holds every error of one load and prints one per line:
//!
//! ```text
//! fedimeter.toml:12:11: postgres[0].timeout: timeout (20s) must be shorter than interval (15s)
//! ```
//!
//! Messages are lowercase without a trailing period, and never contain a secret value: the
//! loader never quotes a value that may hold one (URLs, webhooks, header values, anything
//! interpolated from the environment into those fields).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the end of the text).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in (the config file or the Mastodon env file); `None` for
    /// problems that belong to no file.
    pub file: Option<PathBuf>,
    /// Where in `file`, when known.
    pub position: Option<Position>,
    /// The config key the problem is about, as a path: `postgres[0].timeout`, `otlp.headers`,
    /// or an env file key such as `REDIS_URL`. `None` for TOML syntax errors.
    pub key: Option<String>,
    /// What is wrong: lowercase, no trailing period, no secret values.
    pub message: String,
}

impl ConfigError {
    /// An error about a whole file (missing, unreadable).
    pub fn file(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: Some(path.to_path_buf()),
            position: None,
            key: None,
            message: message.into(),
        }
    }

    /// An error at byte `span.start` of `text`, the contents of `file`.
    pub fn at(
        file: Option<&Path>,
        text: &str,
        span: Range<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: file.map(Path::to_path_buf),
            position: Some(Position::of_offset(text, span.start)),
            key,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = String::new();
        if let Some(file) = &self.file {
            prefix.push_str(&file.display().to_string());
        }
        if let Some(p) = self.position {
            if prefix.is_empty() {
                prefix.push_str("<config>");
            }
            prefix.push_str(&format!(":{}:{}", p.line, p.column));
        }
        if !prefix.is_empty() {
            write!(f, "{prefix}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every error found while loading a configuration; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps `errors`, which must not be empty to be meaningful.
    pub fn new(errors: Vec<ConfigError>) -> ConfigErrors {
        ConfigErrors { errors }
    }

    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors {
            errors: vec![error],
        }
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\ncdé f\n";
        let cases = [
            (0, 1, 1),
            (2, 1, 3),
            (3, 2, 1),
            (7, 2, 4),
            (8, 2, 5),
            (99, 3, 1),
        ];
        for (offset, line, column) in cases {
            assert_eq!(
                Position::of_offset(text, offset),
                Position { line, column },
                "offset {offset}"
            );
        }
    }

    #[test]
    fn display_forms() {
        let text = "a = 1\nb = 2\n";
        let with_key = ConfigError::at(
            Some(Path::new("f.toml")),
            text,
            10..11,
            Some("b".into()),
            "bad",
        );
        assert_eq!(with_key.to_string(), "f.toml:2:5: b: bad");
        let syntax = ConfigError::at(Some(Path::new("f.toml")), text, 0..1, None, "oops");
        assert_eq!(syntax.to_string(), "f.toml:1:1: oops");
        let whole = ConfigError::file(Path::new("missing.toml"), "cannot read config file");
        assert_eq!(whole.to_string(), "missing.toml: cannot read config file");
        let all = ConfigErrors::new(vec![with_key, syntax]);
        assert_eq!(all.to_string(), "f.toml:2:5: b: bad\nf.toml:1:1: oops");
    }
}
