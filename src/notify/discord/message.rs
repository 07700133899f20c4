//! Pure message building: alert notices → Discord messages that Discord accepts.
//!
//! - One embed per alert, coloured by severity (green once resolved), with the summary, the
//!   value and threshold, since when, the component, the target, the runbook and — when
//!   `[site] public_url` is set — the status page.
//! - More than [`DIGEST_AFTER`] notices of one route in one evaluation become one digest
//!   message that names them all (as many as fit, then "… and N more").
//! - Discord's documented limits (content 2000, 10 embeds, title 256, description 4096,
//!   25 fields, field name 256 / value 1024, footer 2048, author name 256, 6000 characters
//!   across all embeds) are enforced by [`enforce_limits`] on every message built here.
//!   Lengths are counted as Discord counts them: characters (Unicode scalar values) after
//!   trimming leading and trailing whitespace. Cut text ends with "…".
//! - Hostile text cannot ping or break the message: every piece of alert text is escaped
//!   ([`escape`]: markdown characters get a backslash, `@everyone`/`@here` a zero-width
//!   space), `allowed_mentions.parse` is always empty, and the route's role is mentioned
//!   only in `content`, only for critical alerts that fire, and whitelisted by id.
//! - Info alerts carry `SUPPRESS_NOTIFICATIONS`.

use super::{AllowedMentions, Embed, Field, Footer, Message, SUPPRESS_NOTIFICATIONS};
use crate::notify::{Notice, Severity, Transition};

pub const MAX_CONTENT: usize = 2000;
pub const MAX_EMBEDS: usize = 10;
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_FOOTER: usize = 2048;
pub const MAX_AUTHOR: usize = 256;
pub const MAX_EMBED_TOTAL: usize = 6000;

/// More notices than this for one route in one evaluation go out as a digest.
pub const DIGEST_AFTER: usize = 5;

pub const COLOR_CRITICAL: u32 = 0xE7_4C_3C;
pub const COLOR_WARNING: u32 = 0xE6_7E_22;
pub const COLOR_INFO: u32 = 0x34_98_DB;
pub const COLOR_RESOLVED: u32 = 0x2E_CC_71;

/// What the route adds to every message.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// A role id (digits) mentioned for critical alerts that fire.
    pub mention_role: Option<String>,
    /// `[site] public_url`: linked from every alert.
    pub status_page: Option<String>,
}

/// Length as Discord counts it: characters after trimming surrounding whitespace.
pub fn discord_len(s: &str) -> usize {
    s.trim().chars().count()
}

/// `s` trimmed and cut to at most `max` characters; a cut ends with "…". A cut never leaves
/// a dangling escape backslash in front of the ellipsis.
pub fn fit(s: &str, max: usize) -> String {
    let t = s.trim();
    if t.chars().count() <= max {
        return t.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut kept: String = t.chars().take(max - 1).collect();
    loop {
        let trimmed = kept.trim_end().len();
        kept.truncate(trimmed);
        let trailing = kept.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            kept.pop();
        } else {
            break;
        }
    }
    kept.push('…');
    kept
}

/// Escapes text for Discord markdown so that it shows literally: markdown characters get a
/// backslash, `@everyone`/`@here` a zero-width space, and `<` (mentions, channels,
/// timestamps) a backslash.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut line_start = true;
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '[' | ']' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '>' | '-' if line_start => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push('\u{200B}');
            }
            _ => out.push(c),
        }
        if c == '\n' {
            line_start = true;
        } else if !c.is_whitespace() {
            line_start = false;
        }
    }
    out
}

/// [`escape`] for single-line text (labels, targets): newlines become spaces.
pub fn escape_line(s: &str) -> String {
    escape(&s.replace(['\n', '\r'], " "))
}

fn color(notice: &Notice) -> u32 {
    match notice.transition {
        Transition::Resolved { .. } => COLOR_RESOLVED,
        _ => severity_color(notice.severity),
    }
}

fn severity_color(s: Severity) -> u32 {
    match s {
        Severity::Critical => COLOR_CRITICAL,
        Severity::Warning => COLOR_WARNING,
        Severity::Info => COLOR_INFO,
    }
}

fn icon(notice: &Notice) -> &'static str {
    match (notice.transition, notice.severity) {
        (Transition::Resolved { .. }, _) => "✅",
        (_, Severity::Critical) => "🔴",
        (_, Severity::Warning) => "🟠",
        (_, Severity::Info) => "🔵",
    }
}

