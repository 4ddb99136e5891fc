//! Redaction of secrets and personal data before text leaves the machine (docs/decisions.md §5).
//!
//! The rules cover the formats secret scanners such as gitleaks look for (its MIT-licensed rule
//! set is where the list of providers comes from; the patterns here are our own), in this
//! order, each replacing what it finds so a later rule cannot split it:
//!
//! 1. key blocks (`-----BEGIN … PRIVATE KEY-----` … `END`, and any other PEM block);
//! 2. JWTs (`eyJ….….…`);
//! 3. credentials in URLs (`postgres://user:pass@db`, `https://u:p@host`): the password;
//! 4. HTTP authorization (`Authorization: Bearer …`, `Basic …`, `Proxy-Authorization`, a bare
//!    `Bearer <token>`);
//! 5. provider tokens recognised by their own shape wherever they stand: OpenAI and Anthropic
//!    (`sk-…`), GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab
//!    (`glpat-`), AWS access key ids (`AKIA…`, `ASIA…`), Slack (`xox?-`, webhook URLs), Stripe
//!    (`sk_live_`, `rk_test_`…), Google API keys (`AIza…`), npm (`npm_`), PyPI (`pypi-AgEI…`),
//!    Hugging Face (`hf_`), SendGrid (`SG.….…`), DigitalOcean (`dop_v1_`), Telegram bot tokens;
//! 6. `name = value` and `name: value` (`.env`, shell, INI, YAML, JSON, connection strings)
//!    where the name contains a secret word — `password`, `passwd`, `pwd`, `passphrase`,
//!    `secret`, `token`, `api_key`/`apikey`, `access_key`, `private_key`, `credential(s)`, `psk`,
//!    `AccountKey` — also inside longer names (`DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`,
//!    `GITHUB_TOKEN`, `client_secret`). For `token` and `key` names a purely numeric value is
//!    a count, not a secret (`max_tokens: 4096`), and stays;
//! 7. home paths, e-mail addresses, MAC addresses, then IPv4 and IPv6 addresses (only what
//!    parses as one and is not part of a longer word, so `12:30:45` and `::archive` stay;
//!    loopback and unspecified addresses say nothing about anyone and stay too).
//!
//! Versions, times, unit names, PCI slots and package hashes are left alone: no rule guesses
//! at "random-looking" text. The corpus in `tests/fixtures/redaction/` (a positive and a
//! negative line per case) is the specification; `tests::the_corpus` checks all of it.

use std::sync::LazyLock;

use regex::{Captures, Regex};

struct Rule {
    re: Regex,
    with: &'static str,
    /// Which toggle of [`Rules`] turns it off.
    kind: RuleKind,
}

/// The groups of rules that ingestion's `redaction` settings switch on and off (chat always
/// applies them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    KeyBlocks,
    Jwts,
    Secrets,
    HomePaths,
    Emails,
    Macs,
}

/// Which rule groups apply; all of them unless a user's `ingestion.yml` turns some off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Rules 3 to 6: credentials in URLs, authorization headers, provider tokens, and
    /// `name = value` with a secret word in the name.
    pub secrets: bool,
    pub home_paths: bool,
    pub emails: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub macs: bool,
    pub jwts: bool,
    pub key_blocks: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self::ALL
    }
}

impl Rules {
    pub const ALL: Rules = Rules {
        secrets: true,
        home_paths: true,
        emails: true,
        ipv4: true,
        ipv6: true,
        macs: true,
        jwts: true,
        key_blocks: true,
    };

    fn on(&self, kind: RuleKind) -> bool {
        match kind {
            RuleKind::KeyBlocks => self.key_blocks,
            RuleKind::Jwts => self.jwts,
            RuleKind::Secrets => self.secrets,
            RuleKind::HomePaths => self.home_paths,
            RuleKind::Emails => self.emails,
            RuleKind::Macs => self.macs,
        }
    }
}

/// A secret word inside a name, for rule 6. `token` and `key` also appear in names of counts.
const SECRET_WORDS: &str = r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|psk|accountkey|auth[_-]?key";

#[allow(clippy::unwrap_used)] // fixed patterns, checked by the tests
fn r(pattern: &str, with: &'static str) -> Rule {
    Rule {
        re: Regex::new(pattern).unwrap(),
        with,
        kind: RuleKind::Secrets,
    }
}

