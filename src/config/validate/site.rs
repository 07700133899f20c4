//! `[site]` and `[store]`.

use crate::config::raw::{RawSite, RawStore};
use crate::config::{SiteConfig, StoreConfig};

use super::ctx::*;
use super::values::*;

pub(super) fn site(ctx: &mut Ctx<'_>, raw: &RawSite) -> SiteConfig {
    let mut site = SiteConfig::default();
    if let Some(v) = &raw.title {
        if let Some(title) = ctx.interpolate(v, "site.title") {
            if title.trim().is_empty() {
                ctx.error(v.span(), "site.title", "title must not be empty");
            }
            site.title = title;
        }
    }
    if let Some(v) = &raw.location {
        if let Some(location) = ctx.label(v, "site.location", "location") {
            site.location = location;
        }
    }
    if let Some(v) = &raw.public_url {
        if let Some(text) = ctx.interpolate(v, "site.public_url") {
            // It goes inside a Markdown link: `[Status page](url)`.
            let ok = (text.starts_with("https://") || text.starts_with("http://"))
                && url::Url::parse(&text).is_ok_and(|u| u.host_str().is_some())
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>'));
            if ok {
                site.public_url = Some(text.trim_end_matches('/').to_string());
            } else {
                ctx.error(
                    v.span(),
                    "site.public_url",
                    format!("invalid URL {text:?}: expected https://… (the status page's public address)"),
                );
            }
        }
    }
    let web_url = |s: &str| s.starts_with("https://") || s.starts_with("http://");
    for (value, key, data_ok, slot) in [
        (&raw.logo, "site.logo", true, &mut site.logo),
        (&raw.about, "site.about", false, &mut site.about),
    ] {
        let Some(v) = value else { continue };
        let Some(text) = ctx.interpolate(v, key) else {
            continue;
        };
        let text = text.trim().trim_end_matches('/').to_string();
        let web = web_url(&text) && !text.contains(char::is_whitespace);
        if web || (data_ok && text.starts_with("data:image/")) {
            *slot = Some(text);
        } else {
            ctx.error(
                v.span(),
                key,
                if data_ok {
                    "expected an http(s):// URL or a data:image/ URI"
                } else {
                    "expected an http(s):// URL"
                },
            );
        }
    }
    site
}

pub(super) fn store(ctx: &mut Ctx<'_>, raw: &RawStore) -> StoreConfig {
    match &raw.url {
        Some(v) => match ctx.secret_url(v, "store.url", check_store_url) {
            Some(url) => StoreConfig { url },
            None => StoreConfig::default(),
        },
        None => StoreConfig::default(),
    }
}
