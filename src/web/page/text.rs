//! Plain text from people (incident and maintenance messages) to safe HTML: everything is
//! escaped, line breaks become `<br>`, and only `http://` and `https://` links become
//! clickable. Nothing else can turn into markup, so `<script>`, quotes and `javascript:`
//! URLs stay inert text.

use std::fmt::Write as _;

use maud::PreEscaped;

/// Escapes `s` for HTML text and attribute values (double-quoted).
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Where a link starts in `s` at byte `i`: `http://` or `https://`, case-insensitive,
/// not glued to a preceding letter or digit.
fn link_start(s: &str, i: usize) -> bool {
    let rest = &s.as_bytes()[i..];
    let starts = |p: &[u8]| rest.len() > p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    let glued = s[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric());
    !glued && (starts(b"http://") || starts(b"https://"))
}

/// The byte length of the link starting at `s[i..]`: up to whitespace, `<`, `>`, a quote
/// or a backtick, minus trailing punctuation (and a closing parenthesis without an opening
/// one inside the link).
fn link_len(s: &str) -> usize {
    let end = s
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
        .unwrap_or(s.len());
    let mut link = &s[..end];
    while let Some(last) = link.chars().next_back() {
        let unbalanced_paren = last == ')' && link.matches('(').count() < link.matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | ']') || unbalanced_paren {
            link = &link[..link.len() - last.len_utf8()];
        } else {
            break;
        }
    }
    link.len()
}

/// Plain text to HTML with clickable `http(s)` links (`rel="nofollow noopener noreferrer"`).
pub fn linkify(text: &str) -> PreEscaped<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut plain_from = 0;
    let mut i = 0;
    while i < text.len() {
        if text.is_char_boundary(i) && link_start(text, i) {
            let len = link_len(&text[i..]);
            // A bare scheme ("https://") is not a link.
            if len > "https://".len() {
                push_plain(&text[plain_from..i], &mut out);
                let url = &text[i..i + len];
                out.push_str("<a href=\"");
                escape(url, &mut out);
                out.push_str("\" rel=\"nofollow noopener noreferrer\">");
                escape(url, &mut out);
                out.push_str("</a>");
                i += len;
                plain_from = i;
                continue;
            }
        }
        i += 1;
    }
    push_plain(&text[plain_from..], &mut out);
    PreEscaped(out)
}

fn push_plain(s: &str, out: &mut String) {
    let mut lines = s.split('\n');
    if let Some(first) = lines.next() {
        escape(first.trim_end_matches('\r'), out);
    }
    for line in lines {
        let _ = out.write_str("<br>");
        escape(line.trim_end_matches('\r'), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(s: &str) -> String {
        linkify(s).0
    }

    #[test]
    fn plain_text_is_escaped() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'q'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        );
    }

    #[test]
    fn http_links_become_anchors_and_trailing_punctuation_stays_text() {
        assert_eq!(
            html("See https://example.social/about. Thanks"),
            "See <a href=\"https://example.social/about\" rel=\"nofollow noopener noreferrer\">\
             https://example.social/about</a>. Thanks"
        );
        assert_eq!(
            html("(details: http://a.example/x?y=1&z=2)"),
            "(details: <a href=\"http://a.example/x?y=1&amp;z=2\" rel=\"nofollow noopener noreferrer\">\
             http://a.example/x?y=1&amp;z=2</a>)"
        );
    }

    #[test]
    fn javascript_and_other_schemes_are_never_links() {
        for hostile in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(document.cookie)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
        ] {
            let out = html(hostile);
            assert!(!out.contains("<a "), "{hostile} → {out}");
            assert!(!out.contains('<') || out.contains("&lt;"), "{out}");
        }
        // A scheme glued to a word is not a link.
        assert_eq!(html("ahttps://x.example"), "ahttps://x.example");
    }

    #[test]
    fn a_quote_cannot_break_out_of_the_href() {
        let out = html("https://x.example/\"onmouseover=\"alert(1)");
        assert_eq!(
            out,
            "<a href=\"https://x.example/\" rel=\"nofollow noopener noreferrer\">https://x.example/</a>\
             &quot;onmouseover=&quot;alert(1)"
        );
        let out = html("https://x.example/<script>alert(1)</script>");
        assert!(out.starts_with("<a href=\"https://x.example/\" "), "{out}");
        assert!(
            out.ends_with("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
    }

    #[test]
    fn line_breaks_and_bare_schemes() {
        assert_eq!(html("one\r\ntwo\nthree"), "one<br>two<br>three");
        assert_eq!(html("https:// is a scheme"), "https:// is a scheme");
        assert_eq!(
            html("HTTPS://X.EXAMPLE"),
            "<a href=\"HTTPS://X.EXAMPLE\" rel=\"nofollow noopener noreferrer\">HTTPS://X.EXAMPLE</a>"
        );
        assert_eq!(
            html("é https://x.example/é"),
            "é <a href=\"https://x.example/é\" rel=\"nofollow noopener noreferrer\">https://x.example/é</a>"
        );
    }
}
