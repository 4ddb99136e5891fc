//! Redaction of secrets and personal data before text leaves the machine (decisions.md §5):
//! key blocks, JWTs, `key=value` secrets, home paths, e-mail addresses, IPv4 and MAC addresses,
//! and IPv6 addresses. PEM and JWT go first so a `key:` rule cannot split them; MACs go before
//! IPv6 so they are not taken for addresses.

use std::sync::LazyLock;

use regex::{Captures, Regex};

struct Rule {
    re: Regex,
    with: &'static str,
}

#[allow(clippy::unwrap_used)] // fixed patterns, checked by the tests
static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |p: &str, with| Rule {
        re: Regex::new(p).unwrap(),
        with,
    };
    vec![
        r(
            r"(?s)-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----",
            "<pem_block>",
        ),
        r(
            r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
            "<jwt>",
        ),
        r(
            r#"(?i)\b((?:api[_-]?)?key|apikey|secret|token|password|passwd|pwd)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"',;]+)"#,
            "${1}${2}<secret>",
        ),
        r(r"/home/[^/\s:]+", "/home/<user>"),
        r(
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
            "<email>",
        ),
        r(
            r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b",
            "<ip>",
        ),
        r(r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b", "<mac>"),
    ]
});

#[allow(clippy::unwrap_used)]
static IPV6_CANDIDATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}").unwrap());

/// Returns `text` with every rule applied.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for rule in RULES.iter() {
        out = rule.re.replace_all(&out, rule.with).into_owned();
    }
    // IPv6: only what really parses as an address (so `12:30:45` stays).
    IPV6_CANDIDATE
        .replace_all(&out, |c: &Captures<'_>| {
            let s = &c[0];
            if s.parse::<std::net::Ipv6Addr>().is_ok() {
                "<ip6>".to_owned()
            } else {
                s.to_owned()
            }
        })
        .into_owned()
}

/// Whether a base URL points at this machine (then nothing needs redacting).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            host.eq_ignore_ascii_case("localhost")
                || host.to_ascii_lowercase().ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_fixtures() {
        for (input, want) in [
            ("token=ABC123", "token=<secret>"),
            ("secret:xyz", "secret:<secret>"),
            ("password=abc", "password=<secret>"),
            ("api_key = \"sk-123\"", "api_key = <secret>"),
            ("log in /home/alice/.ssh", "log in /home/<user>/.ssh"),
            ("mail me@example.com now", "mail <email> now"),
            ("server 10.0.0.1 down", "server <ip> down"),
            ("addr fe80::1ff:fe23:4567:890a up", "addr <ip6> up"),
            ("lladdr 3c:7c:3f:aa:bb:01 ok", "lladdr <mac> ok"),
            (
                "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123 x",
                "auth <jwt> x",
            ),
            ("at 12:30:45 and 2001:db8::1", "at 12:30:45 and <ip6>"),
        ] {
            assert_eq!(redact(input), want, "{input}");
        }
        let pem = "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\nkey: AAAA\n-----END OPENSSH PRIVATE KEY-----\nb";
        assert_eq!(redact(pem), "a\n<pem_block>\nb");
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_url("http://127.0.0.1:11434"));
        assert!(is_loopback_url("http://localhost:8080/v1"));
        assert!(is_loopback_url("http://[::1]:11434"));
        assert!(!is_loopback_url("https://api.openai.com/v1"));
        assert!(!is_loopback_url("http://192.168.1.5:11434"));
    }
}
