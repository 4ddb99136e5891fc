import { describe, expect, it } from "vitest";
import { dataRows, editorPath, filterRows, scanEnded, scanStep, isProblem, itemLink, pageContext, sortRows, type Item } from "./table";

const item = (name: string, status: string, extra: Partial<Item> = {}): Item => ({
  id: `x-${name}`, type: "storage", name, title: name.toUpperCase(), status, status_detail: "", severity: "info",
  description: "", source: "/sys", data: {}, last_scanned: null, ...extra,
});

describe("sorting", () => {
  const rows = [item("b", "healthy"), item("a", "failed"), item("c", "warning")];
  it("puts the worst status first, ties by name", () => {
    expect(sortRows(rows, "status", true).map((i) => i.name)).toEqual(["a", "c", "b"]);
    expect(sortRows(rows, "status", false).map((i) => i.name)).toEqual(["b", "c", "a"]);
  });
  it("sorts by text without case and leaves the input alone", () => {
    expect(sortRows(rows, "name", true).map((i) => i.name)).toEqual(["a", "b", "c"]);
    expect(rows.map((i) => i.name)).toEqual(["b", "a", "c"]);
  });
});

describe("filtering", () => {
  const rows = [item("nvme0n1", "healthy", { data: { model: "Samsung 980" } }), item("sda", "critical", { status_detail: "SMART Failed" })];
  it("matches every word anywhere, data included", () => {
    expect(filterRows(rows, "samsung").map((i) => i.name)).toEqual(["nvme0n1"]);
    expect(filterRows(rows, "smart failed").map((i) => i.name)).toEqual(["sda"]);
    expect(filterRows(rows, "smart samsung")).toEqual([]);
    expect(filterRows(rows, "  ")).toHaveLength(2);
  });
});

describe("problems and links", () => {
  it("failed, critical and warning are problems; healthy is not", () => {
    expect(isProblem(item("a", "failed"))).toBe(true);
    expect(isProblem(item("a", "healthy", { severity: "warning" }))).toBe(true);
    expect(isProblem(item("a", "healthy"))).toBe(false);
  });
  it("a unit links to its service page, anything else to its type's page", () => {
    expect(itemLink(item("nginx.service", "failed", { type: "service" }))).toBe("#/services?unit=nginx.service");
    expect(itemLink(item("fs /home", "warning", { id: "fs-/home" }))).toBe("#/discovery/storage?id=fs-%2Fhome");
  });
  it("data rows keep strings and show the rest as JSON", () => {
    expect(dataRows({ a: "x", b: 2, c: { d: [1] } })).toEqual([["a", "x"], ["b", "2"], ["c", '{"d":[1]}']]);
  });
  it("the page context names the page, the problems and the selection", () => {
    const rows = [item("sda", "critical", { status_detail: "SMART Failed" }), item("nvme0n1", "healthy")];
    expect(pageContext("storage", rows, rows[0])).toBe(
      "Viewing the storage page: 2 items, 1 with problems; problems: sda (SMART Failed); selected: critical storage sda — SMART Failed");
  });
});

describe("config files named by items", () => {
  it("open in the editor when they are under /etc", () => {
    expect(editorPath("/etc/ssh/sshd_config")).toBe("/etc/ssh/sshd_config");
    expect(editorPath("/usr/local/etc/app.conf")).toBe("/usr/local/etc/app.conf");
    expect(editorPath("/var/log/syslog")).toBeNull();
    expect(editorPath("/etc/")).toBeNull();
    expect(editorPath("see /etc/hosts")).toBeNull();
  });
});

describe("a scan's progress on a type's page", () => {
  const ev = (type: string | undefined, state: string, items = 0, error: string | null = null) => ({ scan_id: "s1", type, state, items, error });
  it("follows its own type and the scan's end, and ignores other types", () => {
    let s = scanStep(undefined, ev("storage", "started"), "storage");
    expect(s).toEqual({ state: "started", items: 0 });
    s = scanStep(s, ev("network", "done", 9), "storage");
    expect(s).toEqual({ state: "started", items: 0 });
    s = scanStep(s, ev("storage", "done", 11), "storage");
    expect(s).toEqual({ state: "done", items: 11 });
    s = scanStep(s, ev(undefined, "complete"), "storage");
    expect(s).toEqual({ state: "complete", items: 11 });
    expect(scanEnded(s!.state)).toBe(true);
    expect(scanEnded("started")).toBe(false);
  });
  it("says why a scan failed", () => {
    expect(scanStep(undefined, ev("storage", "failed", 0, "smartctl timed out"), "storage")).toEqual({ state: "failed: smartctl timed out", items: 0 });
  });
});
