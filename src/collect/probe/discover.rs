//! `discover_url`: the URL a probe fetches, found in a JSON document (the Mastodon media
//! preset reads `thumbnail.url` of `/api/v2/instance`, mastodon-facts.md §9 item 3).
//!
//! One GET of `from` (resolved against the probe's `url`, cache-busted with `_fedimeter=`,
//! with the probe's headers, TLS and `connect_to`) must answer 2xx with JSON holding a string
//! at `pointer`: an absolute URL, or one relative to `from`. The result is used until
//! `every` has passed or the fetched URL answered 404 ([`Discovery::fetched`]); then it is
//! discovered again. While a re-discovery fails the last URL is kept, so an API outage does
//! not turn into a media outage; with no URL at all the attempt fails with the discovery's
//! reason. Both requests share the probe's timeout (the caller bounds them together).

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use url::Url;

use super::check;
use super::classify;
use super::http::{self, Observation};
use super::tls::TlsSetup;
use super::{DiscoverUrl, ProbeOptions};
use crate::model::Reason;

/// The discovered URL of one probe and when it was found.
#[derive(Debug, Default)]
pub struct Discovery {
    found: Option<Found>,
}

#[derive(Debug)]
struct Found {
    url: Url,
    at: Instant,
    /// The fetched URL answered 404: discover again on the next attempt.
    gone: bool,
}

impl Discovery {
    /// The URL to fetch now: the kept one while it is fresh, else a new discovery (falling
    /// back to the kept one when that fails). `Err` is the failed discovery's reason and
    /// message when no URL is known.
    pub async fn current(
        &mut self,
        base: &Url,
        discover: &DiscoverUrl,
        options: &ProbeOptions,
        tls: &TlsSetup,
    ) -> Result<Url, (Reason, String)> {
        if let Some(found) = &self.found {
            if !found.gone && found.at.elapsed() < discover.every {
                return Ok(found.url.clone());
            }
        }
        match discover_once(base, discover, options, tls).await {
            Ok(url) => {
                if self.found.as_ref().is_none_or(|f| f.url != url) {
                    tracing::info!(target: "fedimeter::probe", url = %url, from = %discover.from, "probe url discovered");
                }
                self.found = Some(Found {
                    url: url.clone(),
                    at: Instant::now(),
                    gone: false,
                });
                Ok(url)
            }
            Err((reason, message)) => match &self.found {
                Some(found) => {
                    tracing::debug!(target: "fedimeter::probe", %reason, "discovering the probe url failed, keeping {}: {message}", found.url);
                    Ok(found.url.clone())
                }
                None => Err((reason, format!("discovering the url: {message}"))),
            },
        }
    }

    /// Tells the discovery how the fetch of its URL answered: a 404 means the file moved.
    pub fn fetched(&mut self, status: u16) {
        if let Some(found) = &mut self.found {
            if status == 404 {
                found.gone = true;
            }
        }
    }
}

async fn discover_once(
    base: &Url,
    discover: &DiscoverUrl,
    options: &ProbeOptions,
    tls: &TlsSetup,
) -> Result<Url, (Reason, String)> {
    let from = base.join(&discover.from).map_err(|e| {
        (
            Reason::Other,
            format!("invalid from {:?}: {e}", discover.from),
        )
    })?;
    let token = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let request = check::cache_busted(&from, token);
    let get = ProbeOptions {
        method: ::http::Method::GET,
        body: None,
        ..options.clone()
    };
    let mut observation = Observation::default();
    http::attempt(&request, &get, tls, &mut observation)
        .await
        .map_err(|e| (classify(&e), format!("{e:#}")))?;
    if !check::status_matches(&[], observation.status) {
        return Err((
            Reason::HttpStatus,
            format!("{} answered status {}", discover.from, observation.status),
        ));
    }
    found_url(&from, &observation.body, &discover.pointer)
}

/// The URL at `pointer` in the JSON `body`, resolved against `from`.
pub fn found_url(from: &Url, body: &[u8], pointer: &str) -> Result<Url, (Reason, String)> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| (Reason::CheckFailed, "the answer is not JSON".to_string()))?;
    let text = json
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| (Reason::CheckFailed, format!("no URL string at {pointer}")))?;
    let url = from.join(text.trim()).map_err(|e| {
        (
            Reason::CheckFailed,
            format!("the value at {pointer} is not a URL: {e}"),
        )
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err((
            Reason::CheckFailed,
            format!("the URL at {pointer} is not http(s) but {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Url {
        Url::parse("https://example.social/api/v2/instance").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn found_url_table() {
        let ok = |body: &str| found_url(&from(), body.as_bytes(), "/thumbnail/url");
        assert_eq!(
            ok(r#"{"thumbnail":{"url":"https://files.example.social/t.png"}}"#)
                .map(|u| u.to_string()),
            Ok("https://files.example.social/t.png".to_string())
        );
        // Relative to the document.
        assert_eq!(
            ok(r#"{"thumbnail":{"url":"/packs/media/preview.png"}}"#).map(|u| u.to_string()),
            Ok("https://example.social/packs/media/preview.png".to_string())
        );
        for (body, reason, message) in [
            ("<html>", Reason::CheckFailed, "the answer is not JSON"),
            ("{}", Reason::CheckFailed, "no URL string at /thumbnail/url"),
            (
                r#"{"thumbnail":{"url":42}}"#,
                Reason::CheckFailed,
                "no URL string at /thumbnail/url",
            ),
            (
                r#"{"thumbnail":{"url":"ftp://x.test/a"}}"#,
                Reason::CheckFailed,
                "the URL at /thumbnail/url is not http(s) but ftp",
            ),
        ] {
            assert_eq!(ok(body), Err((reason, message.to_string())), "{body}");
        }
    }
}
