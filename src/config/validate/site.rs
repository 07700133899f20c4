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
