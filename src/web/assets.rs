//! Static files from `site/`, embedded into the binary and served as [`Doc`]s: a strong
//! `ETag` (a hash of the bytes, computed once at first use), `Last-Modified` (when this
//! process first served the file) and 304s on conditional requests. The pages link
//! [`style_href`] — the path with `?v=<hash>` — which is cached for a year (`immutable`):
//! new bytes get a new URL. The bare path, or an old `v`, is cached for an hour.

use std::sync::OnceLock;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::page::http_cache::Doc;

/// Cache-Control of a versioned asset URL (its bytes never change).
pub const CACHE_VERSIONED: &str = "public, max-age=31536000, immutable";
/// Cache-Control of an asset without (or with an outdated) version.
pub const CACHE_UNVERSIONED: &str = "public, max-age=3600";

/// (path under /static/, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[(
    "style.css",
    "text/css; charset=utf-8",
    include_bytes!("../../site/style.css"),
)];

/// Each asset as (versioned, unversioned) documents, built once.
fn docs() -> &'static [(&'static str, Doc, Doc)] {
    static DOCS: OnceLock<Vec<(&'static str, Doc, Doc)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let now = SystemTime::now();
        ASSETS
            .iter()
            .map(|(path, content_type, body)| {
                let versioned = Doc::new(*body, content_type, CACHE_VERSIONED, now, None);
                let mut unversioned = versioned.clone();
                unversioned.cache_control = CACHE_UNVERSIONED;
                (*path, versioned, unversioned)
            })
            .collect()
    })
}

/// The version of asset `path`: 16 hex digits of its ETag ("" for an unknown path).
pub fn version(path: &str) -> &'static str {
    docs()
        .iter()
        .find(|(p, _, _)| *p == path)
        .map_or("", |(_, d, _)| d.etag.trim_matches('"'))
}

/// The stylesheet's URL, with its version: `/static/style.css?v=<hash>`.
pub fn style_href() -> &'static str {
    static HREF: OnceLock<String> = OnceLock::new();
    HREF.get_or_init(|| format!("/static/style.css?v={}", version("style.css")))
}

