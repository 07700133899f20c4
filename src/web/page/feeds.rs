//! `/history.atom` and `/history.rss`: one entry per recent published incident (newest
//! first; [`super::model::PageModel::recent_incidents`], the bounded list), its content
//! the update timeline. Ids are stable: the incident's URL when `[site] public_url` is
//! set, else `urn:fedimeter:<page id>:incident:<n>`; they never change when an incident
//! is updated, only `updated` does.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::api_v2::{page_id, time};
use super::model::PageModel;
use super::text::{escape, linkify};
use crate::store::incidents::Incident;

fn entry_id(model: &PageModel, base_url: &str, i: &Incident) -> String {
    if base_url.starts_with("http://") || base_url.starts_with("https://") {
        format!("{base_url}/incidents/{}", i.id)
    } else {
        format!("urn:fedimeter:{}:incident:{}", page_id(model), i.id)
    }
}

/// The incident's timeline as HTML (newest update first), for the feeds' content.
fn timeline_html(model: &PageModel, i: &Incident) -> String {
    let mut html = String::new();
    if !i.components.is_empty() {
        html.push_str("<p>Affected: ");
        let names: Vec<String> = i
            .components
            .iter()
            .map(|c| {
                let mut s = String::new();
                escape(model.component_name(&c.component), &mut s);
                s
            })
            .collect();
        html.push_str(&names.join(", "));
        html.push_str("</p>");
    }
    for u in i.updates.iter().rev() {
        let _ = write!(
            html,
            "<p><strong>{}</strong> ({}) — {}</p>",
            u.status.label(),
            time(u.created_at),
            linkify(&u.body).0
        );
    }
    html
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape(s, &mut out);
    out
}

fn incident_link(base_url: &str, i: &Incident) -> String {
    format!("{base_url}/incidents/{}", i.id)
}

/// The Atom feed (RFC 4287).
pub fn atom(model: &PageModel, base_url: &str) -> String {
    let updated = model
        .incidents
        .iter()
        .map(|i| i.updated_at)
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let feed_id = if base_url.starts_with("http") {
        format!("{base_url}/history")
    } else {
        format!("urn:fedimeter:{}:history", page_id(model))
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
         <id>{}</id>\n<title>{} status history</title>\n<updated>{}</updated>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{}/history\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{}/history.atom\"/>\n\
         <author><name>{}</name></author>\n",
        xml(&feed_id),
        xml(&model.title),
        time(updated),
        xml(base_url),
        xml(base_url),
        xml(&model.title),
    );
    for i in model.recent_incidents() {
        let _ = write!(
            out,
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<published>{}</published>\n\
             <updated>{}</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n\
             <content type=\"html\">{}</content>\n</entry>\n",
            xml(&entry_id(model, base_url, i)),
            xml(&i.title),
            time(i.created_at),
            time(i.updated_at),
            xml(&incident_link(base_url, i)),
            xml(&timeline_html(model, i)),
        );
    }
    out.push_str("</feed>\n");
    out
}

/// The RSS 2.0 feed.
pub fn rss(model: &PageModel, base_url: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<rss version=\"2.0\">\n<channel>\n<title>{} status history</title>\n\
         <link>{}/history</link>\n<description>Incidents of {}</description>\n\
         <language>en</language>\n",
        xml(&model.title),
        xml(base_url),
        xml(&model.title),
    );
    if let Some(latest) = model.incidents.iter().map(|i| i.updated_at).max() {
        let _ = writeln!(
            out,
            "<lastBuildDate>{}</lastBuildDate>",
            httpdate::fmt_http_date(latest)
        );
    }
    for i in model.recent_incidents() {
        let _ = write!(
            out,
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"false\">{}</guid>\n\
             <pubDate>{}</pubDate>\n<description>{}</description>\n</item>\n",
            xml(&i.title),
            xml(&incident_link(base_url, i)),
            xml(&entry_id(model, base_url, i)),
            httpdate::fmt_http_date(i.created_at),
            xml(&timeline_html(model, i)),
        );
    }
    out.push_str("</channel>\n</rss>\n");
    out
}