fn state_word(t: Transition) -> &'static str {
    match t {
        Transition::Firing => "FIRING",
        Transition::Repeat => "STILL FIRING",
        Transition::Resolved { .. } => "RESOLVED",
    }
}

/// `1h 12m`, `3d 4h`, `45s`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s > 0 => format!("{m}m {s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn field(name: &str, value: String, inline: bool) -> Field {
    Field {
        name: name.to_string(),
        value,
        inline,
    }
}

fn mentions_for(critical_firing: bool, style: &Style) -> (String, AllowedMentions) {
    match (&style.mention_role, critical_firing) {
        (Some(role), true) if !role.is_empty() && role.bytes().all(|b| b.is_ascii_digit()) => (
            format!("<@&{role}>"),
            AllowedMentions {
                parse: Vec::new(),
                roles: vec![role.clone()],
            },
        ),
        _ => (String::new(), AllowedMentions::default()),
    }
}

/// The embed that describes one alert.
pub fn alert_embed(notice: &Notice, style: &Style) -> Embed {
    let title = format!(
        "{} {}: {}",
        icon(notice),
        state_word(notice.transition),
        escape_line(&notice.alertname)
    );
    let mut description = escape(&notice.summary);
    if !notice.description.trim().is_empty() {
        description.push_str("\n\n");
        description.push_str(&escape(&notice.description));
    }
    if let Transition::Resolved { lasted_secs } = notice.transition {
        description = format!(
            "**Resolved** after {}.\n\n{description}",
            human_duration(lasted_secs)
        );
    }
    let mut fields = Vec::new();
    if let Some(v) = &notice.value {
        fields.push(field("Value", escape_line(v), true));
    }
    if let Some(t) = &notice.threshold {
        fields.push(field("Threshold", escape_line(t), true));
    }
    fields.push(field(
        "Since",
        format!("<t:{0}:f> (<t:{0}:R>)", notice.since_unix),
        true,
    ));
    if let Some(c) = &notice.component {
        fields.push(field("Component", escape_line(c), true));
    }
    if let Some(t) = &notice.target {
        fields.push(field("Target", escape_line(t), true));
    }
    for (k, v) in &notice.labels {
        fields.push(field(&escape_line(k), escape_line(v), true));
    }
    let mut links = Vec::new();
    if let Some(r) = notice.runbook.as_deref().and_then(safe_url) {
        links.push(format!("[Runbook]({r})"));
    }
    if let Some(p) = style.status_page.as_deref().and_then(safe_url) {
        links.push(format!("[Status page]({p})"));
    }
    if !links.is_empty() {
        fields.push(field("Links", links.join(" · "), false));
    }
    Embed {
        title,
        description,
        url: None,
        color: color(notice),
        fields,
        footer: Some(Footer {
            text: format!("fedimeter · {}", notice.severity.as_str()),
        }),
        author: None,
        timestamp: None,
    }
}

/// A URL that can go inside `[text](url)` without breaking out of it.
fn safe_url(u: &str) -> Option<&str> {
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && !u
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>'));
    ok.then_some(u)
}

/// One message for one alert: the embed, the role mention for a critical alert that fires,
/// `SUPPRESS_NOTIFICATIONS` for info.
pub fn alert_message(notice: &Notice, style: &Style) -> Message {
    let critical_firing = notice.severity == Severity::Critical
        && matches!(notice.transition, Transition::Firing | Transition::Repeat);
    let (content, allowed_mentions) = mentions_for(critical_firing, style);
    let mut m = Message {
        content,
        embeds: vec![alert_embed(notice, style)],
        allowed_mentions,
        flags: if notice.severity == Severity::Info {
            SUPPRESS_NOTIFICATIONS
        } else {
            0
        },
    };
    enforce_limits(&mut m);
    m
}

