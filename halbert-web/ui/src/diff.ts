// A line diff for the editor's review step: Myers' O((N+M)·D) shortest edit script, after the
// common head and tail are taken off. Pure; tested by diff.test.ts.

export interface DiffLine {
  kind: " " | "-" | "+";
  text: string;
}

/** Edits beyond this are not diffed line by line: the page says how much changed instead. */
export const MAX_EDITS = 2000;

/** The lines of `a` and `b` as kept (" "), removed ("-") and added ("+"), in order; `null` when
 * more than MAX_EDITS lines differ. */
export function diffLines(a: string[], b: string[]): DiffLine[] | null {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let ea = a.length;
  let eb = b.length;
  while (ea > head && eb > head && a[ea - 1] === b[eb - 1]) {
    ea--;
    eb--;
  }
  const mid = shortest(a.slice(head, ea), b.slice(head, eb));
  if (mid === null) return null;
  const same = (text: string): DiffLine => ({ kind: " ", text });
  return [...a.slice(0, head).map(same), ...mid, ...a.slice(ea).map(same)];
}

/** Splits text into lines the way an editor shows them (a final newline ends the last line). */
export function lines(text: string): string[] {
  if (text === "") return [];
  const l = text.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}

function shortest(a: string[], b: string[]): DiffLine[] | null {
  const n = a.length;
  const m = b.length;
  if (n === 0) return b.map((text) => ({ kind: "+", text }));
  if (m === 0) return a.map((text) => ({ kind: "-", text }));
  const max = Math.min(n + m, MAX_EDITS);
  const off = max + 1;
  // v[off + k]: the furthest x on diagonal k; trace[d] keeps v[k] for k in -d-1..d+1 as it was
  // when round d began, which is all that walking back through round d reads.
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return walkBack(trace, a, b);
    }
  }
  return null;
}

function walkBack(trace: Int32Array[], a: string[], b: string[]): DiffLine[] {
  const out: DiffLine[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const t = trace[d];
    const at = (k: number) => t[k + d + 1];
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      out.push({ kind: " ", text: a[x - 1] });
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) out.push({ kind: "+", text: b[y - 1] });
      else out.push({ kind: "-", text: a[x - 1] });
    }
    x = prevX;
    y = prevY;
  }
  return out.reverse();
}
