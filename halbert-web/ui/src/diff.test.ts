import { describe, expect, it } from "vitest";
import { diffLines, lines, MAX_EDITS, type DiffLine } from "./diff";

const show = (d: DiffLine[] | null) => d?.map((l) => l.kind + l.text);
const side = (d: DiffLine[], keep: string) => d.filter((l) => l.kind === " " || l.kind === keep).map((l) => l.text);

describe("diffLines", () => {
  it("marks one changed line among kept ones", () => {
    expect(show(diffLines(["a", "b", "c"], ["a", "B", "c"]))).toEqual([" a", "-b", "+B", " c"]);
  });

  it("adds and removes at the ends and in the middle", () => {
    expect(show(diffLines([], ["x"]))).toEqual(["+x"]);
    expect(show(diffLines(["x"], []))).toEqual(["-x"]);
    expect(show(diffLines(["a", "b", "c", "d"], ["b", "c", "e", "d", "f"]))).toEqual([
      "-a", " b", " c", "+e", " d", "+f",
    ]);
  });

  it("gives back both texts and the fewest edits, for random texts", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 300; i++) {
      const a = Array.from({ length: Math.floor(rnd() * 12) }, () => "abc"[Math.floor(rnd() * 3)]);
      const b = Array.from({ length: Math.floor(rnd() * 12) }, () => "abc"[Math.floor(rnd() * 3)]);
      const d = diffLines(a, b)!;
      expect(side(d, "-")).toEqual(a);
      expect(side(d, "+")).toEqual(b);
      // The edit count of a shortest script: n + m - 2·LCS.
      const lcs = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
      for (let x = 1; x <= a.length; x++)
        for (let y = 1; y <= b.length; y++)
          lcs[x][y] = a[x - 1] === b[y - 1] ? lcs[x - 1][y - 1] + 1 : Math.max(lcs[x - 1][y], lcs[x][y - 1]);
      expect(d.filter((l) => l.kind !== " ").length).toBe(a.length + b.length - 2 * lcs[a.length][b.length]);
    }
  });

  it("refuses to diff more edits than it shows", () => {
    const a = Array.from({ length: MAX_EDITS }, (_, i) => `a${i}`);
    const b = Array.from({ length: MAX_EDITS }, (_, i) => `b${i}`);
    expect(diffLines(a, b)).toBeNull();
    expect(diffLines(a, [...a.slice(0, 10), "x", ...a.slice(10)])?.filter((l) => l.kind === "+")).toHaveLength(1);
  });
});

describe("lines", () => {
  it("splits as an editor shows text", () => {
    expect(lines("")).toEqual([]);
    expect(lines("a\nb\n")).toEqual(["a", "b"]);
    expect(lines("a\nb")).toEqual(["a", "b"]);
    expect(lines("\n")).toEqual([""]);
  });
});
