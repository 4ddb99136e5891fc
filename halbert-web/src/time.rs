//! The one way halbert-web writes times: ISO 8601 in UTC with a `Z`, to the second (the API
//! contract's timestamps), plus the two shorter forms prompts use.

use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-12-01T10:45:44Z`.
pub fn iso8601_at(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// Unix seconds as [`iso8601_at`]; `None` when out of range.
pub fn iso8601(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(iso8601_at)
}

/// Unix milliseconds as [`iso8601`]; `None` for 0 (never) and out of range.
pub fn iso8601_ms(ms: i64) -> Option<String> {
    (ms > 0).then(|| iso8601(ms.div_euclid(1000))).flatten()
}

/// `2026-12-01`, for dates in prompts.
pub fn date(unix: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format_description!("[year]-[month]-[day]")).ok())
}

/// `2026-12-01 10:45 UTC`, the time a prompt states.
pub fn minute_now() -> String {
    OffsetDateTime::now_utc()
        .format(&format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso8601(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            iso8601(1_764_585_944).as_deref(),
            Some("2025-12-01T10:45:44Z")
        );
        assert_eq!(iso8601_ms(0), None);
        assert_eq!(iso8601_ms(1_500).as_deref(), Some("1970-01-01T00:00:01Z"));
        assert_eq!(iso8601(i64::MAX), None);
        assert_eq!(date(86_400).as_deref(), Some("1970-01-02"));
        let t = OffsetDateTime::from_unix_timestamp(60)
            .expect("t")
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).expect("offset"));
        assert_eq!(iso8601_at(t), "1970-01-01T00:01:00Z");
    }
}
