//! Fitting a prompt into the model's context window. A server refuses a prompt longer than its
//! window (llama.cpp: HTTP 400 "exceeds the available context size") or silently drops its
//! start (Ollama), so before a turn is sent its size is estimated and what chat adds on its
//! own — the machine's facts, the page the user is looking at, past conversations, older
//! history — is trimmed to fit, most useful first. What the person wrote is never cut.

/// A conservative estimate of the tokens `text` takes: one per three characters. Real
/// tokenizers average about four characters per token on English and fewer on configuration
/// files and non-Latin text; overestimating costs context, underestimating costs the answer.
pub fn tokens(text: &str) -> usize {
    text.chars().count().div_ceil(3)
}

/// What each message costs beyond its text (role markers, separators).
const PER_MESSAGE: usize = 8;
/// What an image costs a vision model (a 336 px tile is 576 tokens; most take a few).
const PER_IMAGE: usize = 1024;
/// The smallest answer worth asking for when the prompt leaves little room.
pub const MIN_ANSWER: u32 = 256;
/// A block cut to fit keeps at least this much, or is left out.
const MIN_BLOCK: usize = 64;
/// Room kept free for the estimate's error.
const SLACK_PERCENT: usize = 5;

/// A context block, from most to least worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Worth {
    /// What the person asked for by name (`@mentions`).
    Asked,
    /// The page the person is looking at.
    Page,
    /// The machine summary, or a notice that facts are missing.
    Machine,
    /// Everything in a bad state, for a troubleshooting question.
    Failures,
    /// Discovery of the types the message's words name.
    Keywords,
    /// Past conversations.
    Memory,
}

/// One labelled block of data for the system prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub text: String,
    pub worth: Worth,
}

/// The parts of a turn whose size is fixed: the template and rules, the message and its
/// images, the tool definitions offered.
#[derive(Debug, Clone, Copy)]
pub struct Fixed {
    pub tokens: usize,
    pub images: usize,
    pub messages: usize,
}

/// What fits: the blocks kept (in their original order, some cut), the history kept (the
/// newest turns), the answer's token limit, and what was cut or left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    pub blocks: Vec<Block>,
    pub history: Vec<(String, String)>,
    pub max_tokens: u32,
    /// Names of blocks cut (`name (cut)`) or left out, and `history (N older turns)`.
    pub trimmed: Vec<String>,
    /// The estimated prompt size after trimming.
    pub prompt_tokens: usize,
}

/// Fits `blocks` and `history` beside `fixed` into `window`, leaving room for an answer of
/// `max_tokens` (lowered to what is left, but not below [`MIN_ANSWER`]).
pub fn fit(
    window: u32,
    max_tokens: u32,
    fixed: Fixed,
    blocks: Vec<Block>,
    history: Vec<(String, String)>,
) -> Fit {
    let window = window as usize;
    let usable = window - window * SLACK_PERCENT / 100;
    let base = fixed.tokens + fixed.images * PER_IMAGE + fixed.messages * PER_MESSAGE;
    // The answer gets its room first, but at most half a small window (a 1,024-token model
    // asked for 1,024 would get no context at all), and a prompt that leaves less lowers the
    // limit rather than being refused by the server.
    let answer = (max_tokens as usize)
        .min((usable / 2).max(MIN_ANSWER as usize))
        .min(usable.saturating_sub(base).max(MIN_ANSWER as usize));
    let mut left = usable.saturating_sub(base + answer);
    let mut trimmed = Vec::new();

    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| blocks[i].worth);
    let mut keep: Vec<Option<String>> = vec![None; blocks.len()];
    // History is worth less than the facts asked for and more than the background ones: it
    // is placed after the blocks at or above `Failures`.
    let mut history_done = false;
    let mut kept_history = Vec::new();
    let mut place_history = |left: &mut usize, trimmed: &mut Vec<String>| {
        let mut dropped = 0;
        for (i, (role, content)) in history.iter().enumerate().rev() {
            let cost = tokens(content) + PER_MESSAGE;
            if cost <= *left {
                *left -= cost;
                kept_history.push((role.clone(), content.clone()));
            } else {
                dropped = i + 1;
                break;
            }
        }
        kept_history.reverse();
        if dropped > 0 {
            trimmed.push(format!("history ({dropped} older turns)"));
        }
    };
    for i in order {
        let b = &blocks[i];
        if !history_done && b.worth > Worth::Failures {
            place_history(&mut left, &mut trimmed);
            history_done = true;
        }
        let cost = tokens(&b.text);
        if cost <= left {
            left -= cost;
            keep[i] = Some(b.text.clone());
        } else if left >= MIN_BLOCK * 2 {
            let chars = (left - MIN_BLOCK / 2) * 3;
            keep[i] = Some(cut(&b.text, chars));
            left = 0;
            trimmed.push(format!("{} (cut)", b.name));
        } else {
            trimmed.push(b.name.clone());
        }
    }
    if !history_done {
        place_history(&mut left, &mut trimmed);
    }
    let kept: Vec<Block> = blocks
        .into_iter()
        .zip(keep)
        .filter_map(|(b, k)| k.map(|text| Block { text, ..b }))
        .collect();
    let prompt = base
        + kept.iter().map(|b| tokens(&b.text)).sum::<usize>()
        + kept_history
            .iter()
            .map(|(_, c)| tokens(c) + PER_MESSAGE)
            .sum::<usize>();
    Fit {
        blocks: kept,
        history: kept_history,
        max_tokens: answer as u32,
        trimmed,
        prompt_tokens: prompt,
    }
}

