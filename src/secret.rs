//! Secrets: a wrapper whose `Debug`/`Display` print `***`, and a process-wide redactor.
//!
//! Every secret that the config loader reads (passwords in URLs, webhook URLs, tokens) is
//! wrapped in [`Secret`] and registered with [`register`]. The log writer and the CLI's
//! error printer pass their text through [`redact`], so a secret that slips into an error
//! message from a third-party crate is still replaced by `***` before anyone sees it.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// A value that must never be shown: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The real value, for the one place that needs it (a connection, a request).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// Wraps `value` and registers it with the redactor (for values read from the config:
    /// header values, tokens).
    pub fn registered(value: String) -> Self {
        register(&value);
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A connection URL whose password (and, for `redact_whole`, everything) is secret.
///
/// `Display` shows the URL with the password replaced by `***`, so it is safe in logs and in
/// `check-config` output; [`SecretUrl::expose`] gives the real URL to the one client that
/// connects with it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    url: String,
    shown: String,
}

impl SecretUrl {
    /// Wraps `url`, registering its password (if any) with the redactor.
    pub fn new(url: String) -> Self {
        let shown = match url::Url::parse(&url) {
            Ok(mut parsed) => {
                if let Some(password) = parsed.password() {
                    let decoded = percent_decode(password);
                    register(password);
                    register(&decoded);
                    if parsed.set_password(Some("***")).is_err() {
                        return SecretUrl::opaque(url);
                    }
                }
                // Query parameters such as `password=` or `sslpassword=` are secrets too.
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                if pairs
                    .iter()
                    .any(|(k, _)| k.contains("password") || k == "token")
                {
                    let mut q = parsed.query_pairs_mut();
                    q.clear();
                    for (k, v) in &pairs {
                        if k.contains("password") || k == "token" {
                            register(v);
                            q.append_pair(k, "***");
                        } else {
                            q.append_pair(k, v);
                        }
                    }
                }
                parsed.to_string().replace("%2A%2A%2A", "***")
            }
            Err(_) => return SecretUrl::opaque(url),
        };
        SecretUrl { url, shown }
    }

    /// Wraps a URL that is a secret as a whole (a Discord webhook URL carries its token in
    /// the path): it is shown as `***`.
    pub fn opaque(url: String) -> Self {
        register(&url);
        SecretUrl {
            url,
            shown: "***".to_string(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with its secrets masked; safe to print.
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `secret` so that [`redact`] masks it. Short values (under 4 characters) are
/// not registered: masking them would garble ordinary text, and they are no real secret.
pub fn register(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
        // Longest first, so a secret that contains another is masked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prints_stars() {
        let s = Secret::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn url_password_is_masked_and_registered() {
        let u =
            SecretUrl::new("postgres://fedimeter:Pa55w0rd-xyz@db.internal:5432/mastodon".into());
        assert_eq!(
            u.redacted(),
            "postgres://fedimeter:***@db.internal:5432/mastodon"
        );
        assert_eq!(
            format!("{u:?}"),
            "\"postgres://fedimeter:***@db.internal:5432/mastodon\""
        );
        assert_eq!(
            redact("auth failed for Pa55w0rd-xyz"),
            "auth failed for ***"
        );
    }

    #[test]
    fn percent_encoded_password_is_registered_decoded_too() {
        let u = SecretUrl::new("redis://:s%40cret-pass@127.0.0.1:6379/0".into());
        assert_eq!(u.redacted(), "redis://:***@127.0.0.1:6379/0");
        assert_eq!(redact("x s@cret-pass y"), "x *** y");
    }

    #[test]
    fn query_password_is_masked() {
        let u = SecretUrl::new("postgres://u@h/db?sslmode=require&password=qwerty-123".into());
        assert_eq!(
            u.redacted(),
            "postgres://u@h/db?sslmode=require&password=***"
        );
    }

    #[test]
    fn opaque_url_is_all_stars() {
        let u = SecretUrl::opaque("https://discord.com/api/webhooks/1/tok-abcdef".into());
        assert_eq!(u.to_string(), "***");
        assert_eq!(
            redact("posting to https://discord.com/api/webhooks/1/tok-abcdef failed"),
            "posting to *** failed"
        );
    }
}
