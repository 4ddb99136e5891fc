//! Choosing the model for a chat message: one complexity formula (docs/decisions.md §7)
//! with a configurable threshold, whole-word matching only, and the history rules.

/// Words and phrases that point at a diagnosis.
const DIAGNOSTIC: &[&str] = &[
    "why",
    "failed",
    "fail",
    "error",
    "broken",
    "not working",
    "troubleshoot",
    "diagnose",
    "investigate",
    "debug",
    "fix",
    "issue",
    "problem",
];
const CODING: &[&str] = &[
    "write",
    "create",
    "script",
    "function",
    "code",
    "implement",
    "optimize",
    "refactor",
];
const MULTI_STEP: &[&str] = &[
    "step by step",
    "first",
    "then",
    "after",
    "compare",
    "analyze",
    "explain why",
    "how does",
];
const SIMPLE_STARTS: &[&str] = &[
    "what is", "show me", "list", "status", "how many", "which", "where is", "hi", "hello",
    "thanks", "help",
];

/// The message as lower-case words, for whole-word and whole-phrase tests.
pub fn words(message: &str) -> Vec<String> {
    message
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `phrase` (one or more words) occurs in `w` as whole words.
pub fn has(w: &[String], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    w.windows(p.len())
        .any(|win| win.iter().zip(&p).all(|(a, b)| a == b))
}

/// The complexity score in [0, 1]. Each diagnostic term counts once ("failed" is one hit, not
/// two as in the earlier substring version).
pub fn complexity(message: &str) -> f64 {
    let w = words(message);
    let mut score: f64 = 0.0;
    if w.len() > 50 {
        score += 0.2;
    } else if w.len() > 20 {
        score += 0.1;
    }
    let hits = DIAGNOSTIC.iter().filter(|t| has(&w, t)).count();
    score += match hits {
        0 => 0.0,
        1 => 0.4,
        _ => 0.5,
    };
    if CODING.iter().any(|t| has(&w, t)) {
        score += 0.3;
    }
    if MULTI_STEP.iter().any(|t| has(&w, t)) {
        score += 0.2;
    }
    if w.len() < 10
        && SIMPLE_STARTS.iter().any(|s| {
            let p: Vec<&str> = s.split(' ').collect();
            w.len() >= p.len() && w.iter().zip(&p).all(|(a, b)| a == b)
        })
    {
        score -= 0.3;
    }
    (score.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Guide,
    Specialist,
    Vision,
}

/// How messages are spread over the guide and the specialist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The specialist when the score reaches the threshold.
    Auto,
    /// Always the guide (a specialist stays assigned, e.g. for config chat).
    GuideOnly,
    /// The specialist whenever one is assigned.
    SpecialistPreferred,
}

impl Strategy {
    pub const NAMES: [&'static str; 3] = ["auto", "guide-only", "specialist-preferred"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "guide-only" => Some(Self::GuideOnly),
            "specialist-preferred" => Some(Self::SpecialistPreferred),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::GuideOnly => "guide-only",
            Self::SpecialistPreferred => "specialist-preferred",
        }
    }
}

/// Which model answers, and why in words (for the `decision` event). Images go to vision when
/// it is assigned; otherwise the strategy decides between guide and specialist.
pub fn choose(
    score: f64,
    threshold: f64,
    strategy: Strategy,
    has_images: bool,
    specialist: bool,
    vision: bool,
) -> (Role, String) {
    if has_images && vision {
        return (Role::Vision, "the message carries images".into());
    }
    if !specialist {
        return (
            Role::Guide,
            format!("complexity {score:.2}, no specialist assigned"),
        );
    }
    match strategy {
        Strategy::GuideOnly => (
            Role::Guide,
            format!("complexity {score:.2}; strategy guide-only"),
        ),
        Strategy::SpecialistPreferred => (
            Role::Specialist,
            format!("complexity {score:.2}; strategy specialist-preferred"),
        ),
        Strategy::Auto if score >= threshold => (
            Role::Specialist,
            format!("complexity {score:.2} ≥ threshold {threshold:.2}"),
        ),
        Strategy::Auto => (
            Role::Guide,
            format!("complexity {score:.2} < threshold {threshold:.2}"),
        ),
    }
}