impl Rule {
    fn of(mut self, kind: RuleKind) -> Self {
        self.kind = kind;
        self
    }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // 1. PEM blocks.
        r(
            r"(?s)-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----",
            "<pem_block>",
        )
        .of(RuleKind::KeyBlocks),
        // 2. JWTs.
        r(
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+",
            "<jwt>",
        )
        .of(RuleKind::Jwts),
        // 3. user:password@ in URLs.
        r(
            r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@",
            "${1}<secret>@",
        ),
        // 4. HTTP authorization.
        r(
            r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*(?:bearer|basic|token|digest|negotiate)?\s*)[^\s,;]+",
            "${1}<secret>",
        ),
        r(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{16,}", "${1}<secret>"),
        // 5. Provider tokens by their shape.
        r(
            r"\b(?:sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}|hf_[A-Za-z0-9]{30,}|SG\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}|dop_v1_[a-f0-9]{64})\b",
            "<secret>",
        ),
        r(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", "<secret>"),
        r(
            r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+",
            "https://hooks.slack.com/services/<secret>",
        ),
        r(r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b", "<secret>"),
    ]
});

/// Rule 6: `name` (possibly quoted) `=` or `:` then the value (quoted, or up to a space, a
/// quote, `,` or `;`).
#[allow(clippy::unwrap_used)]
static NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(["']?)\b([A-Za-z0-9_.-]*(?:{SECRET_WORDS})[A-Za-z0-9_.-]*|[A-Za-z0-9_.-]+[_.-]key)(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"',;]+)"#
    ))
    .unwrap()
});

static PERSONAL: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        r(r"/home/[^/\s:]+", "/home/<user>").of(RuleKind::HomePaths),
        r(
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
            "<email>",
        )
        .of(RuleKind::Emails),
        r(r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b", "<mac>").of(RuleKind::Macs),
    ]
});

#[allow(clippy::unwrap_used)]
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b").unwrap()
});

