//! The SEARCH/REPLACE edit protocol of config chat: parse the blocks a model wrote, then apply
//! them to a file in order, each against the result of the ones before, by exact match, then a
//! whitespace-normalized match of whole lines, then a fuzzy one — keeping the file's
//! indentation, line endings and final newline. Blocks that do not apply are reported, never
//! dropped silently.
//!
//! ```text
//! <<<<<<< SEARCH
//! exact current text
//! =======
//! replacement
//! >>>>>>> REPLACE
//! ```

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditBlock {
    pub search: String,
    pub replace: String,
}

/// How a block found its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    Exact,
    Whitespace,
    Fuzzy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unapplied {
    /// 0-based position of the block in `edit_blocks`.
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub content: String,
    pub matches: Vec<(usize, Match)>,
    pub unapplied: Vec<Unapplied>,
}

/// A block the parser could not take, said in the response instead of being dropped: a
/// model that writes "the new line is added" beside a broken block must not look as if it
/// changed the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// 1-based line of the model's answer where the block starts.
    pub line: usize,
    pub reason: String,
}

/// A model's answer, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub blocks: Vec<EditBlock>,
    /// The text outside the blocks.
    pub prose: String,
    pub malformed: Vec<Malformed>,
}

/// Which marker a line is. Models miscount the marker characters, so 5 to 9 of them count,
/// with or without a space before the word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Search,
    Divider,
    Replace,
}

fn marker(line: &str) -> Option<Marker> {
    let l = line.trim();
    let run = |c: char| {
        let n = l.chars().take_while(|&x| x == c).count();
        (5..=9).contains(&n).then(|| l[n..].trim())
    };
    match l.chars().next()? {
        '<' => (run('<')? == "SEARCH").then_some(Marker::Search),
        '=' => run('=')?.is_empty().then_some(Marker::Divider),
        '>' => (run('>')? == "REPLACE").then_some(Marker::Replace),
        _ => None,
    }
}

/// The blocks of a model's answer, the prose around them, and every block that is broken
/// (a marker missing, an empty SEARCH, a block that changes nothing).
pub fn parse(answer: &str) -> Parsed {
    let text = answer.replace("\r\n", "\n");
    let mut out = Parsed::default();
    let mut prose = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    let bad = |out: &mut Parsed, line: usize, reason: &str| {
        out.malformed.push(Malformed {
            line,
            reason: reason.to_owned(),
        })
    };
    while i < lines.len() {
        let line = lines[i];
        match marker(line) {
            None => {
                prose.push(line);
                i += 1;
                continue;
            }
            Some(Marker::Divider) => {
                bad(
                    &mut out,
                    i + 1,
                    "a ======= divider outside a block (its <<<<<<< SEARCH line is missing)",
                );
                i += 1;
                continue;
            }
            Some(Marker::Replace) => {
                bad(
                    &mut out,
                    i + 1,
                    "a >>>>>>> REPLACE line without its <<<<<<< SEARCH and ======= lines",
                );
                i += 1;
                continue;
            }
            Some(Marker::Search) => {}
        }
        let start = i + 1;
        let (mut search, mut replace, mut divider, mut closed) =
            (Vec::new(), Vec::new(), false, false);
        i += 1;
        while i < lines.len() {
            let l = lines[i];
            match marker(l) {
                Some(Marker::Divider) if !divider => divider = true,
                Some(Marker::Replace) => {
                    closed = true;
                    i += 1;
                    break;
                }
                // A new block starts before this one ended: this one is broken, and the next
                // is read on its own.
                Some(Marker::Search) => break,
                _ if divider => replace.push(l),
                _ => search.push(l),
            }
            i += 1;
        }
        let reason = match (divider, closed) {
            (false, false) => {
                Some("the block has neither its ======= divider nor its >>>>>>> REPLACE line")
            }
            (false, true) => Some("the block has no ======= divider between SEARCH and REPLACE"),
            (true, false) => {
                Some("the block has no >>>>>>> REPLACE line (the answer may have been cut off)")
            }
            (true, true) => None,
        };
        if let Some(r) = reason {
            bad(&mut out, start, r);
            continue;
        }
        let search = search.join("\n");
        let replace = replace.join("\n");
        if search.trim().is_empty() {
            bad(&mut out, start, "the block's SEARCH part is empty");
            continue;
        }
        if search == replace {
            bad(
                &mut out,
                start,
                "the block's REPLACE part is the same as its SEARCH part, so it changes nothing",
            );
            continue;
        }
        out.blocks.push(EditBlock { search, replace });
    }
    out.prose = prose.join("\n").trim().to_owned();
    out
}

