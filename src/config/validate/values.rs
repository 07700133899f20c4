//! Value checks and small parsers shared by the section validators: pure functions from a
//! value's text to the value or an error message (the caller adds position and key).

/// A slug for component ids: lowercase ASCII letters and digits, other runs become `_`.
///
/// ```
/// use fedimeter::config::slug;
///
/// assert_eq!(slug("Website & API"), "website_api");
/// assert_eq!(slug("  Media (S3)  "), "media_s3");
/// assert_eq!(slug("Posting & home timelines"), "posting_home_timelines");
/// assert_eq!(slug("¡Ñ!"), "");
/// ```
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Parses `mon`…`sun` (or full English names, any case) into 0 = Monday … 6 = Sunday.
pub fn parse_weekday(s: &str) -> Option<u8> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let s = s.trim().to_ascii_lowercase();
    if s.len() < 3 {
        return None;
    }
    NAMES
        .iter()
        .position(|n| n.starts_with(&s))
        .and_then(|i| u8::try_from(i).ok())
}

/// Parses `HH:MM` (UTC) into minutes of the day.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub(super) fn check_label(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.chars().count() > 64 {
        return Err(format!("{what} must be at most 64 characters long"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "invalid {what} {value:?}: use only letters, digits, \"_\", \".\" and \"-\""
        ));
    }
    Ok(())
}

/// Parses a URL and checks its scheme. Never quotes the URL or its scheme: it may be a
/// secret.
pub(super) fn parse_url(value: &str, schemes: &[&str]) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("invalid url: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        let expected = match schemes {
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            [] => String::new(),
        };
        return Err(format!("unsupported url scheme: expected {expected}"));
    }
    Ok(url)
}

pub(super) fn check_postgres_url(value: &str) -> Result<(), String> {
    parse_url(value, &["postgres", "postgresql"]).map(drop)
}

pub(super) fn check_redis_url(value: &str) -> Result<(), String> {
    let url = parse_url(value, &["redis", "rediss"])?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".to_string());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err("the database in the url path must be a number".to_string());
    }
    Ok(())
}

pub(super) fn check_store_url(value: &str) -> Result<(), String> {
    parse_url(value, &["sqlite", "postgres", "postgresql"]).map(drop)
}

pub(super) fn check_webhook_url(value: &str) -> Result<(), String> {
    let url = parse_url(value, &["https", "http"])?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        return Err("webhook url must use https".to_string());
    }
    Ok(())
}

/// A URL that is shown as written (probes, the OTLP endpoint): it must hold no password.
pub(super) fn public_url(value: &str, schemes: &[&str]) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("invalid url: {e}"))?;
    if url.password().is_some() {
        return Err("url must not contain a password (it would be shown unmasked)".to_string());
    }
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "unsupported url scheme {:?}: expected {}",
            url.scheme(),
            schemes.join(", ")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".to_string());
    }
    Ok(url)
}

pub(super) fn check_probe_url(value: &str) -> Result<(), String> {
    let url = public_url(value, &["http", "https", "tcp"])?;
    if url.scheme() == "tcp" && url.port().is_none() {
        return Err("a tcp probe needs a port, like tcp://example.social:443".to_string());
    }
    Ok(())
}

pub(super) fn check_domain(value: &str) -> Result<(), String> {
    let plain = !value.is_empty() && !value.contains(['/', ':', '@', ' ', '\t']);
    if !plain || url::Host::parse(value).is_err() {
        return Err(format!(
            "invalid domain {value:?}: expected a host name like example.social, without scheme or path"
        ));
    }
    Ok(())
}

pub(super) fn check_streaming_url(value: &str) -> Result<(), String> {
    public_url(value, &["wss", "ws", "https", "http"]).map(drop)
}

/// HTTP header names are tokens (RFC 9110).
pub(super) fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if token {
        Ok(())
    } else {
        Err(format!("invalid header name {name:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_table() {
        for (name, expected) in [
            ("Website & API", "website_api"),
            ("  E-mail ", "e_mail"),
            ("Posting & home timelines", "posting_home_timelines"),
            ("Ünïcode!", "n_code"),
        ] {
            assert_eq!(slug(name), expected, "{name}");
        }
    }
}
