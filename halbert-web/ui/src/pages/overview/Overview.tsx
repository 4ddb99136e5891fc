// The overview (#/): the live status cards; CPU, memory, swap, load, disk and temperatures as
// charts over the last hour or day (GET /api/status/history, refreshed as status arrives); the
// problems (failed units, warning and critical discoveries) with links to their pages; safe
// mode with enter (a reason asked) and exit.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, q } from "../../api";
import type { SystemStatus } from "../../feed";
import { isProblem, itemLink, type Item } from "../../table";
import { Filesystems, Temperatures } from "./Filesystems";
import { StatusCards } from "./StatusCards";
import { TYPES, TYPE_TITLES } from "../discovery/Discovery";
import { Chart } from "./Chart";

interface History {
  step: number;
  timestamps: number[];
  cpu_percent: number[];
  memory_percent: number[];
  swap_percent: number[];
  load_one: number[];
  disk_percent: (number | null)[];
  temperatures: { sensor: string; celsius: (number | null)[] }[];
}

const RANGES = { hour: { span: 3600, step: 10, label: "last hour" }, day: { span: 86400, step: 300, label: "last 24 h" } };

function isoAgo(seconds: number): string {
  return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

export function Overview({ status, setContext }: { status: SystemStatus | null; setContext: (page: string, context: string) => void }) {
  const [range, setRange] = useState<keyof typeof RANGES>("hour");
  const [history, setHistory] = useState<History | null>(null);
  const [problems, setProblems] = useState<Item[] | null>(null);
  const [error, setError] = useState("");

  const loadHistory = () => {
    const r = RANGES[range];
    api<History>(`/api/status/history?since=${q(isoAgo(r.span))}&step=${r.step}`)
      .then(setHistory)
      .catch((e) => setError(`history: ${e.message}`));
  };
  // Again at most every 10 s as status arrives (every 5 s by default).
  const lastLoad = useRef(0);
  useEffect(() => {
    loadHistory();
    lastLoad.current = Date.now();
  }, [range]);
  useEffect(() => {
    if (status && Date.now() - lastLoad.current > 10_000) {
      lastLoad.current = Date.now();
      loadHistory();
    }
  }, [status]);

  useEffect(() => {
    Promise.all(TYPES.map((t) => api<{ discoveries: Item[] }>(`/api/discovery/${t}`).then((l) => l.discoveries).catch(() => [] as Item[])))
      .then((all) => setProblems(all.flat().filter(isProblem)))
      .catch((e) => setError(`problems: ${e.message}`));
  }, []);

  // What chat is told when a question starts from here.
  useEffect(() => {
    if (problems === null) return;
    const names = problems.slice(0, 5).map((p) => `${p.name} (${p.status_detail || p.status})`).join(", ");
    setContext("overview", `Viewing the overview: ${problems.length} problems${names ? `: ${names}` : ""}`);
  }, [problems]);

  const x = history?.timestamps ?? [];
  return (
    <>
      <StatusCards status={status} />
      <SafeMode active={!!status?.safe_mode_active} />
      <section class="panel" id="problems">
        <h2>Problems</h2>
        {problems === null ? (
          <p class="muted">Loading…</p>
        ) : problems.length === 0 ? (
          <p class="muted">No failed units, no warnings: everything scanned is healthy.</p>
        ) : (
          <ul>
            {problems.map((p) => (
              <li key={p.id}>
                <span class={`dot ${p.status}`} aria-hidden="true" /> <a href={itemLink(p)}>{p.title || p.name}</a>{" "}
                <span class="muted">
                  {TYPE_TITLES[p.type] ?? p.type} · {p.status_detail || p.status}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="panel" id="charts">
        <div class="row">
          <h2>History</h2>
          {Object.entries(RANGES).map(([k, r]) => (
            <button key={k} class={range === k ? "current" : ""} aria-pressed={range === k}
              onClick={() => setRange(k as keyof typeof RANGES)}>
              {r.label}
            </button>
          ))}
          <span class="muted">{history ? `one point per ${history.step} s` : ""}</span>
        </div>
        {error && <p class="notice error">{error}</p>}
        <div class="charts">
          <Chart id="chart-cpu" title="CPU" unit="%" max={100} x={x} lines={[{ label: "CPU", values: history?.cpu_percent ?? [] }]} />
          <Chart id="chart-memory" title="Memory and swap" unit="%" max={100} x={x} lines={[
            { label: "memory", values: history?.memory_percent ?? [] },
            { label: "swap", values: history?.swap_percent ?? [] },
          ]} />
          <Chart id="chart-load" title="Load (1 min)" unit="" x={x} lines={[{ label: "load", values: history?.load_one ?? [] }]} />
          <Chart id="chart-disk" title="Disk /" unit="%" max={100} x={x} lines={[{ label: "/", values: history?.disk_percent ?? [] }]} />
          {history && history.temperatures.length > 0 && (
            <Chart id="chart-temperatures" title="Temperatures" unit="°" x={x}
              lines={history.temperatures.map((t) => ({ label: t.sensor, values: t.celsius }))} />
          )}
        </div>
      </section>
      <Filesystems filesystems={status?.filesystems ?? []} />
      <Temperatures temperatures={status?.temperatures ?? []} />
    </>
  );
}

/** Safe mode: why it is on, and the way in (with a reason) and out. */
function SafeMode({ active }: { active: boolean }) {
  const [reason, setReason] = useState("");
  const [current, setCurrent] = useState<{ reason?: string; since?: string } | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const refresh = () =>
    api<{ safe_mode_active: boolean; reason?: string; since?: string }>("/api/settings/guardrails/status")
      .then((s) => setCurrent(s.safe_mode_active ? { reason: s.reason, since: s.since } : null))
      .catch(() => setCurrent(null));
  useEffect(() => {
    refresh();
  }, [active]);
  const act = (path: string, body?: unknown) =>
    api(path, body ?? {}, "POST")
      .then(() => {
        setResult({ ok: true, text: path.endsWith("enter") ? "Safe mode is on: halbertd refuses every change." : "Safe mode is off." });
        setReason("");
        refresh();
      })
      .catch((e) => setResult({ ok: false, text: e.status === 403 ? `${e.message} (group halbert-admin grants it)` : e.message }));
  return (
    <section class="panel" id="safe-mode">
      <h2>Safe mode</h2>
      {active ? (
        <div class="row">
          <span class="alert">On{current?.reason ? `: ${current.reason}` : ""}</span>
          {current?.since && <span class="muted">since {current.since}</span>}
          <button id="safe-exit" onClick={() => act("/api/settings/guardrails/safe-mode/exit")}>Exit safe mode</button>
        </div>
      ) : (
        <form class="row" onSubmit={(e) => { e.preventDefault(); act("/api/settings/guardrails/safe-mode/enter", { reason }); }}>
          <input id="safe-reason" placeholder="Why (e.g. disk replacement)" value={reason} required maxLength={500}
            onInput={(e) => setReason((e.target as HTMLInputElement).value)} aria-label="Reason" />
          <button id="safe-enter" disabled={!reason.trim()}>Enter safe mode</button>
        </form>
      )}
      {result && <p id="safe-result" class={`notice ${result.ok ? "ok" : "error"}`} role="status">{result.text}</p>}
    </section>
  );
}
