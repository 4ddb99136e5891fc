//! Glob matching for the policy's conditions: `*` and `?` stay within one `/`-separated
//! segment, `**` spans any number of segments, everything else is literal. A table over
//! (pattern position, text position), so a hostile pattern costs O(len × len), never
//! exponential (patterns are at most 512 characters, texts a path).

/// Whether `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

fn matches(p: &[char], t: &[char]) -> bool {
    let (n, m) = (p.len(), t.len());
    // next[j]: p[i+1..] matches t[j..]; after[j]: p[i+2..] matches t[j..]; row: p[i..].
    let mut after = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    next[m] = true;
    for i in (0..n).rev() {
        let double = p[i] == '*' && p.get(i + 1) == Some(&'*');
        let mut row = vec![false; m + 1];
        for j in (0..=m).rev() {
            row[j] = match p[i] {
                '*' if double => after[j] || (j < m && row[j + 1]),
                '*' => next[j] || (j < m && t[j] != '/' && row[j + 1]),
                '?' => j < m && t[j] != '/' && next[j + 1],
                c => j < m && t[j] == c && next[j + 1],
            };
        }
        after = std::mem::replace(&mut next, row);
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_within_and_across_segments() {
        for (p, t, m) in [
            ("/etc/*", "/etc/hosts", true),
            ("/etc/*", "/etc/ssh/sshd_config", false),
            ("/etc/**", "/etc/ssh/sshd_config", true),
            ("/etc/**/*.conf", "/etc/nginx/sites/a.conf", true),
            ("/etc/**/*.conf", "/etc/nginx/sites/a.txt", false),
            ("/etc/sudoers.d/*", "/etc/sudoers.d/90-x", true),
            ("/etc/sudoers.d/*", "/etc/sudoers", false),
            ("hb-*", "hb-web.service", true),
            ("hb-*", "sshd.service", false),
            ("web-??", "web-01", true),
            ("web-??", "web-1", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob_match(p, t), m, "{p} ~ {t}");
        }
    }

    /// A pattern that makes a backtracking matcher exponential: the table answers it (its
    /// cost is the table's size, not a timing this test would have to assert).
    #[test]
    fn a_hostile_pattern_is_answered() {
        let p = "*a".repeat(200) + "b";
        let t = "a".repeat(400);
        assert!(!glob_match(&p, &t));
        assert!(glob_match(&("*a".repeat(200) + "*"), &t));
    }

    /// Against a straightforward recursive reference on random short inputs.
    #[test]
    fn agrees_with_a_reference() {
        fn reference(p: &[char], t: &[char]) -> bool {
            match p.first() {
                None => t.is_empty(),
                Some('*') if p.get(1) == Some(&'*') => {
                    (0..=t.len()).any(|i| reference(&p[2..], &t[i..]))
                }
                Some('*') => (0..=t.len())
                    .take_while(|&i| i == 0 || t[i - 1] != '/')
                    .any(|i| reference(&p[1..], &t[i..])),
                Some('?') => !t.is_empty() && t[0] != '/' && reference(&p[1..], &t[1..]),
                Some(c) => t.first() == Some(c) && reference(&p[1..], &t[1..]),
            }
        }
        let mut seed = 42u64;
        let mut pick = |s: &[char]| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s[(seed >> 33) as usize % s.len()]
        };
        for _ in 0..20_000 {
            let n = (pick(&['0', '1', '2', '3', '4', '5']) as u8 - b'0') as usize;
            let p: Vec<char> = (0..n).map(|_| pick(&['a', '/', '*', '?', 'b'])).collect();
            let m = (pick(&['0', '1', '2', '3', '4', '5', '6']) as u8 - b'0') as usize;
            let t: Vec<char> = (0..m).map(|_| pick(&['a', '/', 'b'])).collect();
            assert_eq!(
                matches(&p, &t),
                reference(&p, &t),
                "{} ~ {}",
                p.iter().collect::<String>(),
                t.iter().collect::<String>()
            );
        }
    }
}
