//! Manual pages as plain text, section by section: enough of roff to index what a page says
//! (man(7) and mdoc(7) macros, font and character escapes), not to typeset it. Pages are read
//! from `/usr/share/man` directly, so halbert-web needs no `man` process (only halbertd may
//! start processes).

/// One section of a page (`DESCRIPTION`, `PermitRootLogin`'s subsection, …) as plain text,
/// paragraphs separated by blank lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    pub text: String,
}

/// What a page file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Sections(Vec<Section>),
    /// `.so man8/other.8`: the page is another's alias, indexed under that one's name.
    Alias,
}

/// Named characters (`\(em`, `\[aq]`) that occur in manual pages' prose.
fn named_char(name: &str) -> &'static str {
    match name {
        "em" => "—",
        "en" => "–",
        "hy" | "mi" | "-" => "-",
        "aq" | "cq" | "oq" => "'",
        "dq" | "lq" | "rq" | "Lq" | "Rq" => "\"",
        "bu" => "•",
        "co" => "©",
        "rg" => "®",
        "tm" => "™",
        "ga" => "`",
        "ti" | "ap" => "~",
        "ha" | "a^" => "^",
        "rs" | "e" => "\\",
        "sl" => "/",
        "ba" | "or" => "|",
        "<=" => "≤",
        ">=" => "≥",
        "->" => "→",
        "<-" => "←",
        "mu" => "×",
        "de" => "°",
        _ => "",
    }
}

/// `text` without roff escapes: fonts and sizes dropped, characters turned into themselves.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else { break };
        // An argument in one of roff's three forms: `(xx`, `[name]`, or one character.
        let arg = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| -> String {
            match it.next() {
                Some('(') => it.by_ref().take(2).collect(),
                Some('[') => it.by_ref().take_while(|&c| c != ']').collect(),
                Some(c) => c.to_string(),
                None => String::new(),
            }
        };
        match e {
            'f' | 'F' | 'n' | 'g' | 'k' | 'm' | 'M' | 'V' | 'Y' => {
                arg(&mut it);
            }
            '*' => {
                let name = arg(&mut it);
                out.push_str(match name.as_str() {
                    "lq" | "rq" | "Lq" | "Rq" | "q" => "\"",
                    "R" => "®",
                    "Tm" => "™",
                    _ => "",
                });
            }
            '(' => {
                let name: String = it.by_ref().take(2).collect();
                out.push_str(named_char(&name));
            }
            '[' => {
                let name: String = it.by_ref().take_while(|&c| c != ']').collect();
                out.push_str(named_char(&name));
            }
            's' => {
                // \s+1, \s-1, \s0, \s(12, \s[12]
                if matches!(it.peek(), Some('+' | '-')) {
                    it.next();
                }
                match it.peek() {
                    Some('(') => {
                        it.next();
                        it.by_ref().take(2).for_each(drop);
                    }
                    Some('[') => {
                        it.by_ref().take_while(|&c| c != ']').for_each(drop);
                    }
                    Some(d) if d.is_ascii_digit() => {
                        it.next();
                    }
                    _ => {}
                }
            }
            'h' | 'v' | 'w' | 'o' | 'b' | 'l' | 'L' | 'x' | 'D' | 'X' | 'Z' | 'A' | 'N' | 'R' => {
                // \h'…' and the like: drawing and motion, with a quoted argument.
                if let Some(q) = it.next() {
                    it.by_ref().take_while(|&c| c != q).for_each(drop);
                }
            }
            '-' => out.push('-'),
            'e' | '\\' => out.push('\\'),
            '.' => out.push('.'),
            '\'' => out.push('\''),
            '`' => out.push('`'),
            ' ' | '~' | '0' => out.push(' '),
            // Zero-width characters, optional hyphens, line continuations.
            '&' | '|' | '^' | '%' | 'c' | ':' | ')' | '/' | ',' | 'd' | 'u' | 'p' | 'z' | 'a' => {}
            '"' | '#' => {
                // A comment runs to the end of the line.
                break;
            }
            other => out.push(other),
        }
    }
    out
}