/// `text` cut to about `chars` characters at a line end where there is one, closed so the
/// model knows it is partial (and the `<data>` block stays well-formed).
fn cut(text: &str, chars: usize) -> String {
    let head: String = text.chars().take(chars).collect();
    let head = match head.rfind('\n') {
        Some(i) if i > head.len() / 2 => &head[..i],
        _ => &head,
    };
    let closing = if text.trim_end().ends_with("</data>") {
        "\n</data>\n"
    } else {
        ""
    };
    format!("{head}\n[… cut to fit the model's context window]{closing}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(name: &str, chars: usize, worth: Worth) -> Block {
        Block {
            name: name.into(),
            text: format!("<data label=\"{name}\">\n{}\n</data>\n", "x".repeat(chars)),
            worth,
        }
    }

    const FIXED: Fixed = Fixed {
        tokens: 500,
        images: 0,
        messages: 2,
    };

    #[test]
    fn everything_fits_in_a_large_window() {
        let blocks = vec![
            block("machine", 600, Worth::Machine),
            block("memory", 600, Worth::Memory),
        ];
        let history = vec![("user".to_owned(), "earlier".to_owned())];
        let f = fit(32768, 1024, FIXED, blocks.clone(), history.clone());
        assert_eq!(f.blocks, blocks);
        assert_eq!(f.history, history);
        assert_eq!(f.max_tokens, 1024);
        assert!(f.trimmed.is_empty());
    }

    /// The case a real server refused (issue 14, item 3): 15,998 tokens for a window of 8,192.
    #[test]
    fn the_least_useful_context_goes_first_and_the_rest_fits() {
        let blocks = vec![
            block("@cron.service", 3_000, Worth::Asked),
            block("page", 8_000, Worth::Page),
            block("machine", 1_500, Worth::Machine),
            block("storage", 9_000, Worth::Keywords),
            block("memory", 30_000, Worth::Memory),
        ];
        let history: Vec<(String, String)> = (0..6)
            .map(|i| ("user".to_owned(), format!("turn {i} {}", "y".repeat(2_000))))
            .collect();
        let f = fit(8192, 1024, FIXED, blocks, history);
        let names: Vec<&str> = f.blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names[..3],
            ["@cron.service", "page", "machine"],
            "{names:?}"
        );
        assert!(f.trimmed.contains(&"memory".to_owned()), "{:?}", f.trimmed);
        assert!(
            f.prompt_tokens + f.max_tokens as usize <= 8192,
            "{} + {}",
            f.prompt_tokens,
            f.max_tokens
        );
        assert_eq!(f.max_tokens, 1024, "the answer keeps its room");
        // The newest history is what is kept.
        if let Some(last) = f.history.last() {
            assert!(last.1.starts_with("turn 5"));
        }
        // A cut block says so and stays a closed <data> block.
        for b in &f.blocks {
            assert!(b.text.trim_end().ends_with("</data>"), "{}", b.name);
        }
    }

    #[test]
    fn a_prompt_larger_than_the_window_lowers_the_answer_limit_not_below_the_minimum() {
        let big = Fixed {
            tokens: 4_000,
            ..FIXED
        };
        let f = fit(
            4096,
            2048,
            big,
            vec![block("memory", 900, Worth::Memory)],
            vec![],
        );
        assert_eq!(f.max_tokens, MIN_ANSWER);
        assert_eq!(f.trimmed, ["memory"]);
    }

    /// Against llama.cpp with `-c 1024`, asking for a 1,024-token answer left no room for
    /// anything: the answer now takes at most half the window.
    #[test]
    fn a_small_window_keeps_room_for_context() {
        let small = Fixed {
            tokens: 250,
            ..FIXED
        };
        let f = fit(
            1024,
            1024,
            small,
            vec![block("page", 8_000, Worth::Page)],
            vec![],
        );
        assert_eq!(f.max_tokens, 486, "half the usable 973");
        assert_eq!(f.trimmed, ["page (cut)"]);
        assert!(f.prompt_tokens + f.max_tokens as usize <= 1024);
    }

    #[test]
    fn estimates_are_conservative() {
        assert_eq!(tokens(""), 0);
        assert_eq!(tokens("abc"), 1);
        assert_eq!(tokens("abcd"), 2);
        assert_eq!(tokens("ééé"), 1, "characters, not bytes");
    }
}