/// Whether the answer so far holds complete blocks and has gone on well past the last one
/// without starting another: the edit is there, and what follows is talk that costs a CPU
/// model minutes. Config chat stops the generation there.
pub fn blocks_done(answer_so_far: &str) -> bool {
    const TRAILING_PROSE: usize = 400;
    let Some(last_close) = answer_so_far
        .match_indices('\n')
        .map(|(i, _)| i)
        .chain(std::iter::once(answer_so_far.len()))
        .scan(0, |start, end| {
            let line = &answer_so_far[*start..end];
            let at = *start;
            *start = end + 1;
            Some((at, line))
        })
        .filter(|(_, l)| marker(l) == Some(Marker::Replace))
        .map(|(at, l)| at + l.len())
        .last()
    else {
        return false;
    };
    let after = &answer_so_far[last_close..];
    !after.lines().any(|l| marker(l).is_some()) && after.trim().chars().count() > TRAILING_PROSE
}

/// How many broken pieces make an answer hopeless: a small model that loops on marker lines
/// (seen with a 135M model: 92 stray markers in 1,024 tokens) will not write an edit, and
/// every further token costs the person time.
pub const HOPELESS: usize = 12;

/// Whether the answer so far is so broken that waiting for more is pointless.
pub fn hopeless(answer_so_far: &str) -> bool {
    let p = parse(answer_so_far);
    p.blocks.is_empty() && p.malformed.len() >= HOPELESS
}

/// The most broken pieces listed in a response; the summary gives the count.
pub const MAX_REPORTED: usize = 20;