/// Loopback and unspecified addresses say nothing about anyone (`listening on 0.0.0.0:80`).
fn says_nothing(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

/// Replaces the matches of `re` that `keep` rejects with `with`; a match glued to a letter,
/// digit, `_` or `-` on either side is part of a longer word (`::archive`) and stays.
fn replace_addresses(
    text: &str,
    re: &Regex,
    with: &str,
    parse: impl Fn(&str) -> Option<std::net::IpAddr>,
    count: &mut usize,
) -> String {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in re.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let hit = !glued(before)
            && !glued(after)
            && parse(m.as_str()).is_some_and(|ip| !says_nothing(ip));
        if hit {
            *count += 1;
            out.push_str(&text[last..m.start()]);
            out.push_str(with);
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[allow(clippy::unwrap_used)]
static IPV6_CANDIDATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}").unwrap());

/// Whether the value of a `name = value` pair is a secret: always for passwords and secrets
/// (but the shell's `PWD` is a directory); for names that only say `token` or `key`, not when
/// the value is a number (a count or a size), a yes/no, a path, or a placeholder already.
fn named_value_is_secret(name: &str, value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'');
    if v.is_empty() || v.starts_with('<') {
        return false;
    }
    let n = name.to_ascii_lowercase();
    if matches!(n.as_str(), "pwd" | "oldpwd") && v.starts_with('/') {
        return false;
    }
    let strong = [
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "credential",
        "psk",
    ]
    .iter()
    .any(|w| n.contains(w));
    if strong {
        return true;
    }
    let flag = [
        "true", "false", "yes", "no", "on", "off", "none", "null", "required", "optional",
    ]
    .iter()
    .any(|f| v.eq_ignore_ascii_case(f));
    !(flag || v.starts_with('/') || v.bytes().all(|b| b.is_ascii_digit()))
}

/// Returns `text` with every rule applied.
pub fn redact(text: &str) -> String {
    redact_with(text, Rules::ALL).0
}

/// Returns `text` with the rules that `rules` leaves on applied, and how many things they
/// replaced.
pub fn redact_with(text: &str, rules: Rules) -> (String, usize) {
    let mut count = 0;
    let mut out = text.to_owned();
    let apply = |out: String, rule: &Rule, count: &mut usize| -> String {
        if !rules.on(rule.kind) {
            return out;
        }
        let n = rule.re.find_iter(&out).count();
        if n == 0 {
            return out;
        }
        *count += n;
        rule.re.replace_all(&out, rule.with).into_owned()
    };
    for rule in RULES.iter() {
        out = apply(out, rule, &mut count);
    }
    if rules.secrets {
        out = NAMED
            .replace_all(&out, |c: &Captures<'_>| {
                if named_value_is_secret(&c[2], &c[4]) {
                    count += 1;
                    format!("{}{}{}<secret>", &c[1], &c[2], &c[3])
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned();
    }
    for rule in PERSONAL.iter() {
        out = apply(out, rule, &mut count);
    }
    if rules.ipv4 {
        out = replace_addresses(&out, &IPV4, "<ip>", |s| s.parse().ok(), &mut count);
    }
    // IPv6: only what really parses as an address (so `12:30:45` stays).
    if rules.ipv6 {
        out = replace_addresses(
            &out,
            &IPV6_CANDIDATE,
            "<ip6>",
            |s| {
                s.parse::<std::net::Ipv6Addr>()
                    .ok()
                    .map(std::net::IpAddr::V6)
            },
            &mut count,
        );
    }
    (out, count)
}

/// What to do with text bound for one model endpoint: redact it when the endpoint is not on
/// this machine. Chat, config chat, tool results and the memory quotes in the prompt all go
/// through one of these, so they are treated alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scrubber {
    remote: bool,
}

impl Scrubber {
    pub fn for_url(url: &str) -> Self {
        Self {
            remote: !is_loopback_url(url),
        }
    }

    /// Whether text is redacted (the endpoint is elsewhere).
    pub fn remote(self) -> bool {
        self.remote
    }

    pub fn apply(self, text: &str) -> String {
        if self.remote {
            redact(text)
        } else {
            text.to_owned()
        }
    }
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
    fn the_cases_of_the_attack_report() {
        for (input, want) in [
            ("DB_PASSWORD=hunter2", "DB_PASSWORD=<secret>"),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "AWS_SECRET_ACCESS_KEY=<secret>",
            ),
            (
                "GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345",
                "GITHUB_TOKEN=<secret>",
            ),
            (
                "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz012345",
                "OPENAI_API_KEY=<secret>",
            ),
            ("client_secret: 9f8e7d6c5b4a", "client_secret: <secret>"),
            (
                "Authorization: Bearer abcdef0123456789abcdef",
                "Authorization: Bearer <secret>",
            ),
            (
                "DATABASE_URL=postgres://app:s3cr3t@db/prod",
                "DATABASE_URL=postgres://app:<secret>@db/prod",
            ),
        ] {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    fn corpus(name: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/redaction")
            .join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// `secrets.txt`: `input<TAB>secret` per line; the secret must be gone after redaction.
    /// `clean.txt`: lines that must come out unchanged.
    #[test]
    fn toggles_switch_rule_groups_off_and_replacements_are_counted() {
        let line = "DB_PASSWORD=hunter2 for me@example.com from 10.0.0.7 in /home/alice at 00:11:22:33:44:55";
        let (all, n) = redact_with(line, Rules::ALL);
        assert_eq!(
            all,
            "DB_PASSWORD=<secret> for <email> from <ip> in /home/<user> at <mac>"
        );
        assert_eq!(n, 5);
        let (kept, n) = redact_with(
            line,
            Rules {
                ipv4: false,
                home_paths: false,
                ..Rules::ALL
            },
        );
        assert_eq!(
            kept,
            "DB_PASSWORD=<secret> for <email> from 10.0.0.7 in /home/alice at <mac>"
        );
        assert_eq!(n, 3);
        let none = Rules {
            secrets: false,
            home_paths: false,
            emails: false,
            ipv4: false,
            ipv6: false,
            macs: false,
            jwts: false,
            key_blocks: false,
        };
        assert_eq!(redact_with(line, none), (line.to_owned(), 0));
        assert_eq!(redact_with("nothing to see", Rules::ALL).1, 0);
    }

    #[test]
    fn the_corpus() {
        let secrets = corpus("secrets.txt");
        let clean = corpus("clean.txt");
        let mut missed = Vec::new();
        for line in &secrets {
            let (input, secret) = line.split_once('\t').expect("input<TAB>secret");
            let input = input.replace("\\n", "\n");
            let out = redact(&input);
            if out.contains(secret) || !out.contains('<') {
                missed.push(format!("{input:?} -> {out:?}"));
            }
        }
        let mut changed = Vec::new();
        for line in &clean {
            let out = redact(line);
            if &out != line {
                changed.push(format!("{line:?} -> {out:?}"));
            }
        }
        eprintln!(
            "redaction corpus: {}/{} secrets redacted, {}/{} clean lines unchanged",
            secrets.len() - missed.len(),
            secrets.len(),
            clean.len() - changed.len(),
            clean.len()
        );
        assert!(
            secrets.len() >= 60 && clean.len() >= 60,
            "the corpus is too small"
        );
        assert!(missed.is_empty(), "secrets left in:\n{}", missed.join("\n"));
        assert!(
            changed.is_empty(),
            "false positives:\n{}",
            changed.join("\n")
        );
    }

    #[test]
    fn scrubbing_follows_the_endpoint() {
        let local = Scrubber::for_url("http://127.0.0.1:11434");
        let far = Scrubber::for_url("https://api.example.com/v1");
        assert!(!local.remote() && far.remote());
        assert_eq!(local.apply("password=x"), "password=x");
        assert_eq!(far.apply("password=x"), "password=<secret>");
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
