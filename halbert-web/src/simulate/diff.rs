//! Unified diffs of two texts, line by line: Myers' shortest edit script (the algorithm of
//! GNU diff and git) after the common head and tail are set aside, with three lines of
//! context. An edit larger than [`MAX_EDIT`] lines is shown as the whole middle removed and
//! added, which is still a correct diff, so a huge rewrite costs linear time and memory.

/// Edits beyond this are not minimised (the trace grows with its square).
const MAX_EDIT: usize = 2000;
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// Splits keeping each line's end, so that a missing final newline is a difference.
fn lines(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

/// How many lines `a` and `b` share at their start, and then at their end (not overlapping).
pub fn common_ends(a: &[&str], b: &[&str]) -> (usize, usize) {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (head, tail)
}

/// The edit script turning `a` into `b`.
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (head, tail) = common_ends(a, b);
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops = vec![Op::Keep; head];
    ops.extend(middle(ma, mb));
    ops.extend(std::iter::repeat_n(Op::Keep, tail));
    ops
}

fn middle(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    let whole = || {
        let mut v = vec![Op::Del; n];
        v.extend(std::iter::repeat_n(Op::Add, m));
        v
    };
    if n == 0 || m == 0 {
        return whole();
    }
    let max = (n + m).min(MAX_EDIT);
    let off = max as isize;
    // v[k + off]: the furthest x on diagonal k; one copy per d for the way back.
    let mut v = vec![0isize; 2 * max + 2];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = None;
    'outer: for d in 0..=max as isize {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let i = (k + off) as usize;
            let mut x = if k == -d || (k != d && v[i - 1] < v[i + 1]) {
                v[i + 1]
            } else {
                v[i - 1] + 1
            };
            let mut y = x - k;
            while (x as usize) < n && (y as usize) < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[i] = x;
            if x as usize >= n && y as usize >= m {
                found = Some(d);
                break 'outer;
            }
            k += 2;
        }
    }
    let Some(dmax) = found else {
        return whole();
    };
    // Walk back from (n, m): trace[d] holds the furthest points before round d.
    let mut ops = Vec::with_capacity(n + m);
    let (mut x, mut y) = (n as isize, m as isize);
    for d in (0..=dmax).rev() {
        let v = &trace[d as usize];
        let k = x - y;
        let i = (k + off) as usize;
        let pk = if k == -d || (k != d && v[i - 1] < v[i + 1]) {
            k + 1
        } else {
            k - 1
        };
        let px = v[(pk + off) as usize];
        let py = px - pk;
        while x > px && y > py {
            ops.push(Op::Keep);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == px { Op::Add } else { Op::Del });
            (x, y) = (px, py);
        }
    }
    ops.reverse();
    ops
}

/// `--- from` / `+++ to` and the hunks turning `old` into `new`; empty when they are equal.
pub fn unified(old: &str, new: &str, from: &str, to: &str) -> String {
    let (a, b) = (lines(old), lines(new));
    let ops = script(&a, &b);
    if ops.iter().all(|o| *o == Op::Keep) {
        return String::new();
    }
    // Positions in a and b before each op.
    let mut pos = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0usize, 0usize);
    for o in &ops {
        pos.push((i, j));
        match o {
            Op::Keep => {
                i += 1;
                j += 1;
            }
            Op::Del => i += 1,
            Op::Add => j += 1,
        }
    }
    pos.push((i, j));
    let changed: Vec<usize> = (0..ops.len()).filter(|&t| ops[t] != Op::Keep).collect();
    let mut out = format!("--- {from}\n+++ {to}\n");
    let mut t = 0;
    while t < changed.len() {
        let start = changed[t].saturating_sub(CONTEXT);
        let mut end = changed[t];
        while t < changed.len() && changed[t] <= end + 2 * CONTEXT + 1 {
            end = changed[t];
            t += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let (a0, b0) = pos[start];
        let (a1, b1) = pos[end];
        let range = |s: usize, len: usize| match len {
            0 => format!("{s},0"),
            1 => format!("{}", s + 1),
            _ => format!("{},{len}", s + 1),
        };
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a0, a1 - a0),
            range(b0, b1 - b0)
        ));
        for u in start..end {
            let (x, y) = pos[u];
            let (sign, line) = match ops[u] {
                Op::Keep => (' ', a[x]),
                Op::Del => ('-', a[x]),
                Op::Add => ('+', b[y]),
            };
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a diff's hunks to `old`; a diff that does not rebuild `new` is wrong.
    fn apply(old: &str, diff: &str) -> String {
        let a = lines(old);
        let mut out = String::new();
        let mut at = 0usize;
        let mut it = diff.lines().skip(2).peekable();
        while let Some(h) = it.next() {
            let from: usize = h[4..]
                .split([',', ' '])
                .next()
                .and_then(|s| s.parse().ok())
                .expect("hunk header");
            let from = if h.contains(&format!("-{from},0 ")) {
                from
            } else {
                from - 1
            };
            while at < from {
                out.push_str(a[at]);
                at += 1;
            }
            while let Some(l) = it.peek() {
                if l.starts_with("@@") {
                    break;
                }
                let l = it.next().expect("line");
                let no_newline = it.peek() == Some(&"\\ No newline at end of file");
                if no_newline {
                    it.next();
                }
                let text = |s: &str| {
                    if no_newline {
                        s.to_owned()
                    } else {
                        format!("{s}\n")
                    }
                };
                match l.chars().next() {
                    Some(' ') => {
                        out.push_str(&text(&l[1..]));
                        at += 1;
                    }
                    Some('-') => at += 1,
                    Some('+') => out.push_str(&text(&l[1..])),
                    _ => panic!("bad line {l:?}"),
                }
            }
        }
        while at < a.len() {
            out.push_str(a[at]);
            at += 1;
        }
        out
    }

    #[test]
    fn a_small_change_is_one_hunk_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let d = unified(old, new, "a/x", "b/x");
        assert_eq!(
            d,
            "--- a/x\n+++ b/x\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
        assert_eq!(unified(old, old, "a", "b"), "");
    }

    #[test]
    fn a_new_file_is_all_added_and_a_missing_newline_is_said() {
        let d = unified("", "x\ny", "/dev/null", "b/f");
        assert_eq!(
            d,
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn diffs_rebuild_the_new_text() {
        // A fixed pseudo-random sequence of edits over small alphabets, so that lines repeat.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut gen_text = |n: u64| {
                let len = next() % n;
                let mut s: String = (0..len).map(|_| format!("l{}\n", next() % 5)).collect();
                if next() % 4 == 0 {
                    s.push_str("end");
                }
                s
            };
            let (old, new) = (gen_text(30), gen_text(30));
            let d = unified(&old, &new, "a", "b");
            assert_eq!(apply(&old, &d), new, "old {old:?} new {new:?}\n{d}");
            // The edit is minimal: no more changed lines than a full replacement.
            let changed = d
                .lines()
                .skip(2)
                .filter(|l| l.starts_with(['+', '-']))
                .count();
            assert!(changed <= lines(&old).len() + lines(&new).len());
        }
    }
}