/// What was actually done to the file, in a line: how many of the model's edits applied, the
/// lines changed, and why the others did not. Never the model's own claim.
pub fn summary(original: &str, proposed: &str, parsed: &Parsed, out: &Outcome) -> String {
    let total = parsed.blocks.len();
    let applied = out.matches.len();
    let mut why = Vec::new();
    if !out.unapplied.is_empty() {
        why.push(format!(
            "{} not found in the file",
            plural(
                out.unapplied.len(),
                "block's SEARCH text was",
                "blocks' SEARCH texts were"
            )
        ));
    }
    if !parsed.malformed.is_empty() {
        why.push(format!(
            "{}, the first: {}",
            plural(
                parsed.malformed.len(),
                "broken block or stray marker",
                "broken blocks or stray markers"
            ),
            parsed.malformed[0].reason
        ));
    }
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({})", why.join("; "))
    };
    if applied == 0 || original == proposed {
        return if total == 0 {
            format!("No change was made: the model's answer holds no complete edit block{why}.")
        } else {
            format!("No change was made: none of the model's {total} edit block(s) applied{why}.")
        };
    }
    let (removed, added, first) = changed_lines(original, proposed);
    format!(
        "Applied {applied} of {total} edit block(s): {} from line {first}{why}.",
        match (removed, added) {
            (0, a) => plural(a, "line added", "lines added"),
            (r, 0) => plural(r, "line removed", "lines removed"),
            (r, a) if r == a => plural(r, "line changed", "lines changed"),
            (r, a) => format!("{} replaced by {a}", plural(r, "line", "lines")),
        }
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Lines removed and added between two texts, outside their common start and end, and the
/// 1-based line where the change begins.
fn changed_lines(a: &str, b: &str) -> (usize, usize, usize) {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let (prefix, suffix) = crate::simulate::diff::common_ends(&a, &b);
    (
        a.len() - prefix - suffix,
        b.len() - prefix - suffix,
        prefix + 1,
    )
}

fn normalize(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// REPLACE lines moved from the SEARCH text's indentation to the matched lines'.
fn reindent(replace: &str, search_first: &str, file_first: &str) -> Vec<String> {
    let (from, to) = (indent(search_first), indent(file_first));
    replace
        .split('\n')
        .map(|l| match l.strip_prefix(from) {
            Some(rest) if !l.trim().is_empty() => format!("{to}{rest}"),
            _ => l.to_owned(),
        })
        .collect()
}

/// Finds `search` among `lines` by whole normalized lines, else fuzzily; returns (start, len, how).
fn find_lines(lines: &[&str], search: &[&str]) -> Option<(usize, usize, Match)> {
    let n = search.len();
    if n == 0 || n > lines.len() {
        return None;
    }
    let want: Vec<String> = search.iter().map(|l| normalize(l)).collect();
    let have: Vec<String> = lines.iter().map(|l| normalize(l)).collect();
    if let Some(start) = (0..=lines.len() - n).find(|&s| have[s..s + n] == want[..]) {
        return Some((start, n, Match::Whitespace));
    }
    // Fuzzy: the window with the most equal lines, if at least 70 % of them match and a run
    // of at least half of them matches contiguously.
    let mut best: Option<(usize, usize)> = None;
    for s in 0..=lines.len() - n {
        let (mut score, mut run, mut longest) = (0, 0, 0);
        for i in 0..n {
            if have[s + i] == want[i] && !want[i].is_empty() {
                score += 1;
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        if score * 10 >= n * 7 && longest * 2 >= n && best.is_none_or(|(_, b)| score > b) {
            best = Some((s, score));
        }
    }
    best.map(|(s, _)| (s, n, Match::Fuzzy))
}

/// Applies `blocks` in order to `content`.
pub fn apply(content: &str, blocks: &[EditBlock]) -> Outcome {
    let crlf = content.contains("\r\n");
    let mut text = content.replace("\r\n", "\n");
    let mut matches = Vec::new();
    let mut unapplied = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if let Some(pos) = text.find(&b.search) {
            text.replace_range(pos..pos + b.search.len(), &b.replace);
            matches.push((i, Match::Exact));
            continue;
        }
        let ends_with_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let lines: Vec<&str> = body.split('\n').collect();
        let search: Vec<&str> = b.search.split('\n').collect();
        match find_lines(&lines, &search) {
            Some((start, len, how)) => {
                let first_search = search
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .copied()
                    .unwrap_or("");
                let first_file = lines[start..start + len]
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .copied()
                    .unwrap_or("");
                let new_lines = reindent(&b.replace, first_search, first_file);
                let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
                // An empty REPLACE deletes the lines rather than leaving an empty one.
                if !b.replace.is_empty() {
                    out.extend(new_lines);
                }
                out.extend(lines[start + len..].iter().map(|l| (*l).to_owned()));
                text = out.join("\n");
                if ends_with_newline {
                    text.push('\n');
                }
                matches.push((i, how));
            }
            None => unapplied.push(Unapplied {
                index: i,
                reason: "the SEARCH text was not found in the file".into(),
            }),
        }
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    Outcome {
        content: text,
        matches,
        unapplied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(search: &str, replace: &str) -> EditBlock {
        EditBlock {
            search: search.into(),
            replace: replace.into(),
        }
    }

    #[test]
    fn parses_blocks_and_prose() {
        let answer = "I'll add the comment.\r\n<<<<<<< SEARCH\r\n    last line\r\n=======\r\n    last line\r\n# Added comment\r\n>>>>>>> REPLACE\r\nDone.\n<<<<<<< SEARCH\nbroken block without divider\n>>>>>>> REPLACE\n<<<<<<< SEARCH\n\n=======\nempty search is dropped\n>>>>>>> REPLACE\n";
        let p = parse(answer);
        assert_eq!(
            p.blocks,
            vec![block("    last line", "    last line\n# Added comment")]
        );
        assert_eq!(p.prose, "I'll add the comment.\nDone.");
        assert_eq!(
            p.malformed,
            vec![
                Malformed {
                    line: 9,
                    reason: "the block has no ======= divider between SEARCH and REPLACE".into()
                },
                Malformed {
                    line: 12,
                    reason: "the block's SEARCH part is empty".into()
                }
            ]
        );
    }

    /// What real models wrote (issue 14, item 1): blocks missing a marker, miscounted markers,
    /// a block that changes nothing. Each is reported, none dropped in silence.
    #[test]
    fn broken_blocks_are_reported_and_miscounted_markers_are_read() {
        let p = parse(
            "The new line is added.\n<<<<<< SEARCH\nb = 2\n========\nb = 3\n>>>>>>>> REPLACE\n",
        );
        assert_eq!(
            p.blocks,
            vec![block("b = 2", "b = 3")],
            "6 and 8 marker characters"
        );
        assert!(p.malformed.is_empty());

        let p = parse("I added it.\n=======\nlast = 1\n# Added\n>>>>>>> REPLACE\n");
        assert!(p.blocks.is_empty());
        assert_eq!(p.malformed.len(), 2, "{:?}", p.malformed);
        assert!(p.malformed[0].reason.contains("SEARCH line is missing"));

        let p =
            parse("<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE");
        assert_eq!(p.blocks, vec![block("c", "d")]);
        assert_eq!(p.malformed[0].line, 1);
        assert!(p.malformed[0].reason.contains("no >>>>>>> REPLACE"));

        let p = parse("<<<<<<< SEARCH\nsame\n=======\nsame\n>>>>>>> REPLACE\n");
        assert!(p.blocks.is_empty());
        assert!(p.malformed[0].reason.contains("changes nothing"));
    }

    #[test]
    fn the_summary_says_what_was_done_not_what_the_model_claimed() {
        let file = "a = 1\nb = 2\n";
        let claim = "The new line is added at the end.\n<<<<<<< SEARCH\nb = 2\n>>>>>>> REPLACE\n";
        let p = parse(claim);
        let out = apply(file, &p.blocks);
        assert_eq!(
            summary(file, &out.content, &p, &out),
            "No change was made: the model's answer holds no complete edit block (1 broken block or stray marker, the first: the block has no ======= divider between SEARCH and REPLACE)."
        );
        let p = parse("Sure.");
        let out = apply(file, &p.blocks);
        assert_eq!(
            summary(file, &out.content, &p, &out),
            "No change was made: the model's answer holds no complete edit block."
        );
        let p = parse(
            "<<<<<<< SEARCH\nb = 2\n=======\nb = 2\nc = 3\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nzzz\n=======\nyyy\n>>>>>>> REPLACE\n",
        );
        let out = apply(file, &p.blocks);
        assert_eq!(
            summary(file, &out.content, &p, &out),
            "Applied 1 of 2 edit block(s): 1 line added from line 3 (1 block's SEARCH text was not found in the file)."
        );
    }

    /// What SmolLM2-135M wrote against a real llama.cpp (issue 14's check): marker lines in a
    /// loop, never a block. The answer is given up on early, not read to the token limit.
    #[test]
    fn a_looping_answer_is_hopeless() {
        let looping = "<<<<<<< DEBUG\nThe new line\n>>>>>>> REPLACE\n".repeat(HOPELESS);
        assert!(hopeless(&looping));
        assert!(!hopeless(&looping[..looping.len() / 2]));
        let with_a_block = format!("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n{looping}");
        assert!(
            !hopeless(&with_a_block),
            "a block was written: read it to the end"
        );
    }

    #[test]
    fn generation_stops_once_the_blocks_are_done() {
        let block = "Here it is.\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n";
        assert!(!blocks_done("Here it is.\n<<<<<<< SEARCH\na\n"));
        assert!(!blocks_done(block), "a second block may follow");
        let chatter = format!("{block}{}", "And some more explanation. ".repeat(20));
        assert!(blocks_done(&chatter));
        let another = format!("{block}{}\n<<<<<<< SEARCH\n", "Next: ".repeat(80));
        assert!(!blocks_done(&another), "another block started");
    }

    #[test]
    fn the_edit_table() {
        struct Case {
            name: &'static str,
            file: &'static str,
            blocks: Vec<EditBlock>,
            want: &'static str,
            how: Vec<Match>,
            unapplied: usize,
        }
        let cases = vec![
            Case {
                name: "append at the end (search the last line, repeat it)",
                file: "[global]\n   workgroup = WG\n   server string = nas\n",
                blocks: vec![block(
                    "   server string = nas",
                    "   server string = nas\n# Added comment",
                )],
                want: "[global]\n   workgroup = WG\n   server string = nas\n# Added comment\n",
                how: vec![Match::Exact],
                unapplied: 0,
            },
            Case {
                name: "replace in the middle",
                file: "a = 1\nb = 2\nc = 3\n",
                blocks: vec![block("b = 2", "b = 20")],
                want: "a = 1\nb = 20\nc = 3\n",
                how: vec![Match::Exact],
                unapplied: 0,
            },
            Case {
                name: "indentation-sensitive YAML, model lost the indentation",
                file: "services:\n  web:\n    image: nginx:1.25\n    ports:\n      - \"80:80\"\n",
                blocks: vec![block(
                    "image: nginx:1.25\nports:",
                    "image: nginx:1.27\nports:",
                )],
                want: "services:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"80:80\"\n",
                how: vec![Match::Whitespace],
                unapplied: 0,
            },
            Case {
                name: "CRLF file keeps CRLF",
                file: "[Unit]\r\nDescription=x\r\n[Service]\r\nTimeoutStartSec=30\r\n",
                blocks: vec![block("TimeoutStartSec=30", "TimeoutStartSec=90")],
                want: "[Unit]\r\nDescription=x\r\n[Service]\r\nTimeoutStartSec=90\r\n",
                how: vec![Match::Exact],
                unapplied: 0,
            },
            Case {
                name: "fuzzy: one line of the search differs; trailing newline kept",
                file: "server {\n    listen 80;\n    server_name example.org;\n    root /var/www;\n    index index.html;\n}\n",
                blocks: vec![block(
                    "    listen 80;\n    server_name example.com;\n    root /var/www;\n    index index.html;",
                    "    listen 443 ssl;\n    server_name example.org;\n    root /var/www;\n    index index.html;",
                )],
                want: "server {\n    listen 443 ssl;\n    server_name example.org;\n    root /var/www;\n    index index.html;\n}\n",
                how: vec![Match::Fuzzy],
                unapplied: 0,
            },
            Case {
                name: "no match is reported and the file is unchanged",
                file: "a = 1\n",
                blocks: vec![block("zzz = 9", "zzz = 10")],
                want: "a = 1\n",
                how: vec![],
                unapplied: 1,
            },
            Case {
                name: "blocks apply in order, each to the result of the one before",
                file: "x\n",
                blocks: vec![block("x", "y"), block("y", "z")],
                want: "z\n",
                how: vec![Match::Exact, Match::Exact],
                unapplied: 0,
            },
        ];
        for c in cases {
            let out = apply(c.file, &c.blocks);
            assert_eq!(out.content, c.want, "{}", c.name);
            assert_eq!(
                out.matches.iter().map(|m| m.1).collect::<Vec<_>>(),
                c.how,
                "{}",
                c.name
            );
            assert_eq!(out.unapplied.len(), c.unapplied, "{}", c.name);
        }
    }
}
