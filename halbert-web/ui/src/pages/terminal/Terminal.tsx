// The terminal: a command line run as you by halbertd (`sudo ` first runs it as root after
// polkit), its output, and your history. Only what you type here runs; nothing a model wrote
// ever reaches this box by itself.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type ExecuteResult, type HistoryItem } from "../../api";

interface Run {
  id: number;
  command: string;
  result: ExecuteResult | null;
  error: string;
}

function describe(e: unknown): string {
  if (e instanceof ApiError && e.body.action) return `${e.message} (polkit action ${e.body.action})`;
  return (e as Error).message;
}

export function Terminal() {
  const [command, setCommand] = useState("");
  const [runs, setRuns] = useState<Run[]>([]);
  const [history, setHistory] = useState<HistoryItem[]>([]);
  const [busy, setBusy] = useState(false);
  const recall = useRef(-1);
  const next = useRef(0);

  const loadHistory = async () => {
    try {
      setHistory((await api<{ history: HistoryItem[] }>("/api/terminal/history?limit=50")).history);
    } catch {
      setHistory([]);
    }
  };

  useEffect(() => {
    loadHistory();
  }, []);

  const run = async (ev: Event) => {
    ev.preventDefault();
    const c = command.trim();
    if (!c || busy) return;
    const id = next.current++;
    setRuns((r) => [{ id, command: c, result: null, error: "" }, ...r].slice(0, 20));
    setCommand("");
    recall.current = -1;
    setBusy(true);
    try {
      const result = await api<ExecuteResult>("/api/terminal/execute", { command: c });
      setRuns((r) => r.map((x) => (x.id === id ? { ...x, result } : x)));
    } catch (e) {
      setRuns((r) => r.map((x) => (x.id === id ? { ...x, error: describe(e) } : x)));
    } finally {
      setBusy(false);
      loadHistory();
    }
  };

  return (
    <section id="terminal" class="panel">
      <h2>Terminal</h2>
      <p class="muted">
        Runs as you, in your home directory, for at most 30 s. Start with <code>sudo </code> to run as root (polkit
        asks for administrator rights).
      </p>
      <form id="term-form" class="row" onSubmit={run}>
        <span class="prompt">$</span>
        <input
          id="term-command"
          autocomplete="off"
          spellcheck={false}
          placeholder="systemctl status nginx"
          value={command}
          onInput={(e) => setCommand(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Up and down walk through the history, as a shell does.
            if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
            e.preventDefault();
            const i = Math.max(-1, Math.min(history.length - 1, recall.current + (e.key === "ArrowUp" ? 1 : -1)));
            recall.current = i;
            setCommand(i < 0 ? "" : history[i].command);
          }}
        />
        <button id="term-run" disabled={busy || !command.trim()}>
          {busy ? "Running…" : "Run"}
        </button>
      </form>
      <div id="term-runs">
        {runs.map((r) => (
          <div key={r.id} class="run">
            <div class="cmd">$ {r.command}</div>
            {r.error && <div class="notice error">{r.error}</div>}
            {r.result && (
              <>
                {r.result.output && <pre class="out">{r.result.output}</pre>}
                {r.result.error && <pre class="err">{r.result.error}</pre>}
                <div class="muted exit">
                  exit {r.result.exit_code} · {r.result.duration_ms} ms
                  {r.result.truncated ? " · output truncated at 1 MiB per stream" : ""}
                </div>
              </>
            )}
            {!r.result && !r.error && <div class="muted">running…</div>}
          </div>
        ))}
      </div>
      <h3>History</h3>
      <ul id="term-history">
        {history.map((h, i) => (
          <li key={i}>
            <button class="link" onClick={() => setCommand(h.command)}>
              {h.command}
            </button>{" "}
            <span class="muted">
              exit {h.exit_code} · {h.timestamp}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
