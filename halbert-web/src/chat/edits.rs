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

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

/// The blocks of a model's answer, and the prose around them.
pub fn parse(answer: &str) -> (Vec<EditBlock>, String) {
    let text = answer.replace("\r\n", "\n");
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.trim_end() != SEARCH {
            prose.push(line);
            continue;
        }
        let (mut search, mut replace, mut in_replace, mut closed) =
            (Vec::new(), Vec::new(), false, false);
        for l in lines.by_ref() {
            match l.trim_end() {
                DIVIDER if !in_replace => in_replace = true,
                REPLACE => {
                    closed = true;
                    break;
                }
                _ if in_replace => replace.push(l),
                _ => search.push(l),
            }
        }
        if !closed || !in_replace {
            tracing::debug!("skipping an edit block without its divider or end marker");
            continue;
        }
        let search = search.join("\n");
        if search.trim().is_empty() {
            continue;
        }
        blocks.push(EditBlock {
            search,
            replace: replace.join("\n"),
        });
    }
    (blocks, prose.join("\n").trim().to_owned())
}

/// The first sentence of the prose (≤ 100 characters), else a generic line.
pub fn summary(prose: &str, applied: usize) -> String {
    let first = prose
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```"))
        .unwrap_or("");
    let sentence = first
        .split_inclusive(['.', '!', '?'])
        .next()
        .unwrap_or(first)
        .trim();
    if sentence.is_empty() {
        return format!("Applied {applied} edit(s)");
    }
    let mut s: String = sentence.chars().take(100).collect();
    if sentence.chars().count() > 100 {
        s.push('…');
    }
    s
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
        let (blocks, prose) = parse(answer);
        assert_eq!(
            blocks,
            vec![block("    last line", "    last line\n# Added comment")]
        );
        assert_eq!(summary(&prose, 1), "I'll add the comment.");
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