/// A macro line's arguments: words, or "quoted strings" with `""` for a quote.
fn args(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = rest.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            it.next();
        }
        let Some(&c) = it.peek() else { break };
        let mut w = String::new();
        if c == '"' {
            it.next();
            while let Some(c) = it.next() {
                if c == '"' {
                    if it.peek() == Some(&'"') {
                        it.next();
                        w.push('"');
                    } else {
                        break;
                    }
                } else {
                    w.push(c);
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                w.push(c);
                it.next();
            }
        }
        out.push(w);
    }
    out
}

/// mdoc's macros that may appear inside another's arguments (`.It Fl v Ar level`).
const MDOC_CALLABLE: &[&str] = &[
    "Ac", "Ao", "Ap", "Aq", "Ar", "Bc", "Bo", "Bq", "Brc", "Bro", "Brq", "Cm", "Dc", "Do", "Dq",
    "Dv", "Ec", "Em", "Eo", "Er", "Ev", "Fa", "Fl", "Fn", "Ft", "Ic", "Li", "Nm", "No", "Ns", "Oc",
    "Oo", "Op", "Pa", "Pc", "Pf", "Po", "Pq", "Qc", "Ql", "Qo", "Qq", "Sc", "Sm", "So", "Sq", "St",
    "Sx", "Sy", "Ta", "Tn", "Va", "Vt", "Xr", "Lk", "Mt", "Ms", "Ad", "Cd", "Ux", "Bx", "Ox", "Nx",
    "Fx", "At", "Dx",
];

/// The words of an mdoc macro line, with `Fl x` as `-x`, `Xr ssh 1` as `ssh(1)`, `Nm` as the
/// page's name and the other macro names dropped.
fn mdoc_words(words: &[String], name: &str) -> String {
    let mut out = String::new();
    let mut glue = false;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let piece: Option<String> = match w {
            "Fl" => {
                i += 1;
                let next = words.get(i).map(String::as_str).unwrap_or("");
                if next.is_empty() || MDOC_CALLABLE.contains(&next) {
                    i -= 1;
                    Some("-".into())
                } else {
                    Some(format!("-{}", unescape(next)))
                }
            }
            "Xr" if words.get(i + 1).is_some() => {
                let page = unescape(&words[i + 1]);
                let sect = words.get(i + 2).cloned().unwrap_or_default();
                i += if sect.is_empty() { 1 } else { 2 };
                Some(format!("{page}({sect})"))
            }
            "Nm" => {
                let next = words.get(i + 1).map(String::as_str);
                if next.is_none_or(|n| MDOC_CALLABLE.contains(&n) || is_punct(n)) {
                    Some(name.to_owned())
                } else {
                    None
                }
            }
            "Ns" | "Ap" => {
                glue = true;
                if w == "Ap" {
                    out.push('\'');
                }
                None
            }
            _ if MDOC_CALLABLE.contains(&w) => None,
            _ => Some(unescape(w)),
        };
        if let Some(p) = piece.filter(|p| !p.is_empty()) {
            if !out.is_empty() && !glue && !is_punct(&p) {
                out.push(' ');
            }
            out.push_str(&p);
            glue = false;
        }
        i += 1;
    }
    out
}

fn is_punct(w: &str) -> bool {
    matches!(w, "." | "," | ";" | ":" | ")" | "]" | "?" | "!")
}

