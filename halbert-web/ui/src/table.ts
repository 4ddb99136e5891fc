// Pure pieces of the discovery pages and the overview: sorting, filtering, and which items are
// problems; tested by table.test.ts.

export interface Item {
  id: string;
  type: string;
  name: string;
  title: string;
  status: string;
  status_detail: string;
  severity: string;
  description: string;
  source: string;
  data: Record<string, unknown>;
  last_scanned: string | null;
}

export type SortKey = "status" | "name" | "title" | "status_detail" | "source";

// Worst first when sorted by status, so that problems lead.
const STATUS_RANK: Record<string, number> = { failed: 0, critical: 1, warning: 2, stopped: 3, unknown: 4, healthy: 5 };

function cell(i: Item, key: SortKey): string | number {
  return key === "status" ? (STATUS_RANK[i.status] ?? 4) : (i[key] ?? "").toLowerCase();
}

/** The rows sorted by `key` (ties by name), without changing `rows`. */
export function sortRows(rows: Item[], key: SortKey, ascending: boolean): Item[] {
  const dir = ascending ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = cell(a, key);
    const y = cell(b, key);
    if (x < y) return -dir;
    if (x > y) return dir;
    return a.name.localeCompare(b.name);
  });
}

/** Rows whose name, title, status, detail, source or data contain every word of `filter`
 * (case-insensitive). */
export function filterRows(rows: Item[], filter: string): Item[] {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return rows;
  return rows.filter((i) => {
    const text = haystack(i);
    return words.every((w) => text.includes(w));
  });
}

// An item's searchable text, made once per item (a filter typed letter by letter over a
// thousand items would otherwise serialize every item's data at every key).
const texts = new WeakMap<Item, string>();
function haystack(i: Item): string {
  let t = texts.get(i);
  if (t === undefined) {
    t = [i.name, i.title, i.status, i.status_detail, i.source, JSON.stringify(i.data)].join(" ").toLowerCase();
    texts.set(i, t);
  }
  return t;
}

/** Whether an item needs a person's look: failed units, critical and warning discoveries. */
export function isProblem(i: Item): boolean {
  return ["failed", "critical", "warning"].includes(i.status) || ["critical", "warning"].includes(i.severity);
}

/** Where an item is shown: a unit on the services page, anything else on its type's page. */
export function itemLink(i: Item): string {
  if (i.type === "service") return `#/services?unit=${encodeURIComponent(i.name)}`;
  return `#/discovery/${i.type}?id=${encodeURIComponent(i.id)}`;
}

/** An item's data as rows of a two-column table: nested values as compact JSON. */
export function dataRows(data: Record<string, unknown>): [string, string][] {
  return Object.entries(data).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

/** The page context chat gets from a discovery page: what is shown and what is selected. */
export function pageContext(type: string, rows: Item[], selected: Item | null): string {
  const bad = rows.filter(isProblem);
  const parts = [`Viewing the ${type} page: ${rows.length} items, ${bad.length} with problems`];
  if (bad.length) parts.push("problems: " + bad.slice(0, 5).map((i) => `${i.name} (${i.status_detail || i.status})`).join(", "));
  if (selected) parts.push(`selected: ${selected.status} ${selected.type} ${selected.name} — ${selected.status_detail}`);
  return parts.join("; ");
}

/** A config file an item names (a value such as `/etc/ssh/sshd_config`), to open in the editor;
 * `null` for anything else. */
export function editorPath(value: string): string | null {
  return /^\/(etc|usr\/local\/etc)\/[^\s"'<>]+$/.test(value) && !value.endsWith("/") ? value : null;
}

/** A discovery_scan event's data. */
export interface ScanEvent {
  scan_id: string;
  type?: string;
  state: string;
  items: number;
  error: string | null;
}

/** What a page of `type` shows of a scan after `e`: its state (with the error when it
 * failed) and this type's item count; events of other types leave it as it was. */
export function scanStep(prev: { state: string; items?: number } | undefined, e: ScanEvent, type: string): { state: string; items?: number } | undefined {
  if (e.type && e.type !== type) return prev;
  return { state: e.error ? `${e.state}: ${e.error}` : e.state, items: e.type ? e.items : prev?.items };
}

/** Whether a scan state is final (the table is to be read again). */
export const scanEnded = (state: string): boolean => /^(done|complete|failed)/.test(state);
