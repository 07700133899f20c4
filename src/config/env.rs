//! `${VAR}` interpolation in config string values, from a [`Source`] of variables.
//!
//! Syntax: `${NAME}` is replaced by the value of `NAME` (`[A-Za-z_][A-Za-z0-9_]*`); `$${` is
//! a literal `${`; a `$` not followed by `{` is kept as is. An undefined variable is an error
//! (never an empty string): a missing password should stop the start, not produce a
//! confusing authentication failure later. [`Env`] reads the process environment; tests use a
//! `HashMap` so they never touch it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Where `${VAR}` values come from.
pub trait Source {
    /// The value of `key`, or `None` when it is not defined.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment. A variable whose value is not valid Unicode counts as undefined.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl<K, V, S> Source for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| v.as_ref().to_string())
    }
}

/// Something wrong with one `${…}` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    /// Byte offset of the `$` in the value.
    pub offset: usize,
    pub kind: InterpolationErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationErrorKind {
    /// `${NAME}` where `NAME` is not defined.
    Undefined(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${…}` whose contents are not a variable name.
    InvalidName,
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints a value: only variable names, which are not secret.
        match &self.kind {
            InterpolationErrorKind::Undefined(name) => {
                write!(f, "environment variable {name} is not set")
            }
            InterpolationErrorKind::Unterminated => {
                f.write_str("unterminated ${ (write $${ for a literal ${)")
            }
            InterpolationErrorKind::InvalidName => f.write_str(
                "invalid variable name in ${...}: use letters, digits and _, not starting with a digit",
            ),
        }
    }
}

/// The result of interpolating one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    /// Whether at least one `${VAR}` was replaced (the value came, at least in part, from
    /// the environment).
    pub substituted: bool,
}

/// Replaces every `${NAME}` in `input` by its value from `source`; reports every problem.
pub fn interpolate(
    input: &str,
    source: &dyn Source,
) -> Result<Interpolated, Vec<InterpolationError>> {
    let mut value = String::with_capacity(input.len());
    let mut errors = Vec::new();
    let mut substituted = false;
    let mut rest = input;
    let mut consumed = 0;
    while let Some(i) = rest.find('$') {
        value.push_str(&rest[..i]);
        let at = &rest[i..];
        let offset = consumed + i;
        let step = if at.starts_with("$${") {
            value.push_str("${");
            3
        } else if let Some(body) = at.strip_prefix("${") {
            match body.find('}') {
                None => {
                    errors.push(InterpolationError {
                        offset,
                        kind: InterpolationErrorKind::Unterminated,
                    });
                    at.len()
                }
                Some(end) => {
                    let name = &body[..end];
                    if !is_variable_name(name) {
                        errors.push(InterpolationError {
                            offset,
                            kind: InterpolationErrorKind::InvalidName,
                        });
                    } else if let Some(v) = source.get(name) {
                        value.push_str(&v);
                        substituted = true;
                    } else {
                        errors.push(InterpolationError {
                            offset,
                            kind: InterpolationErrorKind::Undefined(name.to_string()),
                        });
                    }
                    2 + end + 1
                }
            }
        } else {
            value.push('$');
            1
        };
        consumed = offset + step;
        rest = &input[consumed..];
    }
    value.push_str(rest);
    if errors.is_empty() {
        Ok(Interpolated { value, substituted })
    } else {
        Err(errors)
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<&'static str, &'static str> {
        HashMap::from([("A", "alpha"), ("PG_PASSWORD", "s3cret"), ("EMPTY", "")])
    }

    #[test]
    fn interpolation_table() {
        let cases = [
            ("plain", "plain", false),
            ("${A}", "alpha", true),
            ("x-${A}-${A}", "x-alpha-alpha", true),
            ("pg://u:${PG_PASSWORD}@h/db", "pg://u:s3cret@h/db", true),
            ("$${A}", "${A}", false),
            // Scanned left to right: a lone `$`, then the `$${` escape.
            ("$$${A}", "$${A}", false),
            ("cost: $5 $", "cost: $5 $", false),
            ("${EMPTY}", "", true),
            ("é${A}ü", "éalphaü", true),
        ];
        for (input, want, substituted) in cases {
            let got = interpolate(input, &vars());
            assert_eq!(
                got,
                Ok(Interpolated {
                    value: want.to_string(),
                    substituted
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn every_error_is_reported_with_its_offset() {
        let got = interpolate("${NOPE}/${A}/${1X}/${B C}/${OTHER}/${open", &vars());
        let kinds: Vec<(usize, InterpolationErrorKind)> = got
            .unwrap_err()
            .into_iter()
            .map(|e| (e.offset, e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, InterpolationErrorKind::Undefined("NOPE".into())),
                (13, InterpolationErrorKind::InvalidName),
                (19, InterpolationErrorKind::InvalidName),
                (26, InterpolationErrorKind::Undefined("OTHER".into())),
                (35, InterpolationErrorKind::Unterminated),
            ]
        );
    }

    #[test]
    fn messages_name_the_variable_only() {
        let err = interpolate("${MISSING_VAR}", &vars()).unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "environment variable MISSING_VAR is not set"
        );
    }
}
