// One page per discovery type (#/discovery/storage, ...): the items of the last scan as a
// table a person can sort and filter, a detail view of the selected item with its data, when
// the type was last scanned, and "Scan now" with the scan's progress from discovery_scan
// events. Text is only ever inserted as text.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, q } from "../../api";
import type { FeedMessage } from "../../feed";
import { hashParam } from "../../route";
import { dataRows, editorPath, filterRows, scanEnded, scanStep, itemLink, pageContext, sortRows, type Item, type ScanEvent, type SortKey } from "../../table";

export const TYPES = ["storage", "service", "network", "container", "gpu", "sharing", "security", "backup"] as const;
export const TYPE_TITLES: Record<string, string> = {
  storage: "Storage", service: "Services", network: "Network", container: "Containers",
  gpu: "GPUs", sharing: "Sharing", security: "Security", backup: "Backup",
};

interface ListView {
  discoveries: Item[];
  last_scan: string | null;
  scan_duration_ms: number;
  error: string | null;
}

/** Rows shown at once: a host with thousands of items (units, sockets) stays quick to filter
 * and sort, and the rest is a click away. */
const PAGE_ROWS = 100;

const COLUMNS: [SortKey, string][] = [
  ["status", "Status"], ["name", "Name"], ["title", "Title"], ["status_detail", "Detail"], ["source", "Source"],
];

export function Discovery({
  type,
  listen,
  setContext,
}: {
  type: string;
  listen: (f: (m: FeedMessage) => void) => void;
  setContext: (page: string, context: string) => void;
}) {
  const [list, setList] = useState<ListView | null>(null);
  const [error, setError] = useState("");
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<[SortKey, boolean]>(["status", true]);
  const [selected, setSelected] = useState<string | null>(hashParam("id"));
  const [scan, setScan] = useState<{ id: string; state: string; items?: number } | null>(null);
  const [offset, setOffset] = useState(0);
  // Events of scans by id, for the answer to "Scan now" arriving after its first events.
  const seen = useRef(new Map<string, { state: string; items?: number }>());
  // The scan this page started ("" while its POST is on the way).
  const scanId = useRef("");

  const load = () =>
    api<ListView>(`/api/discovery/${q(type)}`)
      .then((l) => {
        setList(l);
        setError("");
      })
      .catch((e) => setError(String(e.message ?? e)));

  useEffect(() => {
    setList(null);
    setSelected(hashParam("id"));
    load();
  }, [type]);

  useEffect(() => {
    listen((m) => {
      if (m.type !== "discovery_scan") return;
      const d = m.data as ScanEvent;
      const before = seen.current.get(d.scan_id);
      const next = scanStep(before, d, type);
      if (!next || next === before) return;
      seen.current.set(d.scan_id, next);
      if (d.scan_id !== scanId.current) return;
      if (scanEnded(next.state)) load();
      setScan({ id: d.scan_id, ...next });
    });
  }, [type]);

  const all = useMemo(() => (list ? sortRows(filterRows(list.discoveries, filter), sort[0], sort[1]) : []), [list, filter, sort]);
  const start = Math.min(offset, Math.max(0, all.length - 1 - ((all.length - 1) % PAGE_ROWS)));
  const rows = all.slice(start, start + PAGE_ROWS);
  const item = list?.discoveries.find((i) => i.id === selected) ?? null;

  useEffect(() => {
    if (list) setContext(`discovery/${type}`, pageContext(type, list.discoveries, item));
  }, [list, item, type]);

  const scanNow = () => {
    scanId.current = "";
    setScan({ id: "", state: "starting" });
    api<{ scan_id: string }>("/api/discovery/scan", { types: [type] })
      .then((r) => {
        scanId.current = r.scan_id;
        // Its first events may have come before this answer.
        const early = seen.current.get(r.scan_id);
        if (early && scanEnded(early.state)) load();
        setScan({ id: r.scan_id, ...(early ?? { state: "started" }) });
      })
      .catch((e) => setScan({ id: "", state: `failed: ${e.message}` }));
  };

  return (
    <section class="panel" id="discovery">
      <h2>{TYPE_TITLES[type] ?? type}</h2>
      <div class="row">
        <input id="discovery-filter" placeholder="Filter (every word must match)" value={filter}
          onInput={(e) => { setFilter((e.target as HTMLInputElement).value); setOffset(0); }} aria-label="Filter" />
        <button id="discovery-scan" onClick={scanNow} disabled={!!scan && !scanEnded(scan.state)}>
          Scan now
        </button>
        <span id="discovery-progress" class="muted" role="status">
          {scan ? `scan ${scan.state}${scan.items !== undefined ? ` · ${scan.items} items` : ""}` : ""}
        </span>
      </div>
      <p class="muted" id="discovery-last-scan">
        {list
          ? list.last_scan
            ? `Last scanned ${list.last_scan} (${list.scan_duration_ms} ms) · ${list.discoveries.length} items`
            : "Not scanned yet: press Scan now"
          : "Loading…"}
        {list?.error ? ` · the last scan failed: ${list.error}` : ""}
      </p>
      {error && <p class="notice error" role="alert">{error}</p>}
      <table id="discovery-table">
        <thead>
          <tr>
            {COLUMNS.map(([key, label]) => (
              <th key={key} aria-sort={sort[0] === key ? (sort[1] ? "ascending" : "descending") : "none"}>
                <button class="link" onClick={() => setSort(([k, asc]) => [key, k === key ? !asc : true])}>
                  {label} {sort[0] === key ? (sort[1] ? "▲" : "▼") : ""}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((i) => (
            <tr key={i.id} class={i.id === selected ? "selected" : ""} tabIndex={0}
              onClick={() => setSelected(i.id)} onKeyDown={(e) => e.key === "Enter" && setSelected(i.id)}>
              <td><span class={`dot ${i.status}`} aria-hidden="true" /> {i.status}</td>
              <td>{i.name}</td>
              <td>{i.title}</td>
              <td>{i.status_detail}</td>
              <td class="muted">{i.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list && rows.length === 0 && <p class="muted">{filter ? "Nothing matches the filter." : "No items."}</p>}
      {all.length > PAGE_ROWS && (
        <div class="row" id="discovery-pages">
          <button disabled={start === 0} onClick={() => setOffset(Math.max(0, start - PAGE_ROWS))}>Previous</button>
          <span class="muted">
            {start + 1}–{Math.min(start + PAGE_ROWS, all.length)} of {all.length}
          </span>
          <button disabled={start + PAGE_ROWS >= all.length} onClick={() => setOffset(start + PAGE_ROWS)}>Next</button>
        </div>
      )}
      {item && (
        <div id="discovery-detail" class="detail">
          <h3>{item.title || item.name}</h3>
          <p>
            <span class={`dot ${item.status}`} aria-hidden="true" /> {item.status} · {item.status_detail}
          </p>
          {item.description && <p>{item.description}</p>}
          <p class="muted">
            {item.source} · scanned {item.last_scanned ?? "never"} · mention as <code>@{item.id}</code>
            {item.type === "service" && (
              <>
                {" · "}
                <a href={itemLink(item)}>open on the services page</a>
              </>
            )}
          </p>
          <table class="data">
            <tbody>
              {dataRows(item.data).map(([k, v]) => (
                <tr key={k}>
                  <th>{k}</th>
                  <td>
                    {editorPath(v) ? (
                      <a href={`#/editor?path=${encodeURIComponent(v)}`} title="Open in the config editor">{v}</a>
                    ) : (
                      v
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
