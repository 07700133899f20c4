//! Value checks and small parsers shared by the section validators: pure functions from a
//! value's text to the value or an error message (the caller adds position and key).

/// A slug for component ids: lowercase ASCII letters and digits, other runs become `_`.
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
