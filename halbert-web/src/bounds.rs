//! The bounds of every field a client sends, in one place (documented in `/docs`): the 2 MiB
//! body limit alone would let one request carry 300,000 mentions or a 100,000-character URL.
//! Text is counted in characters. One-line fields refuse every control character; text fields
//! refuse control characters other than tab and line breaks (a NUL in a name is never meant).

/// A chat message or a config-chat instruction.
pub const MESSAGE_CHARS: usize = 32_000;
/// `@mentions` on one message, and the length of each.
pub const MENTIONS: usize = 32;
pub const MENTION_CHARS: usize = 128;
/// `current_page` and a message's `page` (a page name such as `storage`).
pub const PAGE_CHARS: usize = 100;
/// `page_context`: what the page shows, quoted to the model.
pub const PAGE_CONTEXT_CHARS: usize = 8_000;
/// Earlier turns sent with a chat request, and the length of each.
pub const HISTORY: usize = 50;
pub const HISTORY_CHARS: usize = 32_000;
/// Images on one chat request (each already bounded by the body limit).
pub const IMAGES: usize = 4;
/// Names: conversations, endpoints, models, rules.
pub const NAME_CHARS: usize = 200;
/// A model endpoint's base URL.
pub const URL_CHARS: usize = 2_048;
/// An API key.
pub const KEY_CHARS: usize = 4_096;
/// A path named in config chat.
pub const PATH_CHARS: usize = 4_096;
/// Types named in one scan request (there are eight; repeats count).
pub const SCAN_TYPES: usize = 8;
/// A memory search.
pub const QUERY_CHARS: usize = 4_000;
/// Entries deleted by one request.
pub const DELETE_IDS: usize = 1_000;
/// An id in a path or a list (conversation, memory entry, endpoint).
pub const ID_CHARS: usize = 256;

/// An optional count that JSON may write as `23` or `23.0` (both are integers to JSON Schema,
/// which the API description follows); a fraction, a negative number or anything else is
/// refused.
pub fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, not {n}")))
}

/// A request body whose fields all have bounds; [`crate::api::ApiJson`] checks them after
/// decoding, so a body type cannot be accepted without.
pub trait Bounded {
    fn check_bounds(&self) -> Result<(), String>;
}

/// A short enumerated value (`persona`, `provider`, `strategy`, `role`): validated for its
/// meaning elsewhere; here only bounded.
pub const WORD_CHARS: usize = 32;

/// An optional one-line field.
pub fn opt_line(field: &str, value: &Option<String>, max_chars: usize) -> Result<(), String> {
    value
        .as_deref()
        .map_or(Ok(()), |v| text(field, v, max_chars, Kind::Line))
}

/// Whether `s` is blank as the description's patterns judge it: only the characters
/// ECMAScript's `\s` matches (the patterns' dialect), which is not quite Rust's `trim` (that
/// also takes U+0085).
pub fn blank(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(
            c,
            '\t' | '\n'
                | '\u{0B}'
                | '\u{0C}'
                | '\r'
                | ' '
                | '\u{A0}'
                | '\u{1680}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
        ) || ('\u{2000}'..='\u{200A}').contains(&c)
    })
}

/// Whether a field is one line or free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Line,
    Text,
}

/// `Err` names the field and the bound it breaks.
pub fn text(field: &str, value: &str, max_chars: usize, kind: Kind) -> Result<(), String> {
    if value.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    let bad = |c: char| match kind {
        Kind::Line => c.is_control(),
        Kind::Text => c.is_control() && !matches!(c, '\n' | '\r' | '\t'),
    };
    if value.chars().any(bad) {
        return Err(match kind {
            Kind::Line => format!("{field} must be one line without control characters"),
            Kind::Text => format!("{field} must not contain control characters"),
        });
    }
    Ok(())
}

/// `Err` when a list is longer than `max`.
pub fn list<T>(field: &str, items: &[T], max: usize) -> Result<(), String> {
    if items.len() > max {
        return Err(format!(
            "{field} has {} entries; at most {max} are allowed",
            items.len()
        ));
    }
    Ok(())
}

/// A list of one-line strings: its length and each entry.
pub fn lines(field: &str, items: &[String], max: usize, max_chars: usize) -> Result<(), String> {
    list(field, items, max)?;
    items
        .iter()
        .try_for_each(|i| text(&format!("an entry of {field}"), i, max_chars, Kind::Line))
}

/// `@mentions` on a message.
pub fn mentions(items: &[String]) -> Result<(), String> {
    lines("mentions", items, MENTIONS, MENTION_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by schemathesis: `"k": 23.0` is an integer to JSON Schema but not to serde.
    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct K {
            #[serde(default, deserialize_with = "whole_number")]
            k: Option<usize>,
        }
        let k = |j: &str| serde_json::from_str::<K>(j).map(|v| v.k);
        assert_eq!(k(r#"{"k": 23}"#).expect("23"), Some(23));
        assert_eq!(k(r#"{"k": 23.0}"#).expect("23.0"), Some(23));
        assert_eq!(k(r#"{"k": null}"#).expect("null"), None);
        assert_eq!(k("{}").expect("absent"), None);
        assert!(k(r#"{"k": 2.5}"#).is_err());
        assert!(k(r#"{"k": -1}"#).is_err());
        assert!(k(r#"{"k": "3"}"#).is_err());
    }

    #[test]
    fn bounds_and_control_characters() {
        assert!(text("name", "Disk check", NAME_CHARS, Kind::Line).is_ok());
        assert_eq!(
            text("name", "\u{0}", NAME_CHARS, Kind::Line).expect_err("refused"),
            "name must be one line without control characters"
        );
        assert!(text("name", "two\nlines", NAME_CHARS, Kind::Line).is_err());
        assert!(text("message", "two\nlines\tand a tab\r\n", 100, Kind::Text).is_ok());
        assert!(text("message", "bell\u{7}", 100, Kind::Text).is_err());
        assert_eq!(
            text("url", &"x".repeat(URL_CHARS + 1), URL_CHARS, Kind::Line).expect_err("refused"),
            "url is longer than 2048 characters"
        );
        // Characters, not bytes.
        assert!(text("name", &"é".repeat(NAME_CHARS), NAME_CHARS, Kind::Line).is_ok());
        let many = vec!["@storage".to_owned(); MENTIONS + 1];
        assert_eq!(
            lines("mentions", &many, MENTIONS, MENTION_CHARS).expect_err("refused"),
            "mentions has 33 entries; at most 32 are allowed"
        );
        assert!(lines("mentions", &many[..MENTIONS], MENTIONS, MENTION_CHARS).is_ok());
        assert!(lines("mentions", &["a\u{0}".to_owned()], MENTIONS, MENTION_CHARS).is_err());
    }

    #[test]
    fn blank_is_what_the_patterns_call_blank() {
        assert!(blank("") && blank(" \t\n\u{3000}\u{FEFF}"));
        // U+0085 is whitespace to Rust's trim, not to the patterns' \s.
        assert!(!blank("\u{85}") && !blank(" x "));
    }
}