/// A page's sections. `name` is the page's own name (what `.Nm` alone stands for).
pub fn parse(src: &str, name: &str) -> Page {
    let mut sections: Vec<Section> = Vec::new();
    let mut heading = String::new();
    let mut text = String::new();
    // A `.SH` without arguments takes the next line as its heading.
    let mut heading_next = false;
    let mut in_definition = false;
    let flush = |heading: &str, text: &mut String, sections: &mut Vec<Section>| {
        let t = tidy(text);
        if !t.is_empty() {
            sections.push(Section {
                heading: heading.to_owned(),
                text: t,
            });
        }
        text.clear();
    };
    for raw in src.lines() {
        if in_definition {
            // `..` ends it, also written `.  .` inside conditionals.
            if raw.chars().filter(|c| !c.is_whitespace()).eq("..".chars()) {
                in_definition = false;
            }
            continue;
        }
        let line = raw.trim_end();
        let is_macro = line.starts_with('.') || line.starts_with('\'');
        if !is_macro {
            let t = unescape(line);
            if heading_next {
                heading = tidy(&t);
                heading_next = false;
                continue;
            }
            if line.is_empty() {
                text.push_str("\n\n");
            } else {
                text.push_str(&t);
                text.push('\n');
            }
            continue;
        }
        let body = line[1..].trim_start();
        if body.starts_with("\\\"") || body.starts_with("\\#") || body.is_empty() {
            continue;
        }
        let (mac, rest) = body
            .split_once([' ', '\t'])
            .map_or((body, ""), |(m, r)| (m, r));
        let words = args(rest);
        let joined = |sep: &str| {
            words
                .iter()
                .map(|w| unescape(w))
                .collect::<Vec<_>>()
                .join(sep)
        };
        match mac {
            "so" => return Page::Alias,
            "de" | "de1" | "ds" | "am" | "ig" => {
                in_definition = mac != "ds";
            }
            "SH" | "SS" | "Sh" | "Ss" => {
                flush(&heading, &mut text, &mut sections);
                if words.is_empty() {
                    heading_next = true;
                } else if mac.starts_with('S') && mac.chars().nth(1).is_some_and(char::is_lowercase)
                {
                    heading = tidy(&mdoc_words(&words, name));
                } else {
                    heading = tidy(&joined(" "));
                }
            }
            "TH" | "Dd" | "Dt" | "Os" | "ft" | "ps" | "in" | "ti" | "ad" | "na" | "ne" | "hy"
            | "nh" | "ll" | "ta" | "nr" | "rm" | "tr" | "ie" | "el" | "if" | "ev" | "cc" | "ec"
            | "eo" | "ns" | "rs" | "mso" | "UC" | "Bk" | "Ek" | "Bf" | "Ef" | "Sm" => {}
            "PP" | "P" | "LP" | "Pp" | "sp" | "br" | "RS" | "RE" | "Bl" | "El" | "Bd" | "Ed"
            | "nf" | "fi" | "EX" | "EE" | "HP" | "TP" | "TQ" => {
                text.push_str("\n\n");
            }
            "IP" => {
                text.push_str("\n\n");
                if let Some(w) = words.first() {
                    text.push_str(&unescape(w));
                    text.push(' ');
                }
            }
            "B" | "I" | "SM" | "SB" => {
                text.push_str(&joined(" "));
                text.push('\n');
            }
            "BR" | "RB" | "IR" | "RI" | "BI" | "IB" => {
                text.push_str(&joined(""));
                text.push('\n');
            }
            // The synopsis macros of man-ext: `.SY cmd`, `.OP -x arg`, `.YS`.
            "SY" => {
                text.push_str("\n\n");
                text.push_str(&joined(" "));
                text.push('\n');
            }
            "OP" => {
                text.push_str(&format!("[{}]\n", joined(" ")));
            }
            "YS" => text.push_str("\n\n"),
            "UR" | "UE" | "MT" | "ME" => {
                text.push_str(&joined(" "));
                text.push(' ');
            }
            "It" => {
                text.push_str("\n\n");
                text.push_str(&mdoc_words(&words, name));
                text.push('\n');
            }
            "Nd" => {
                text.push_str("— ");
                text.push_str(&mdoc_words(&words, name));
                text.push('\n');
            }
            _ if mac.len() <= 3 && mac.chars().next().is_some_and(char::is_uppercase) => {
                // Any other mdoc macro (`.Nm`, `.Cm`, `.Ar`, `.Xr`, `.Dl`, …), or a macro of a
                // package this parser does not know: its words.
                let head: Vec<String> = if MDOC_CALLABLE.contains(&mac) {
                    vec![mac.to_owned()]
                } else {
                    Vec::new()
                };
                text.push_str(&mdoc_words(&[head, words].concat(), name));
                text.push('\n');
            }
            _ => {}
        }
    }
    flush(&heading, &mut text, &mut sections);
    Page::Sections(sections)
}