/// The short notice posted after the original message was edited to show the resolve.
/// Never pings.
pub fn resolved_notice(notice: &Notice) -> Message {
    let lasted = match notice.transition {
        Transition::Resolved { lasted_secs } => human_duration(lasted_secs),
        _ => "?".to_string(),
    };
    let target = notice
        .target
        .as_deref()
        .map(|t| format!(" on {}", escape_line(t)))
        .unwrap_or_default();
    let mut m = Message {
        content: String::new(),
        embeds: vec![Embed {
            title: format!("✅ Resolved: {}", escape_line(&notice.alertname)),
            description: format!("{target} after {lasted}.").trim().to_string(),
            color: COLOR_RESOLVED,
            ..Embed::default()
        }],
        allowed_mentions: AllowedMentions::default(),
        flags: SUPPRESS_NOTIFICATIONS,
    };
    enforce_limits(&mut m);
    m
}

/// One digest message that names every notice (as many as fit within the limits, then
/// "… and N more").
pub fn digest_message(notices: &[Notice], style: &Style) -> Message {
    let firing = notices
        .iter()
        .filter(|n| !matches!(n.transition, Transition::Resolved { .. }))
        .count();
    let resolved = notices.len() - firing;
    let worst = notices
        .iter()
        .filter(|n| !matches!(n.transition, Transition::Resolved { .. }))
        .map(|n| n.severity)
        .max();
    let title = format!(
        "⚠ {} alerts changed state: {firing} firing, {resolved} resolved",
        notices.len()
    );
    let mut lines = Vec::with_capacity(notices.len());
    for n in notices {
        let target = n
            .target
            .as_deref()
            .map(|t| format!(" · {}", escape_line(t)))
            .unwrap_or_default();
        let line = format!(
            "{} **{}** {} — {}{}",
            icon(n),
            state_word(n.transition),
            escape_line(&n.alertname),
            escape_line(&n.summary),
            target
        );
        lines.push(fit(&line, 300));
    }
    let mut description = String::new();
    let budget = MAX_DESCRIPTION - 40;
    let mut shown = 0;
    for line in &lines {
        if description.chars().count() + line.chars().count() + 1 > budget {
            break;
        }
        description.push_str(line);
        description.push('\n');
        shown += 1;
    }
    if shown < lines.len() {
        description.push_str(&format!("… and {} more", lines.len() - shown));
    }
    let mut fields = Vec::new();
    if let Some(p) = style.status_page.as_deref().and_then(safe_url) {
        fields.push(field("Links", format!("[Status page]({p})"), false));
    }
    let critical_firing = worst == Some(Severity::Critical);
    let (content, allowed_mentions) = mentions_for(critical_firing, style);
    let all_info = notices.iter().all(|n| n.severity == Severity::Info);
    let mut m = Message {
        content,
        embeds: vec![Embed {
            title,
            description,
            color: worst.map(severity_color).unwrap_or(COLOR_RESOLVED),
            fields,
            footer: Some(Footer {
                text: "fedimeter digest".to_string(),
            }),
            ..Embed::default()
        }],
        allowed_mentions,
        flags: if all_info { SUPPRESS_NOTIFICATIONS } else { 0 },
    };
    enforce_limits(&mut m);
    m
}

/// What one route sends for the notices of one evaluation: one message per notice, or one
/// digest when there are more than [`DIGEST_AFTER`].
pub fn plan(notices: &[Notice], style: &Style) -> Vec<Message> {
    if notices.len() > DIGEST_AFTER {
        vec![digest_message(notices, style)]
    } else {
        notices.iter().map(|n| alert_message(n, style)).collect()
    }
}

fn embed_len(e: &Embed) -> usize {
    discord_len(&e.title)
        + discord_len(&e.description)
        + e.fields
            .iter()
            .map(|f| discord_len(&f.name) + discord_len(&f.value))
            .sum::<usize>()
        + e.footer.as_ref().map_or(0, |f| discord_len(&f.text))
        + e.author.as_ref().map_or(0, |a| discord_len(&a.name))
}

/// Characters counted against the 6000 limit across all embeds.
pub fn total_embed_len(m: &Message) -> usize {
    m.embeds.iter().map(embed_len).sum()
}

/// Cuts `s` by at least `by` characters (keeping at least one; trimming at the cut may take
/// a few more); returns how many went.
fn shrink(s: &mut String, by: usize) -> usize {
    let before = discord_len(s);
    if before <= 1 || by == 0 {
        return 0;
    }
    let target = before.saturating_sub(by).max(1);
    *s = fit(s, target);
    before.saturating_sub(discord_len(s))
}