pub async fn serve(Path(path): Path<String>, query: RawQuery, headers: HeaderMap) -> Response {
    match docs().iter().find(|(p, _, _)| *p == path) {
        Some((_, versioned, unversioned)) => {
            let wanted = query
                .0
                .as_deref()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("v=")));
            let current = versioned.etag.trim_matches('"');
            if wanted == Some(current) {
                versioned.respond(&headers)
            } else {
                unversioned.respond(&headers)
            }
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    //! WCAG 2.x AA contrast of every colour pair the stylesheets use, light and dark:
    //! text ≥ 4.5:1 (SC 1.4.3), bars ≥ 3:1 against the page (SC 1.4.11). The ratio is
    //! (L1 + 0.05) / (L2 + 0.05) of the relative luminances, from the WCAG definition.

    use super::ASSETS;
    use std::collections::HashMap;

    /// One rule: the enclosing at-rule prelude ("" at top level), the selector list, the
    /// declarations in order.
    struct Rule {
        media: String,
        selectors: Vec<String>,
        decls: Vec<(String, String)>,
    }

    fn strip_comments(css: &str) -> String {
        let mut out = String::new();
        let mut rest = css;
        while let Some(i) = rest.find("/*") {
            out.push_str(&rest[..i]);
            rest = rest[i + 2..].split_once("*/").map_or("", |(_, r)| r);
        }
        out.push_str(rest);
        out
    }

    /// Rules at the top level and one `@media` level down.
    fn rules(css: &str) -> Vec<Rule> {
        fn walk(text: &str, media: &str, out: &mut Vec<Rule>) {
            let mut rest = text;
            while let Some(open) = rest.find('{') {
                let prelude = rest[..open].trim().to_string();
                // The matching brace.
                let mut depth = 0;
                let mut close = open;
                for (i, ch) in rest[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                close = open + i;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let body = &rest[open + 1..close];
                if prelude.starts_with('@') {
                    walk(body, &prelude, out);
                } else {
                    out.push(Rule {
                        media: media.to_string(),
                        selectors: prelude.split(',').map(|s| s.trim().to_string()).collect(),
                        decls: body
                            .split(';')
                            .filter_map(|d| d.split_once(':'))
                            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                            .collect(),
                    });
                }
                rest = &rest[close + 1..];
            }
        }
        let mut out = Vec::new();
        walk(&strip_comments(css), "", &mut out);
        out
    }

    fn srgb(hex: &str) -> [f64; 3] {
        let h = hex.trim_start_matches('#');
        let h: String = if h.len() == 3 {
            h.chars().flat_map(|c| [c, c]).collect()
        } else {
            h.to_string()
        };
        assert_eq!(h.len(), 6, "a #rgb or #rrggbb colour: {hex}");
        let channel = |i: usize| f64::from(u8::from_str_radix(&h[i..i + 2], 16).expect("hex"));
        [channel(0), channel(2), channel(4)]
    }

    /// WCAG 2.x relative luminance.
    fn luminance(hex: &str) -> f64 {
        let [r, g, b] = srgb(hex).map(|c| {
            let c = c / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// The custom properties of a theme: `:root` at top level, then (dark) the `:root`
    /// of `@media (prefers-color-scheme: dark)` over it.
    fn theme(rules: &[Rule], dark: bool) -> HashMap<String, String> {
        let mut vars = HashMap::new();
        for r in rules
            .iter()
            .filter(|r| r.selectors.iter().any(|s| s == ":root"))
        {
            let applies =
                r.media.is_empty() || (dark && r.media.contains("prefers-color-scheme: dark"));
            if applies {
                for (k, v) in &r.decls {
                    if k.starts_with("--") {
                        vars.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        vars
    }

    /// `var(--x)` (or a plain colour) to a colour, in `vars`.
    fn resolve<'a>(value: &'a str, vars: &'a HashMap<String, String>) -> &'a str {
        let colour = value
            .split_whitespace()
            .find(|w| w.starts_with("var(--") || w.starts_with('#'))
            .unwrap_or(value);
        match colour
            .strip_prefix("var(")
            .and_then(|v| v.strip_suffix(')'))
        {
            Some(name) => vars
                .get(name)
                .map(String::as_str)
                .unwrap_or_else(|| panic!("undefined {name}")),
            None => colour,
        }
    }

    fn decl<'a>(rule: &'a Rule, property: &str) -> Option<&'a str> {
        rule.decls
            .iter()
            .rev()
            .find(|(k, _)| k == property)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_contrast_formula_matches_hand_computed_pairs() {
        // White on black: (1 + 0.05) / (0 + 0.05) = 21.
        assert!((contrast("#ffffff", "#000000") - 21.0).abs() < 1e-9);
        // The figure: #8a8f98 → sRGB 138/143/152 → linear 0.2541, 0.2747, 0.3140;
        // L = 0.2126·0.2541 + 0.7152·0.2747 + 0.0722·0.3140 = 0.2732;
        // (1.05) / (0.2732 + 0.05) = 3.25 on white: below 4.5, the old no-data text.
        let old = contrast("#8a8f98", "#fff");
        assert!((old - 3.25).abs() < 0.005, "{old}");
        // #767676, the well-known lightest grey that passes on white: 4.54.
        assert!((contrast("#767676", "#ffffff") - 4.54).abs() < 0.005);
    }

    #[test]
    fn every_text_and_bar_colour_meets_wcag_aa_in_both_themes() {
        let mut checked = 0;
        for (path, _, bytes) in ASSETS.iter().filter(|(p, _, _)| p.ends_with(".css")) {
            let css = std::str::from_utf8(bytes).expect("utf-8 css");
            let rules = rules(css);
            for dark in [false, true] {
                let vars = theme(&rules, dark);
                let name = if dark { "dark" } else { "light" };
                let bg = resolve("var(--bg)", &vars);
                // (what, foreground, background, minimum)
                let mut pairs: Vec<(String, String, String, f64)> = Vec::new();
                for (fg, back) in [
                    ("var(--fg)", "var(--bg)"),
                    ("var(--muted)", "var(--bg)"),
                    ("var(--link)", "var(--bg)"),
                    ("var(--tip-fg)", "var(--tip-bg)"),
                ] {
                    pairs.push((
                        format!("{fg} on {back}"),
                        resolve(fg, &vars).into(),
                        resolve(back, &vars).into(),
                        4.5,
                    ));
                }
                let banner_fg = rules
                    .iter()
                    .filter(|r| r.selectors.iter().any(|s| s == ".banner"))
                    .filter_map(|r| decl(r, "color"))
                    .next_back()
                    .expect(".banner has a color");
                for r in &rules {
                    for s in &r.selectors {
                        // State words (".status.no_data") are text on the page.
                        if s.starts_with(".status.")
                            && let Some(c) = decl(r, "color")
                        {
                            pairs.push((s.clone(), resolve(c, &vars).into(), bg.into(), 4.5));
                        }
                        // Banners: their text colour (the rule's own, else .banner's).
                        if s.starts_with(".banner.")
                            && let Some(b) = decl(r, "background")
                        {
                            let fg = decl(r, "color").unwrap_or(banner_fg);
                            pairs.push((
                                s.clone(),
                                resolve(fg, &vars).into(),
                                resolve(b, &vars).into(),
                                4.5,
                            ));
                        }
                        // Bars: their fill, or the no-data outline, against the page.
                        if s.starts_with(".bar.") && !s.contains(':') {
                            for property in ["background", "outline"] {
                                if let Some(v) = decl(r, property)
                                    && v.contains("var(--")
                                {
                                    pairs.push((
                                        format!("{s} {property}"),
                                        resolve(v, &vars).into(),
                                        bg.into(),
                                        3.0,
                                    ));
                                }
                            }
                        }
                    }
                }
                for kind in [".status.", ".banner.", ".bar."] {
                    assert!(
                        pairs.iter().filter(|p| p.0.starts_with(kind)).count() >= 5,
                        "{path} {name}: the {kind} rules were found"
                    );
                }
                assert!(pairs.iter().any(|p| p.0 == ".status.no_data"));
                assert!(pairs.iter().any(|p| p.0 == ".bar.nodata outline"));
                for (what, fg, back, minimum) in &pairs {
                    let ratio = contrast(fg, back);
                    assert!(
                        ratio >= *minimum,
                        "{path} {name}: {what}: {fg} on {back} is {ratio:.2}:1, needs {minimum}:1"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 40, "{checked} pairs");
    }
}
