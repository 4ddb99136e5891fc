//! The command analyzer: what a shell line would start and what in it can destroy, found by
//! reading it as a shell does (quotes, escapes, operators, substitutions, `sh -c`, wrappers
//! like `sudo` and `env`), never by running it. A word put together from quoted pieces
//! (`r''m`) is the word the shell would see; what only running could tell (a program named by
//! `$(…)`, `eval`) is a warning of its own.

/// A warning's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Destructive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysis {
    /// The programs the line starts (base names): a substitution's first, then the commands
    /// in their order.
    pub programs: Vec<String>,
    pub findings: Vec<Finding>,
}

/// One simple command: its words and where its output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Simple {
    words: Vec<String>,
    redirects: Vec<String>,
    /// Whether a word was made by a substitution, which only running can tell.
    substituted: bool,
    /// Whether its output is piped on (into the next simple command).
    piped: bool,
}

/// How deep `sh -c` and `$(…)` are followed.
const MAX_DEPTH: usize = 4;

/// Splits a line into simple commands; an error for what a shell would not take either
/// (an unclosed quote or substitution).
// The word-ending macro resets the reader's state at every use, and some uses set it again
// at once (a redirection), which the lint sees as a dead store.
#[allow(unused_assignments)]
fn split(line: &str, depth: usize, out: &mut Analysis) -> Result<Vec<Simple>, String> {
    let c: Vec<char> = line.chars().collect();
    let mut cmds = vec![Simple::default()];
    let mut word = String::new();
    let mut in_word = false;
    let mut subst = false;
    let mut redirect_next = false;
    let mut i = 0;
    macro_rules! end_word {
        () => {
            if in_word {
                let cur = cmds.last_mut().expect("one command");
                if redirect_next {
                    cur.redirects.push(std::mem::take(&mut word));
                    redirect_next = false;
                } else {
                    cur.words.push(std::mem::take(&mut word));
                }
                cur.substituted |= subst;
                in_word = false;
                subst = false;
            }
        };
    }
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' => {
                end_word!();
                if ch == '\n' {
                    cmds.push(Simple::default());
                }
                i += 1;
            }
            '\\' => {
                if let Some(&n) = c.get(i + 1)
                    && n != '\n'
                {
                    word.push(n);
                    in_word = true;
                }
                i += 2;
            }
            '\'' => {
                let end = c[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or("an unclosed ' quote")?;
                word.extend(&c[i + 1..i + 1 + end]);
                in_word = true;
                i += end + 2;
            }
            '"' => {
                i += 1;
                in_word = true;
                loop {
                    match c.get(i) {
                        None => return Err("an unclosed \" quote".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(c.get(i + 1), Some('$' | '`' | '"' | '\\')) => {
                            word.push(c[i + 1]);
                            i += 2;
                        }
                        Some('$') if c.get(i + 1) == Some(&'(') => {
                            let (inner, next) = substitution(&c, i + 2)?;
                            nested(&inner, depth, out)?;
                            subst = true;
                            i = next;
                        }
                        Some('`') => {
                            let end = c[i + 1..]
                                .iter()
                                .position(|&x| x == '`')
                                .ok_or("an unclosed ` substitution")?;
                            nested(
                                &c[i + 1..i + 1 + end].iter().collect::<String>(),
                                depth,
                                out,
                            )?;
                            subst = true;
                            i += end + 2;
                        }
                        Some(&x) => {
                            word.push(x);
                            i += 1;
                        }
                    }
                }
            }
            '$' if c.get(i + 1) == Some(&'(') => {
                let (inner, next) = substitution(&c, i + 2)?;
                nested(&inner, depth, out)?;
                subst = true;
                in_word = true;
                i = next;
            }
            '`' => {
                let end = c[i + 1..]
                    .iter()
                    .position(|&x| x == '`')
                    .ok_or("an unclosed ` substitution")?;
                nested(
                    &c[i + 1..i + 1 + end].iter().collect::<String>(),
                    depth,
                    out,
                )?;
                subst = true;
                in_word = true;
                i += end + 2;
            }
            ';' | '&' | '|' | '(' | ')' if !in_word || matches!(ch, ';' | '&' | '|') => {
                end_word!();
                // `&>` and `>&` are redirections, `|&` a pipe.
                if ch == '&' && c.get(i + 1) == Some(&'>') {
                    redirect_next = true;
                    i += if c.get(i + 2) == Some(&'>') { 3 } else { 2 };
                    continue;
                }
                let piped = ch == '|' && c.get(i + 1) != Some(&'|');
                if let Some(cur) = cmds.last_mut() {
                    cur.piped |= piped;
                }
                cmds.push(Simple::default());
                i += if matches!(
                    (ch, c.get(i + 1)),
                    ('&', Some('&')) | ('|', Some('|' | '&'))
                ) {
                    2
                } else {
                    1
                };
            }
            '>' | '<' => {
                // A file descriptor number just before belongs to the redirection (`2>`).
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                end_word!();
                redirect_next = ch == '>';
                i += 1;
                while matches!(c.get(i), Some('>' | '|' | '&')) {
                    i += 1;
                }
                if ch == '<' {
                    // Input: the word after is read, not written; keep it out of both lists.
                    redirect_next = false;
                    while matches!(c.get(i), Some(' ' | '\t')) {
                        i += 1;
                    }
                    while i < c.len() && !" \t\n;&|<>()".contains(c[i]) {
                        i += 1;
                    }
                }
            }
            '#' if !in_word => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            _ => {
                word.push(ch);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word && let Some(cur) = cmds.last_mut() {
        if redirect_next {
            cur.redirects.push(word);
        } else {
            cur.words.push(word);
        }
        cur.substituted |= subst;
    }
    cmds.retain(|s| !s.words.is_empty() || !s.redirects.is_empty());
    Ok(cmds)
}

/// The text of `$(…)` from `start` (just after the parenthesis) to its match.
fn substitution(c: &[char], start: usize) -> Result<(String, usize), String> {
    let mut depth = 1;
    let mut i = start;
    while i < c.len() {
        match c[i] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((c[start..i].iter().collect(), i + 1));
                }
            }
            '\'' => {
                i += c[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map_or(c.len(), |p| p + 1);
            }
            _ => {}
        }
        i += 1;
    }
    Err("an unclosed $( substitution".into())
}

