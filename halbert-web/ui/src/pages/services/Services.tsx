// Services: the units discovery found, one unit's live state and journal, and start, stop and
// restart. halbertd asks polkit and waits for systemd's job; the answer (a failed job too) is
// shown as systemd gave it.
import { useEffect, useState } from "preact/hooks";
import { hashParam } from "../../route";
import {
  api,
  ApiError,
  q,
  type DiscoveryItem,
  type LogEntry,
  type ServiceActionResult,
  type ServiceView,
} from "../../api";

const PRIORITY = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

function describe(e: unknown): string {
  if (e instanceof ApiError && e.body.action) return `${e.message} (polkit action ${e.body.action})`;
  return (e as Error).message;
}

export function Services({ setContext }: { setContext?: (page: string, context: string) => void }) {
  const [known, setKnown] = useState<DiscoveryItem[]>([]);
  const [filter, setFilter] = useState("");
  const [name, setName] = useState(hashParam("unit") ?? "");
  const [unit, setUnit] = useState<ServiceView | null>(null);
  // What chat is told when a question starts from here: the unit on screen.
  useEffect(() => {
    if (unit && setContext)
      setContext("services", `Viewing unit ${unit.service_name}: ${unit.active_state} (${unit.sub_state}), result ${unit.result}, enabled ${unit.enabled}, ${unit.restarts} restarts`);
  }, [unit]);
  const [logs, setLogs] = useState<LogEntry[] | null>(null);
  const [logError, setLogError] = useState("");
  const [error, setError] = useState("");
  const [result, setResult] = useState<ServiceActionResult | null>(null);
  const [busy, setBusy] = useState(false);

  const show = async (n: string, keepResult = false) => {
    if (!n) return;
    if (!keepResult) setResult(null);
    setError("");
    try {
      const u = await api<ServiceView>(`/api/services/${q(n)}`);
      setUnit(u);
      history.replaceState(null, "", `#/services?unit=${q(u.service_name)}`);
    } catch (e) {
      setUnit(null);
      setError(describe(e));
    }
    try {
      setLogs((await api<{ lines: LogEntry[] }>(`/api/services/${q(n)}/logs?lines=100`)).lines);
      setLogError("");
    } catch (e) {
      setLogs(null);
      setLogError(describe(e));
    }
  };

  useEffect(() => {
    api<{ discoveries: DiscoveryItem[] }>("/api/discovery/service")
      .then((d) => setKnown(d.discoveries))
      .catch(() => setKnown([]));
    if (name) show(name);
  }, []);

  const act = async (verb: "start" | "stop" | "restart") => {
    const n = unit?.service_name ?? name.trim();
    if (!n) return;
    setBusy(true);
    setResult(null);
    try {
      const r = await api<ServiceActionResult>(`/api/services/${q(n)}/${verb}`, {});
      setResult(r);
      await show(n, true);
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };

  const shown = known.filter((k) => k.name.toLowerCase().includes(filter.toLowerCase())).slice(0, 200);

  return (
    <section id="services" class="panel">
      <h2>Services</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          show(name.trim());
        }}
      >
        <input id="unit-name" placeholder="nginx or nginx.service" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button id="unit-show" disabled={!name.trim()}>
          Show
        </button>
      </form>
      {error && (
        <p id="unit-error" class="notice error" role="status">
          {error}
        </p>
      )}
      {unit && (
        <div id="unit" class="card">
          <h3>
            {unit.service_name} <span class="muted">{unit.description}</span>
          </h3>
          <p id="unit-state">
            <span class={`badge ${unit.active_state === "active" ? "ok" : unit.active_state === "failed" ? "bad" : ""}`}>
              {unit.active_state} ({unit.sub_state})
            </span>{" "}
            {unit.enabled && `· ${unit.enabled}`} {unit.main_pid > 0 && `· main PID ${unit.main_pid}`}{" "}
            {unit.memory_bytes != null && `· ${(unit.memory_bytes / 1048576).toFixed(1)} MiB`}{" "}
            {unit.since && `· since ${unit.since}`} {unit.result && unit.result !== "success" && `· last result ${unit.result}`}
          </p>
          <p class="muted">{unit.unit_file_path}</p>
          <div class="row">
            {(["start", "stop", "restart"] as const).map((v) => (
              <button key={v} id={`unit-${v}`} disabled={busy} onClick={() => act(v)}>
                {v[0].toUpperCase() + v.slice(1)}
              </button>
            ))}
            {busy && <span class="muted">waiting for systemd…</span>}
          </div>
        </div>
      )}
      {result && (
        <p id="unit-result" class={`notice ${result.success ? "ok" : "error"}`} role="status">
          {result.message} (job {result.job_result}; now {result.active_state}/{result.sub_state})
        </p>
      )}
      {(logs || logError) && (
        <>
          <h3>
            Journal <button class="link" onClick={() => show(unit?.service_name ?? name)}>refresh</button>
          </h3>
          {logError ? (
            <p class="notice error">{logError}</p>
          ) : (
            <pre id="unit-logs" class="logs">
              {logs!.length === 0 && <span class="muted">no entries</span>}
              {logs!.map((l, i) => (
                <div key={i} class={l.priority <= 3 ? "del" : ""}>
                  {l.ts} {PRIORITY[l.priority] ?? l.priority} [{l.pid}] {l.message}
                </div>
              ))}
            </pre>
          )}
        </>
      )}
      <h3>Units discovery found</h3>
      <input id="unit-filter" placeholder="filter" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      {known.length === 0 ? (
        <p class="muted">None yet: run a scan from the dashboard's chat or POST /api/discovery/scan.</p>
      ) : (
        <table id="unit-list">
          <tbody>
            {shown.map((k) => (
              <tr key={k.id}>
                <td>
                  <button
                    class="link"
                    onClick={() => {
                      setName(k.name);
                      show(k.name);
                    }}
                  >
                    {k.name}
                  </button>
                </td>
                <td>{k.status}</td>
                <td class="muted">{k.status_detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