/// Makes `m` satisfy every documented limit, cutting visibly with "…".
pub fn enforce_limits(m: &mut Message) {
    m.content = fit(&m.content, MAX_CONTENT);
    if m.embeds.len() > MAX_EMBEDS {
        m.embeds.truncate(MAX_EMBEDS);
    }
    for e in &mut m.embeds {
        e.title = fit(&e.title, MAX_TITLE);
        e.description = fit(&e.description, MAX_DESCRIPTION);
        if e.fields.len() > MAX_FIELDS {
            let hidden = e.fields.len() - (MAX_FIELDS - 1);
            e.fields.truncate(MAX_FIELDS - 1);
            e.fields
                .push(field("…", format!("{hidden} more fields not shown"), false));
        }
        for f in &mut e.fields {
            f.name = fit(&f.name, MAX_FIELD_NAME);
            f.value = fit(&f.value, MAX_FIELD_VALUE);
            // Discord rejects empty field names and values.
            if f.name.is_empty() {
                f.name = "—".to_string();
            }
            if f.value.is_empty() {
                f.value = "—".to_string();
            }
        }
        if let Some(footer) = &mut e.footer {
            footer.text = fit(&footer.text, MAX_FOOTER);
        }
        if let Some(author) = &mut e.author {
            author.name = fit(&author.name, MAX_AUTHOR);
        }
    }
    let mut excess = total_embed_len(m).saturating_sub(MAX_EMBED_TOTAL);
    // Descriptions first (last embed first), then field values, footers, authors, field
    // names, titles.
    for pass in 0..6 {
        for e in m.embeds.iter_mut().rev() {
            if excess == 0 {
                return;
            }
            match pass {
                0 => excess = excess.saturating_sub(shrink(&mut e.description, excess)),
                1 => {
                    for f in e.fields.iter_mut().rev() {
                        if excess == 0 {
                            break;
                        }
                        excess = excess.saturating_sub(shrink(&mut f.value, excess));
                    }
                }
                2 => {
                    if let Some(footer) = &mut e.footer {
                        excess = excess.saturating_sub(shrink(&mut footer.text, excess));
                    }
                }
                3 => {
                    if let Some(author) = &mut e.author {
                        excess = excess.saturating_sub(shrink(&mut author.name, excess));
                    }
                }
                4 => {
                    for f in e.fields.iter_mut().rev() {
                        if excess == 0 {
                            break;
                        }
                        excess = excess.saturating_sub(shrink(&mut f.name, excess));
                    }
                }
                _ => excess = excess.saturating_sub(shrink(&mut e.title, excess)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::discord::Author;

    fn notice(name: &str, severity: Severity, transition: Transition) -> Notice {
        Notice {
            alertname: name.to_string(),
            severity,
            transition,
            summary: "Sidekiq queue ingress is 412 s behind".to_string(),
            description: "Jobs wait longer than the threshold.".to_string(),
            value: Some("412 s".to_string()),
            threshold: Some("> 300 s".to_string()),
            since_unix: 1_800_000_000,
            component: Some("federation".to_string()),
            target: Some("redis-main".to_string()),
            runbook: Some(
                "https://github.com/fedimeter/fedimeter/blob/main/docs/runbooks.md#sidekiqqueuelatencyhigh"
                    .to_string(),
            ),
            labels: vec![("queue".to_string(), "ingress".to_string())],
        }
    }

    fn style() -> Style {
        Style {
            mention_role: Some("123456789012345678".to_string()),
            status_page: Some("https://status.example.social/".to_string()),
        }
    }

    /// Every limit of Discord's "Embed Limits" table holds for `m`.
    fn assert_within_limits(m: &Message) {
        assert!(discord_len(&m.content) <= 2000);
        assert!(m.embeds.len() <= 10);
        for e in &m.embeds {
            assert!(
                discord_len(&e.title) <= 256,
                "title {}",
                discord_len(&e.title)
            );
            assert!(discord_len(&e.description) <= 4096);
            assert!(e.fields.len() <= 25);
            for f in &e.fields {
                assert!((1..=256).contains(&discord_len(&f.name)));
                assert!((1..=1024).contains(&discord_len(&f.value)));
            }
            assert!(
                e.footer
                    .as_ref()
                    .is_none_or(|f| discord_len(&f.text) <= 2048)
            );
            assert!(
                e.author
                    .as_ref()
                    .is_none_or(|a| discord_len(&a.name) <= 256)
            );
        }
        assert!(total_embed_len(m) <= 6000, "total {}", total_embed_len(m));
    }

    #[test]
    fn fit_counts_characters_after_trimming_and_cuts_with_an_ellipsis() {
        // (input, max, expected)
        let cases: &[(&str, usize, &str)] = &[
            ("abc", 3, "abc"),
            ("  abc  ", 3, "abc"),
            ("abcd", 3, "ab…"),
            // Characters, not bytes and not UTF-16 units: 🔥 counts one.
            ("🔥🔥🔥", 3, "🔥🔥🔥"),
            ("🔥🔥🔥🔥", 3, "🔥🔥…"),
            ("ab   cdef", 4, "ab…"),
            // A cut never leaves an escaping backslash before the ellipsis.
            ("ab\\*cd", 4, "ab…"),
            ("a\\\\bcd", 4, "a\\\\…"),
            ("", 5, ""),
        ];
        for (input, max, expected) in cases {
            assert_eq!(fit(input, *max), *expected, "fit({input:?}, {max})");
            assert!(discord_len(&fit(input, *max)) <= *max);
        }
    }

    #[test]
    fn escape_neutralises_markdown_and_mentions() {
        let cases: &[(&str, &str)] = &[
            ("@everyone", "@\u{200B}everyone"),
            ("@here now", "@\u{200B}here now"),
            ("<@&123>", "\\<@\u{200B}&123>"),
            ("<@42>", "\\<@\u{200B}42>"),
            ("ops@example.social", "ops@\u{200B}example.social"),
            (
                "**bold** _it_ ~~s~~",
                "\\*\\*bold\\*\\* \\_it\\_ \\~\\~s\\~\\~",
            ),
            ("`code` ||spoiler||", "\\`code\\` \\|\\|spoiler\\|\\|"),
            ("[x](https://evil)", "\\[x\\]\\(https://evil\\)"),
            ("# heading", "\\# heading"),
            ("> quote", "\\> quote"),
            ("web-1", "web-1"),
            ("a\n- item", "a\n\\- item"),
            ("back\\slash", "back\\\\slash"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape(input), *expected, "escape({input:?})");
        }
        assert_eq!(escape_line("a\nb"), "a b");
    }

    #[test]
    fn one_alert_embed_carries_every_fact() {
        let n = notice(
            "SidekiqQueueLatencyHigh",
            Severity::Warning,
            Transition::Firing,
        );
        let m = alert_message(&n, &style());
        assert_eq!(m.embeds.len(), 1);
        let e = &m.embeds[0];
        assert_eq!(e.title, "🟠 FIRING: SidekiqQueueLatencyHigh");
        assert_eq!(e.color, COLOR_WARNING);
        assert!(
            e.description
                .starts_with("Sidekiq queue ingress is 412 s behind")
        );
        let get = |name: &str| {
            e.fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
        };
        assert_eq!(get("Value").as_deref(), Some("412 s"));
        assert_eq!(get("Threshold").as_deref(), Some("\\> 300 s"));
        assert_eq!(
            get("Since").as_deref(),
            Some("<t:1800000000:f> (<t:1800000000:R>)")
        );
        assert_eq!(get("Component").as_deref(), Some("federation"));
        assert_eq!(get("Target").as_deref(), Some("redis-main"));
        assert_eq!(get("queue").as_deref(), Some("ingress"));
        assert_eq!(
            get("Links").as_deref(),
            Some(
                "[Runbook](https://github.com/fedimeter/fedimeter/blob/main/docs/runbooks.md#sidekiqqueuelatencyhigh) · [Status page](https://status.example.social/)"
            )
        );
        // A warning pings nobody and is not silent.
        assert_eq!(m.content, "");
        assert_eq!(m.allowed_mentions, AllowedMentions::default());
        assert_eq!(m.flags, 0);
    }

    #[test]
    fn severity_decides_colour_mention_and_silence() {
        // (severity, transition, colour, content, roles, flags)
        let role = "123456789012345678";
        let cases = [
            (
                Severity::Critical,
                Transition::Firing,
                COLOR_CRITICAL,
                "<@&123456789012345678>",
                vec![role],
                0,
            ),
            (
                Severity::Critical,
                Transition::Repeat,
                COLOR_CRITICAL,
                "<@&123456789012345678>",
                vec![role],
                0,
            ),
            (
                Severity::Critical,
                Transition::Resolved { lasted_secs: 60 },
                COLOR_RESOLVED,
                "",
                vec![],
                0,
            ),
            (
                Severity::Warning,
                Transition::Firing,
                COLOR_WARNING,
                "",
                vec![],
                0,
            ),
            (
                Severity::Info,
                Transition::Firing,
                COLOR_INFO,
                "",
                vec![],
                4096,
            ),
        ];
        for (sev, tr, colour, content, roles, flags) in cases {
            let m = alert_message(&notice("X", sev, tr), &style());
            assert_eq!(m.embeds[0].color, colour, "{sev:?} {tr:?}");
            assert_eq!(m.content, content, "{sev:?} {tr:?}");
            assert!(m.allowed_mentions.parse.is_empty());
            assert_eq!(m.allowed_mentions.roles, roles, "{sev:?} {tr:?}");
            assert_eq!(m.flags, flags, "{sev:?} {tr:?}");
        }
        // A role that is not a snowflake is never put into content.
        let bad = Style {
            mention_role: Some("@everyone".to_string()),
            status_page: None,
        };
        let m = alert_message(&notice("X", Severity::Critical, Transition::Firing), &bad);
        assert_eq!(m.content, "");
        assert!(m.allowed_mentions.roles.is_empty());
    }

    #[test]
    fn allowed_mentions_is_always_serialised_with_an_empty_parse_list() {
        let m = alert_message(
            &notice("X", Severity::Warning, Transition::Firing),
            &Style::default(),
        );
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(json["allowed_mentions"], serde_json::json!({"parse": []}));
        let m = alert_message(
            &notice("X", Severity::Critical, Transition::Firing),
            &style(),
        );
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(
            json["allowed_mentions"],
            serde_json::json!({"parse": [], "roles": ["123456789012345678"]})
        );
    }

    #[test]
    fn hostile_text_stays_inside_the_limits_and_pings_nobody() {
        let long = "@everyone <@&1> **x** ".repeat(2000);
        let mut n = notice(&long, Severity::Critical, Transition::Firing);
        n.summary = long.clone();
        n.description = long.clone();
        n.target = Some(long.clone());
        n.component = Some(long.clone());
        n.value = Some(long.clone());
        n.labels = (0..40)
            .map(|i| (format!("label{i}{long}"), long.clone()))
            .collect();
        let m = alert_message(&n, &style());
        assert_within_limits(&m);
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert!(!json.contains("@everyone"));
        assert!(!json.contains(" <@&1>"));
        // The cuts are visible.
        assert!(m.embeds[0].title.ends_with('…'));
        assert!(m.embeds[0].fields.iter().any(|f| f.value.ends_with('…')));
        assert_eq!(m.embeds[0].fields.len(), 25);
        // The only mention is the route's role in content.
        assert_eq!(m.content, "<@&123456789012345678>");
    }

    #[test]
    fn enforce_limits_cuts_each_documented_limit() {
        // (what, build, check)
        let at = |n: usize| "x".repeat(n);
        let mut m = Message {
            content: at(2001),
            embeds: (0..12)
                .map(|_| Embed {
                    title: at(300),
                    description: at(5000),
                    fields: (0..30).map(|_| field(&at(300), at(2000), false)).collect(),
                    footer: Some(Footer { text: at(3000) }),
                    author: Some(Author { name: at(300) }),
                    ..Embed::default()
                })
                .collect(),
            ..Message::default()
        };
        enforce_limits(&mut m);
        assert_within_limits(&m);
        assert_eq!(discord_len(&m.content), 2000);
        assert_eq!(m.embeds.len(), 10);
        // A message exactly at the limits is left alone.
        let mut exact = Message {
            content: at(2000),
            embeds: vec![Embed {
                title: at(256),
                description: at(4096),
                fields: vec![field(&at(256), at(1024), false)],
                footer: Some(Footer { text: at(368) }),
                ..Embed::default()
            }],
            ..Message::default()
        };
        assert_eq!(total_embed_len(&exact), 6000);
        let before = exact.clone();
        enforce_limits(&mut exact);
        assert_eq!(exact, before);
        // One character over 6000 in total: the description loses two (one for the "…").
        exact.embeds[0].footer = Some(Footer { text: at(369) });
        enforce_limits(&mut exact);
        assert_eq!(total_embed_len(&exact), 6000);
        assert_eq!(discord_len(&exact.embeds[0].description), 4095);
        assert!(exact.embeds[0].description.ends_with('…'));
    }

    #[test]
    fn more_than_five_notices_become_one_digest_naming_them_all() {
        let notices: Vec<Notice> = (0..30)
            .map(|i| notice(&format!("Alert{i}"), Severity::Warning, Transition::Firing))
            .collect();
        let five = plan(&notices[..5], &style());
        assert_eq!(five.len(), 5);
        let digest = plan(&notices, &style());
        assert_eq!(digest.len(), 1);
        let d = &digest[0];
        assert_within_limits(d);
        assert_eq!(
            d.embeds[0].title,
            "⚠ 30 alerts changed state: 30 firing, 0 resolved"
        );
        for i in 0..30 {
            assert!(
                d.embeds[0].description.contains(&format!("Alert{i} ")),
                "Alert{i}"
            );
        }
        assert!(!d.embeds[0].description.contains("more"));
    }

    #[test]
    fn the_status_page_is_linked_when_known_and_safe() {
        let links = |m: &Message| {
            m.embeds[0]
                .fields
                .iter()
                .find(|f| f.name == "Links")
                .map(|f| f.value.clone())
        };
        let n = notice("PostgresDown", Severity::Critical, Transition::Firing);
        let page = |url: Option<&str>| Style {
            mention_role: None,
            status_page: url.map(String::from),
        };
        let mut bare = n.clone();
        bare.runbook = None;
        assert_eq!(
            links(&alert_message(
                &bare,
                &page(Some("https://status.example.social/"))
            )),
            Some("[Status page](https://status.example.social/)".to_string())
        );
        // Not set: no link at all; a URL that would break out of the Markdown link: none.
        assert_eq!(links(&alert_message(&bare, &page(None))), None);
        assert_eq!(
            links(&alert_message(
                &bare,
                &page(Some("https://x.social/a)[y](https://evil"))
            )),
            None
        );
        // The digest links it too.
        let many: Vec<Notice> = (0..6).map(|_| n.clone()).collect();
        assert_eq!(
            links(&digest_message(
                &many,
                &page(Some("https://status.example.social/"))
            )),
            Some("[Status page](https://status.example.social/)".to_string())
        );
        assert_eq!(links(&digest_message(&many, &page(None))), None);
    }

    #[test]
    fn a_huge_digest_says_how_many_it_could_not_name() {
        let mut notices: Vec<Notice> = (0..500)
            .map(|i| notice(&format!("Alert{i}"), Severity::Critical, Transition::Firing))
            .collect();
        notices[0].severity = Severity::Info;
        let d = digest_message(&notices, &style());
        assert_within_limits(&d);
        let desc = &d.embeds[0].description;
        let shown = desc.lines().filter(|l| l.contains("FIRING")).count();
        assert!(shown > 10);
        assert!(
            desc.ends_with(&format!("… and {} more", 500 - shown)),
            "{desc}"
        );
        assert_eq!(d.content, "<@&123456789012345678>");
        assert_eq!(d.embeds[0].color, COLOR_CRITICAL);
    }

    #[test]
    fn resolved_edit_and_notice() {
        let n = notice(
            "PostgresDown",
            Severity::Critical,
            Transition::Resolved { lasted_secs: 4320 },
        );
        let edit = alert_message(&n, &style());
        assert_eq!(edit.embeds[0].title, "✅ RESOLVED: PostgresDown");
        assert!(
            edit.embeds[0]
                .description
                .starts_with("**Resolved** after 1h 12m.")
        );
        assert_eq!(edit.content, "");
        let short = resolved_notice(&n);
        assert_eq!(short.embeds[0].title, "✅ Resolved: PostgresDown");
        assert_eq!(short.embeds[0].description, "on redis-main after 1h 12m.");
        assert_eq!(short.flags, SUPPRESS_NOTIFICATIONS);
        assert!(short.allowed_mentions.roles.is_empty());
    }

    #[test]
    fn human_durations() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (90, "1m 30s"),
            (4320, "1h 12m"),
            (86_400 * 3 + 3600 * 4 + 5, "3d 4h"),
        ];
        for (secs, expected) in cases {
            assert_eq!(human_duration(secs), expected);
        }
    }
}