/// The history sent to the model: the last 6 items, each cut to `max_chars` with an ellipsis,
/// roles other than `user` as `assistant`, and a last item equal to the message dropped (the
/// message goes once, as the user turn).
pub fn history(
    items: &[(String, String)],
    message: &str,
    max_chars: usize,
) -> Vec<(String, String)> {
    let mut items: Vec<&(String, String)> = items.iter().collect();
    if items
        .last()
        .is_some_and(|(_, c)| c.trim() == message.trim())
    {
        items.pop();
    }
    let skip = items.len().saturating_sub(6);
    items[skip..]
        .iter()
        .map(|(role, content)| {
            let role = if role == "user" { "user" } else { "assistant" };
            let mut c: String = content.chars().take(max_chars).collect();
            if content.chars().count() > max_chars {
                c.push('…');
            }
            (role.to_owned(), c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula() {
        assert_eq!(complexity("hi"), 0.0, "greetings are simple");
        assert_eq!(complexity("list my disks"), 0.0);
        assert_eq!(
            complexity("why did nginx fail"),
            0.5,
            "two diagnostic terms"
        );
        assert_eq!(
            complexity("the backup failed"),
            0.4,
            "one term, counted once"
        );
        assert_eq!(complexity("write a script to rotate logs"), 0.3);
        assert_eq!(
            complexity(
                "why did the backup fail, explain why step by step and write a script to fix it"
            ),
            1.0
        );
        assert_eq!(
            complexity("is the ip of eth0 up"),
            0.0,
            "no substring matches ('ip' in 'script')"
        );
        assert_eq!(
            complexity("description of the transcript"),
            0.0,
            "'script' only as a word"
        );
        let long = "word ".repeat(55);
        assert_eq!(complexity(&long), 0.2);
    }

    #[test]
    fn routing_and_history() {
        let role = |score, threshold, strategy, images, specialist, vision| {
            choose(score, threshold, strategy, images, specialist, vision).0
        };
        use Strategy::*;
        assert_eq!(role(0.5, 0.5, Auto, false, true, false), Role::Specialist);
        assert_eq!(role(0.4, 0.5, Auto, false, true, false), Role::Guide);
        assert_eq!(
            role(0.9, 0.5, Auto, false, false, false),
            Role::Guide,
            "no specialist assigned"
        );
        assert_eq!(role(0.0, 0.5, Auto, true, false, true), Role::Vision);
        assert_eq!(
            role(0.0, 0.5, Auto, true, true, false),
            Role::Guide,
            "images without a vision model go to the guide"
        );
        assert_eq!(
            role(0.9, 0.95, Auto, false, true, false),
            Role::Guide,
            "the threshold is configurable"
        );
        assert_eq!(role(1.0, 0.5, GuideOnly, false, true, false), Role::Guide);
        assert_eq!(
            role(0.0, 0.5, SpecialistPreferred, false, true, false),
            Role::Specialist
        );
        assert_eq!(
            role(0.0, 0.5, SpecialistPreferred, false, false, false),
            Role::Guide
        );
        assert_eq!(
            choose(0.7, 0.5, Auto, false, true, false).1,
            "complexity 0.70 ≥ threshold 0.50"
        );
        let h: Vec<(String, String)> = (0..9)
            .map(|i| {
                (
                    if i % 2 == 0 { "user" } else { "bot" }.to_owned(),
                    format!("m{i}"),
                )
            })
            .collect();
        let mut with_dup = h.clone();
        with_dup.push(("user".into(), "again".into()));
        let out = history(&with_dup, "again", 2000);
        assert_eq!(out.len(), 6);
        assert_eq!(
            out.last().map(|x| x.1.as_str()),
            Some("m8"),
            "the repeated message is dropped"
        );
        assert!(out.iter().all(|(r, _)| r == "user" || r == "assistant"));
        assert_eq!(
            history(&[("user".into(), "x".repeat(10))], "q", 4)[0].1,
            "xxxx…"
        );
    }
}