/// Paragraphs with their whitespace collapsed, separated by one blank line.
fn tidy(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_plain_text() {
        assert_eq!(
            unescape(r"\fBPermitRootLogin\fR \- allow \(lqroot\(rq\ login\&."),
            "PermitRootLogin - allow \"root\" login."
        );
        assert_eq!(
            unescape(r"\s-1SIGHUP\s0 and \f(CWcode\fP"),
            "SIGHUP and code"
        );
        assert_eq!(unescape(r"a \[em] b \*(lqq\*(rq"), "a — b \"q\"");
        assert_eq!(unescape(r#"text \" a comment"#), "text ");
    }

    #[test]
    fn man_macros_give_sections_and_paragraphs() {
        let src = r#".\" a comment
.TH CRON 8 "2024" "cron"
.SH NAME
cron \- daemon to execute scheduled commands
.SH DESCRIPTION
.B cron
is started automatically from
.IR /etc/init.d ,
and reads
.BR crontab (5)
files.
.PP
Second paragraph.
.SS Environment
.TP
.B MAILTO
Where mail goes.
.de XX
.B never shown
..
"#;
        let Page::Sections(s) = parse(src, "cron") else {
            panic!("not an alias")
        };
        assert_eq!(s[0].heading, "NAME");
        assert_eq!(s[0].text, "cron - daemon to execute scheduled commands");
        assert_eq!(s[1].heading, "DESCRIPTION");
        assert_eq!(
            s[1].text,
            "cron is started automatically from /etc/init.d, and reads crontab(5) files.\n\nSecond paragraph."
        );
        assert_eq!(s[2].heading, "Environment");
        assert_eq!(s[2].text, "MAILTO Where mail goes.");
        assert_eq!(parse(".so man8/cron.8\n", "crond"), Page::Alias);
    }

    /// Found on real pages: fstab(5) ends a definition inside a conditional with `.  .`
    /// (it swallowed the whole page), and adduser(8)'s synopsis uses man-ext's `.SY`/`.OP`.
    #[test]
    fn definitions_ended_with_spaces_and_synopsis_macros() {
        let src = r#".if \n[.g] \{\
.  am URL
.    ad l
.  .
.\}
.SH NAME
fstab \- static information about the filesystems
.SH SYNOPSIS
.SY adduser
.OP \-\-quiet
.OP \-\-uid id
user
.YS
"#;
        let Page::Sections(s) = parse(src, "fstab") else {
            panic!("not an alias")
        };
        assert_eq!(
            s[0].text,
            "fstab - static information about the filesystems"
        );
        assert_eq!(s[1].text, "adduser [--quiet] [--uid id] user");
    }

    #[test]
    fn mdoc_macros_read_as_words() {
        let src = r#".Dd $Mdocdate$
.Dt SSHD_CONFIG 5
.Sh NAME
.Nm sshd_config
.Nd OpenSSH daemon configuration file
.Sh DESCRIPTION
.Xr sshd 8
reads configuration data from
.Pa /etc/ssh/sshd_config
(or the file specified with
.Fl f
on the command line).
.Bl -tag -width Ds
.It Cm PermitRootLogin
Specifies whether root can log in using
.Xr ssh 1 .
The argument must be
.Cm yes ,
or
.Cm no .
.El
"#;
        let Page::Sections(s) = parse(src, "sshd_config") else {
            panic!("not an alias")
        };
        assert_eq!(s[0].heading, "NAME");
        assert_eq!(s[0].text, "sshd_config — OpenSSH daemon configuration file");
        assert_eq!(s[1].heading, "DESCRIPTION");
        assert!(
            s[1].text.starts_with(
                "sshd(8) reads configuration data from /etc/ssh/sshd_config (or the file specified with -f on the command line)."
            ),
            "{}",
            s[1].text
        );
        assert!(
            s[1].text.contains(
                "PermitRootLogin\nSpecifies whether root can log in using ssh(1). The argument must be yes, or no."
            ) || s[1].text.contains(
                "PermitRootLogin Specifies whether root can log in using ssh(1). The argument must be yes, or no."
            ),
            "{}",
            s[1].text
        );
    }
}