fn nested(line: &str, depth: usize, out: &mut Analysis) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        out.findings.push(Finding {
            severity: Severity::Warning,
            text: "nested more deeply than Halbert follows; the inner commands are not analyzed"
                .into(),
        });
        return Ok(());
    }
    analyze_into(line, depth + 1, out)
}

fn base(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// Words that run the rest of the line as a command.
fn skip_wrappers(words: &[String]) -> &[String] {
    let mut w = words;
    loop {
        // Assignments before a command (`FOO=bar cmd`).
        while let Some(first) = w.first() {
            let is_assign = first.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !is_assign {
                break;
            }
            w = &w[1..];
        }
        let Some(first) = w.first() else { return w };
        // The shell's reserved words before a command (`{ rm …; }`, `if rm …; then`).
        if matches!(
            first.as_str(),
            "{" | "}"
                | "!"
                | "if"
                | "then"
                | "else"
                | "elif"
                | "fi"
                | "do"
                | "done"
                | "while"
                | "until"
        ) {
            w = &w[1..];
            continue;
        }
        match base(first) {
            "sudo" | "doas" | "nohup" | "exec" | "command" | "builtin" | "time" | "nice"
            | "ionice" | "chroot" | "env" | "stdbuf" | "setsid" | "unbuffer" | "xargs"
            | "flock" | "timeout" | "watch" | "strace" | "runuser" | "su" => {
                w = &w[1..];
                // Their own options and option values, up to the command.
                while let Some(x) = w.first() {
                    let takes_value = matches!(
                        x.as_str(),
                        "-u" | "-g" | "-n" | "-c" | "-s" | "-E" | "-C" | "-p"
                    );
                    if x.starts_with('-') {
                        w = &w[if takes_value && w.len() > 1 { 2 } else { 1 }..];
                    } else if x.contains('=')
                        || (base(first) == "timeout"
                            && x.chars().next().is_some_and(|c| c.is_ascii_digit()))
                        || (base(first) == "chroot" && x.starts_with('/'))
                    {
                        w = &w[1..];
                    } else {
                        break;
                    }
                }
            }
            _ => return w,
        }
    }
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "python", "python3", "perl", "ruby", "node", "php",
];
const FORMATTERS: &[&str] = &[
    "mkfs",
    "mke2fs",
    "mkswap",
    "wipefs",
    "fdisk",
    "sfdisk",
    "cfdisk",
    "parted",
    "sgdisk",
    "gdisk",
    "blkdiscard",
    "shred",
];

fn block_device(p: &str) -> bool {
    [
        "/dev/sd",
        "/dev/hd",
        "/dev/vd",
        "/dev/xvd",
        "/dev/nvme",
        "/dev/mmcblk",
        "/dev/dm-",
        "/dev/md",
        "/dev/disk/",
        "/dev/mapper/",
        "/dev/loop",
    ]
    .iter()
    .any(|d| p.starts_with(d))
}

fn system_tree(p: &str) -> bool {
    let p = p.trim_end_matches('/');
    p.is_empty()
        || p == "/*"
        || p == "~"
        || p == "$HOME"
        || [
            "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/var", "/home", "/root",
            "/opt", "/srv",
        ]
        .contains(&p)
}

fn judge(s: &Simple, depth: usize, out: &mut Analysis) -> Result<(), String> {
    for r in &s.redirects {
        if block_device(r) {
            out.findings.push(Finding {
                severity: Severity::Destructive,
                text: format!("writes straight onto the block device {r}"),
            });
        }
    }
    let w = skip_wrappers(&s.words);
    let Some(first) = w.first() else {
        return Ok(());
    };
    let prog = base(first).to_owned();
    if s.substituted && (first.is_empty() || s.words.first().is_some_and(|f| f.is_empty())) {
        out.findings.push(Finding {
            severity: Severity::Warning,
            text: "a substitution decides which program runs; only running it would tell".into(),
        });
    }
    out.programs.push(prog.clone());
    let args = &w[1..];
    let flags = |short: &[char], long: &[&str]| {
        args.iter().any(|a| {
            (a.starts_with('-')
                && !a.starts_with("--")
                && a[1..].chars().any(|c| short.contains(&c)))
                || long.contains(&a.as_str())
        })
    };
    let mut destructive = |t: String| {
        out.findings.push(Finding {
            severity: Severity::Destructive,
            text: t,
        })
    };
    match prog.as_str() {
        "rm" => {
            let recursive = flags(&['r', 'R'], &["--recursive"]);
            let force = flags(&['f'], &["--force"]);
            let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            if recursive && targets.iter().any(|t| system_tree(t)) {
                destructive(format!(
                    "rm -r on {}: deletes a whole system tree",
                    targets
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            } else if recursive && force {
                destructive("rm -rf: deletes recursively without asking".into());
            } else if recursive {
                destructive("rm -r: deletes recursively".into());
            }
        }
        "dd" => {
            if let Some(of) = args.iter().find_map(|a| a.strip_prefix("of=")) {
                destructive(if block_device(of) {
                    format!("dd writes onto the block device {of}")
                } else {
                    format!("dd overwrites {of}")
                });
            }
        }
        p if FORMATTERS.contains(&p) || p.starts_with("mkfs.") => {
            destructive(format!("{p} formats, partitions or erases a disk"));
        }
        "chmod" | "chown" | "chgrp" | "setfacl"
            if flags(&['R'], &["--recursive"]) && args.iter().any(|a| system_tree(a)) =>
        {
            destructive(format!(
                "{prog} -R on a system tree changes the rights of everything in it"
            ));
        }
        "shutdown" | "reboot" | "poweroff" | "halt" => {
            destructive(format!("{prog} takes the machine down"));
        }
        "init" | "telinit" if args.first().is_some_and(|a| a == "0" || a == "6") => {
            destructive(format!("{prog} {} takes the machine down", args[0]));
        }
        "systemctl"
            if args.iter().any(|a| {
                matches!(
                    a.as_str(),
                    "poweroff" | "reboot" | "halt" | "kexec" | "rescue" | "emergency"
                )
            }) =>
        {
            destructive("systemctl takes the machine down or out of its normal state".into());
        }
        "eval" | "source" | "." => {
            out.findings.push(Finding {
                severity: Severity::Warning,
                text: format!("{prog} runs text as commands, which cannot be analyzed beforehand"),
            });
        }
        p if SHELLS.contains(&p) => {
            if let Some(pos) = args.iter().position(|a| a == "-c")
                && let Some(inner) = args.get(pos + 1)
            {
                nested(inner, depth, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn analyze_into(line: &str, depth: usize, out: &mut Analysis) -> Result<(), String> {
    let cmds = split(line, depth, out)?;
    for (i, s) in cmds.iter().enumerate() {
        judge(s, depth, out)?;
        // What a download pipes into an interpreter runs unread.
        let fetches = skip_wrappers(&s.words)
            .first()
            .is_some_and(|p| matches!(base(p), "curl" | "wget" | "fetch"));
        if fetches
            && s.piped
            && let Some(next) = cmds.get(i + 1)
            && skip_wrappers(&next.words)
                .first()
                .is_some_and(|p| INTERPRETERS.contains(&base(p)))
        {
            out.findings.push(Finding {
                severity: Severity::Destructive,
                text: "runs what it downloads without anyone reading it (… | sh)".into(),
            });
        }
    }
    Ok(())
}

/// What `line` would do. An error when it is not a line a shell would take.
pub fn analyze(line: &str) -> Result<Analysis, String> {
    let mut out = Analysis::default();
    // A fork bomb: a function that calls itself twice through a pipe in the background.
    let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(open) = squeezed.find("(){") {
        let name = &squeezed[..open];
        let name = name.rsplit([';', '&', '|']).next().unwrap_or(name);
        if !name.is_empty() && squeezed[open..].contains(&format!("{name}|{name}&")) {
            out.findings.push(Finding {
                severity: Severity::Destructive,
                text: "a fork bomb: it starts processes until the machine stops answering".into(),
            });
            return Ok(out);
        }
    }
    analyze_into(line, 0, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destructive(line: &str) -> bool {
        analyze(line)
            .expect(line)
            .findings
            .iter()
            .any(|f| f.severity == Severity::Destructive)
    }

    #[test]
    fn each_destructive_pattern_is_found() {
        for line in [
            "rm -rf /tmp/x",
            "rm -r /",
            "rm --recursive --force /var/lib/app",
            "dd if=/dev/zero of=/dev/sda bs=1M",
            "dd if=x of=/etc/passwd",
            "mkfs.ext4 /dev/sdb1",
            "mkfs -t xfs /dev/vdb",
            "wipefs -a /dev/nvme0n1",
            "fdisk /dev/sda",
            "parted /dev/sda rm 1",
            "chmod -R 777 /",
            "chown -R nobody /etc",
            "echo x > /dev/sda",
            "cat img 2>/dev/null >/dev/mmcblk0",
            ":(){ :|:& };:",
            "bomb(){ bomb|bomb& }; bomb",
            "curl -fsSL https://example.com/install.sh | sh",
            "wget -qO- http://x | sudo bash",
            "shutdown -h now",
            "systemctl reboot",
        ] {
            assert!(destructive(line), "{line}");
        }
    }

    #[test]
    fn quoting_tricks_and_chains_do_not_hide_it() {
        for line in [
            "r''m -rf /",
            "\"rm\" -rf /",
            "\\rm -rf /",
            "'r'\"m\" -r -f /",
            "true; rm -rf /",
            "true && rm -rf /",
            "false || rm -rf /",
            "ls | rm -rf /",
            "(rm -rf /)",
            "sh -c 'rm -rf /'",
            "bash -c \"echo hi; rm -rf /\"",
            "sudo rm -rf /",
            "sudo -u root env X=1 nice -n 5 rm -rf /",
            "FOO=bar rm -rf /",
            "echo $(rm -rf /)",
            "echo \"$(rm -rf /)\"",
            "echo `rm -rf /`",
            "timeout 5 rm -rf /",
            "x=1\nrm -rf /",
        ] {
            assert!(destructive(line), "{line}");
        }
    }

    #[test]
    fn ordinary_commands_are_not_flagged() {
        for line in [
            "systemctl status nginx",
            "ls -la /etc",
            "rm /tmp/x.log",
            "echo 'rm -rf /'",
            "grep -r mkfs /var/log",
            "dd if=/dev/sda of=/tmp/mbr bs=512 count=1 status=none # reads a disk into a file",
            "cat /dev/sda > /dev/null",
            "chmod 644 /etc/hosts",
            "curl -o x.tar.gz https://example.com/x",
            "journalctl -u ssh | tail",
        ] {
            let a = analyze(line).expect(line);
            let bad: Vec<_> = a
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Destructive)
                .collect();
            // dd of=/tmp/mbr overwrites a file: said, and it is only a file.
            if line.starts_with("dd ") {
                assert!(
                    bad.iter().all(|f| f.text.contains("/tmp/mbr")),
                    "{line}: {bad:?}"
                );
            } else {
                assert!(bad.is_empty(), "{line}: {bad:?}");
            }
        }
    }

    #[test]
    fn programs_are_listed_through_wrappers_and_substitutions() {
        let a = analyze("sudo apt update && apt-get -s upgrade | tee /tmp/u.log; echo $(date)")
            .expect("ok");
        // A substitution's programs are found while the line is read, before the commands
        // around it are judged.
        assert_eq!(a.programs, ["date", "apt", "apt-get", "tee", "echo"]);
        let a = analyze("$(which rm) -rf /tmp/x").expect("ok");
        assert!(
            a.findings
                .iter()
                .any(|f| f.text.contains("substitution decides")),
            "{a:?}"
        );
        assert!(analyze("echo 'unclosed").is_err());
        assert!(analyze("echo $(date").is_err());
    }

    /// Random ways of writing `rm -rf /` with quotes and escapes: each is seen.
    #[test]
    fn any_quoting_of_the_word_is_seen() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..2000 {
            let mut w = String::new();
            for ch in "rm".chars() {
                match next(4) {
                    0 => w.push(ch),
                    1 => w.push_str(&format!("'{ch}'")),
                    2 => w.push_str(&format!("\"{ch}\"")),
                    _ => w.push_str(&format!("\\{ch}")),
                }
                if next(3) == 0 {
                    w.push_str("''");
                }
            }
            let line = match next(4) {
                0 => format!("{w} -rf /"),
                1 => format!("true; {w} -rf /"),
                2 => format!("sudo {w} -r -f /"),
                _ => format!("sh -c '{}'", format!("{w} -rf /").replace('\'', "'\\''")),
            };
            assert!(destructive(&line), "{line}");
        }
    }

    /// Every destructive pattern, with its program word quoted at random and put behind a
    /// random chain (`;`, `&&`, `||`, a pipe, `$(…)`, backticks, `sh -c`, `sudo`): still seen.
    #[test]
    fn each_pattern_survives_random_quoting_and_chains() {
        let patterns = [
            "rm -rf /srv",
            "dd if=/dev/zero of=/dev/sda",
            "mkfs.ext4 /dev/sdb1",
            "wipefs -a /dev/sda",
            "fdisk /dev/sda",
            "parted /dev/sda rm 1",
            "chmod -R 777 /",
            "shred /dev/sda",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..3000 {
            let p = patterns[next(patterns.len() as u64) as usize];
            let (word, rest) = p.split_once(' ').expect("a program and arguments");
            let mut w = String::new();
            for ch in word.chars() {
                match next(5) {
                    0 => w.push_str(&format!("'{ch}'")),
                    1 => w.push_str(&format!("\"{ch}\"")),
                    2 if ch.is_alphanumeric() => w.push_str(&format!("\\{ch}")),
                    _ => w.push(ch),
                }
            }
            let cmd = format!("{w} {rest}");
            let line = match next(8) {
                0 => format!("true; {cmd}"),
                1 => format!("test -d /x && {cmd}"),
                2 => format!("false || {cmd}"),
                3 => format!("echo go | {cmd}"),
                4 => format!("echo $({cmd})"),
                5 => format!("echo `{cmd}`"),
                6 => format!("sh -c '{}'", cmd.replace('\'', "'\\''")),
                _ => format!("sudo {cmd}"),
            };
            assert!(destructive(&line), "{line}");
        }
    }
}
