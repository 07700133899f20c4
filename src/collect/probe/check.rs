//! Pure decisions of an HTTP probe: does the status, the body, the JSON value match; where
//! does a redirect go and with which method. No I/O here.

use url::Url;

use super::ProbeOptions;

/// Whether `status` is expected: one of `expect`, or any 2xx when `expect` is empty.
pub fn status_matches(expect: &[u16], status: u16) -> bool {
    if expect.is_empty() {
        (200..=299).contains(&status)
    } else {
        expect.contains(&status)
    }
}

/// Checks the body conditions of `options` (substring, regex, JSON pointer) against `body`.
/// The error says which condition failed, never the body itself.
pub fn check_body(options: &ProbeOptions, body: &[u8]) -> Result<(), String> {
    if options.body_contains.is_none()
        && options.body_regex.is_none()
        && options.json_pointer.is_none()
    {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    if let Some(needle) = &options.body_contains {
        if !text.contains(needle.as_str()) {
            return Err("body does not contain the expected text".to_string());
        }
    }
    if let Some(regex) = &options.body_regex {
        if !regex.is_match(&text) {
            return Err(format!("body does not match /{}/", regex.as_str()));
        }
    }
    if let Some(pointer) = &options.json_pointer {
        json_pointer_matches(body, pointer, options.json_equals.as_deref())?;
    }
    Ok(())
}

/// Whether the JSON document `body` has a value at `pointer` (RFC 6901) and, when `equals`
/// is given, whether that value equals it: a JSON string compares by its text, any other
/// value by its compact JSON form (`true`, `42`, `null`).
pub fn json_pointer_matches(
    body: &[u8],
    pointer: &str,
    equals: Option<&str>,
) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "body is not valid JSON".to_string())?;
    let Some(found) = value.pointer(pointer) else {
        return Err(format!("json pointer {pointer} not found"));
    };
    let Some(expected) = equals else {
        return Ok(());
    };
    let actual = match found {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "json pointer {pointer} does not equal the expected value"
        ))
    }
}

/// Whether `status` is a redirect that carries a `Location` to follow.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The URL a redirect leads to: `location` resolved against `current`; only http(s).
pub fn redirect_target(current: &Url, location: &str) -> Option<Url> {
    let next = current.join(location).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

/// The method of the request after a redirect, and whether the body is sent again: as
/// browsers and Go's client do, 303 turns anything but HEAD into GET, and 301/302 turn POST
/// into GET; 307/308 keep method and body.
pub fn redirect_method(status: u16, method: &http::Method) -> (http::Method, bool) {
    match status {
        303 if *method != http::Method::HEAD => (http::Method::GET, false),
        301 | 302 if *method == http::Method::POST => (http::Method::GET, false),
        _ => (method.clone(), true),
    }
}

/// `url` with a query parameter `_fedimeter=<token>` appended, so that caches (CDN,
/// reverse proxy) cannot answer for the application.
pub fn cache_busted(url: &Url, token: u128) -> Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("_fedimeter", &token.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        for (expect, status, ok) in [
            (&[][..], 200, true),
            (&[][..], 204, true),
            (&[][..], 299, true),
            (&[][..], 301, false),
            (&[][..], 500, false),
            (&[][..], 0, false),
            (&[200, 401][..], 401, true),
            (&[200, 401][..], 204, false),
            (&[301][..], 301, true),
        ] {
            assert_eq!(status_matches(expect, status), ok, "{expect:?} {status}");
        }
    }

    #[test]
    fn json_pointer_table() {
        let body = br#"{"status":"ok","n":42,"b":true,"nested":{"list":[1,"two"]},"nul":null}"#;
        for (pointer, equals, ok) in [
            ("/status", Some("ok"), true),
            ("/status", Some("OK"), false),
            ("/status", None, true),
            ("/n", Some("42"), true),
            ("/b", Some("true"), true),
            ("/nested/list/1", Some("two"), true),
            ("/nested/list/0", Some("1"), true),
            ("/nul", Some("null"), true),
            ("/missing", None, false),
            ("", None, true),
        ] {
            assert_eq!(
                json_pointer_matches(body, pointer, equals).is_ok(),
                ok,
                "{pointer} {equals:?}"
            );
        }
        assert_eq!(
            json_pointer_matches(b"<html>", "/status", None),
            Err("body is not valid JSON".to_string())
        );
    }

    #[test]
    fn body_checks() {
        let mut options = ProbeOptions {
            body_contains: Some("OK".to_string()),
            ..ProbeOptions::default()
        };
        assert_eq!(check_body(&options, b"OK"), Ok(()));
        assert_eq!(
            check_body(&options, b"Bad gateway"),
            Err("body does not contain the expected text".to_string())
        );
        options.body_contains = None;
        options.body_regex =
            Some(regex::Regex::new(r"^\d+ users$").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(check_body(&options, b"12 users"), Ok(()));
        assert_eq!(
            check_body(&options, b"users"),
            Err(r"body does not match /^\d+ users$/".to_string())
        );
        assert_eq!(
            check_body(&ProbeOptions::default(), b"\xff anything"),
            Ok(())
        );
    }

    #[test]
    fn redirects() {
        let base = Url::parse("https://example.com/a/b?x=1").unwrap_or_else(|e| panic!("{e}"));
        for (location, expect) in [
            ("/health", Some("https://example.com/health")),
            ("c", Some("https://example.com/a/c")),
            ("http://other.test:8080/x", Some("http://other.test:8080/x")),
            ("//cdn.test/y", Some("https://cdn.test/y")),
            ("ftp://example.com/", None),
        ] {
            assert_eq!(
                redirect_target(&base, location)
                    .map(|u| u.to_string())
                    .as_deref(),
                expect,
                "{location}"
            );
        }
        use http::Method;
        for (status, method, expect) in [
            (301, Method::GET, (Method::GET, true)),
            (301, Method::POST, (Method::GET, false)),
            (302, Method::POST, (Method::GET, false)),
            (303, Method::POST, (Method::GET, false)),
            (303, Method::HEAD, (Method::HEAD, true)),
            (307, Method::POST, (Method::POST, true)),
            (308, Method::PUT, (Method::PUT, true)),
        ] {
            assert_eq!(
                redirect_method(status, &method),
                expect,
                "{status} {method}"
            );
        }
        assert!(is_redirect(308) && !is_redirect(304) && !is_redirect(200));
    }

    #[test]
    fn cache_busting_appends_a_parameter() {
        let url = Url::parse("https://m.test/api/v1/timelines/public?local=true&limit=1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cache_busted(&url, 1234).as_str(),
            "https://m.test/api/v1/timelines/public?local=true&limit=1&_fedimeter=1234"
        );
    }
}
