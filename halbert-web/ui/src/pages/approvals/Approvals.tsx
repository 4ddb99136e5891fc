// Approvals: what a model proposed (chat's suggestions, config chat's edits) and what a policy
// holds for a person. Each request shows its dry run — the diff for a file, the validator's
// verdict, the warnings and the units a restart takes with it — with Approve and Reject. The
// list follows /ws (approval_request, approval_decision); approving runs the held action
// through halbertd, whose answer (polkit's refusal too) is shown as it came.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../../api";
import type { FeedMessage } from "../../feed";
import { hashParam } from "../../route";

interface Change {
  type: string;
  path?: string;
  diff?: string;
  unit?: string;
}

interface Validation {
  validator: string;
  status: string;
  exit_code: number | null;
  output: string;
}

interface Simulation {
  success: boolean;
  action: string;
  changes: Change[];
  warnings: string[];
  validation?: Validation;
  estimated_duration_s: number | null;
  error?: string;
}

interface Execution {
  ok: boolean;
  detail: string;
  health?: string;
}

export interface ApprovalRequest {
  id: string;
  task: string;
  reasoning: string;
  confidence: number;
  risk_level: string;
  requested_at: string;
  expires_at: string;
  status: string;
  requested_by: string;
  simulation_result: Simulation | null;
  result?: Execution | null;
}

interface Decision {
  request_id: string;
  status: string;
  reason: string;
  decided_by: string;
  decided_at: string;
  action: string;
}

function DiffView({ diff }: { diff: string }) {
  return (
    <pre class="diff approval-diff">
      {diff.split("\n").map((l, i) => (
        <span key={i} class={l.startsWith("+") && !l.startsWith("+++") ? "add" : l.startsWith("-") && !l.startsWith("---") ? "del" : ""}>
          {l}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

function describe(e: unknown): string {
  if (e instanceof ApiError && e.body.action) return `${e.message} (polkit action ${e.body.action})`;
  return (e as Error).message;
}

function Request({ r, onDone }: { r: ApprovalRequest; onDone: (text: string, ok: boolean) => void }) {
  const [busy, setBusy] = useState(false);
  const s = r.simulation_result;
  const decide = async (verb: "approve" | "reject") => {
    setBusy(true);
    try {
      const out = await api<{ request: ApprovalRequest; health?: { verdict: string } }>(
        `/api/approvals/${r.id}/${verb}`,
        verb === "reject" ? { reason: "Rejected in the dashboard" } : {},
      );
      const res = out.request.result;
      onDone(verb === "reject" ? `Rejected: ${r.task}` : `Approved: ${r.task} — ${res?.detail ?? "done"}`, true);
    } catch (e) {
      onDone(`${r.task}: ${describe(e)}`, false);
    } finally {
      setBusy(false);
    }
  };
  return (
    <article class={`card approval${hashParam("id") === r.id ? " selected" : ""}`} data-id={r.id} id={`approval-${r.id}`}>
      <h3>{r.task}</h3>
      <p class="muted">
        {r.requested_by === "model" ? "proposed by the model" : `held for ${r.requested_by}`} · confidence{" "}
        {r.confidence.toFixed(2)} · risk {r.risk_level} · expires {r.expires_at}
      </p>
      {r.reasoning && <p class="reasoning">“{r.reasoning}”</p>}
      {s && (
        <>
          {s.changes
            .filter((c) => c.diff)
            .map((c) => (
              <DiffView key={c.path} diff={c.diff as string} />
            ))}
          {s.changes
            .filter((c) => c.unit)
            .map((c) => (
              <p key={c.type + c.unit}>
                {c.type === "service_stop" ? "stops" : "starts"} <code>{c.unit}</code>
              </p>
            ))}
          {s.validation && (
            <p class={`validation ${s.validation.status}`}>
              validator {s.validation.validator || "none"}: {s.validation.status}
              {s.validation.output && <pre class="out">{s.validation.output}</pre>}
            </p>
          )}
          {s.warnings.length > 0 && (
            <ul class="warnings">
              {s.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          )}
          {s.estimated_duration_s !== null && <p class="muted">about {s.estimated_duration_s.toFixed(1)} s</p>}
        </>
      )}
      <div class="buttons">
        <button class="approve" disabled={busy} onClick={() => decide("approve")}>
          Approve
        </button>
        <button class="reject" disabled={busy} onClick={() => decide("reject")}>
          Reject
        </button>
      </div>
    </article>
  );
}

export function Approvals({ listen }: { listen: (f: (m: FeedMessage) => void) => void }) {
  const [pending, setPending] = useState<ApprovalRequest[]>([]);
  const [history, setHistory] = useState<Decision[]>([]);
  const [results, setResults] = useState<{ text: string; ok: boolean }[]>([]);
  const [error, setError] = useState("");

  const load = async () => {
    try {
      setPending((await api<{ approvals: ApprovalRequest[] }>("/api/approvals/pending")).approvals);
      setHistory((await api<{ history: Decision[] }>("/api/approvals/history?limit=20")).history);
      setError("");
    } catch (e) {
      setError(describe(e));
    }
  };

  useEffect(() => {
    load();
    listen((m) => {
      if (m.type === "approval_request" || m.type === "approval_decision") load();
    });
  }, []);

  return (
    <section id="approvals">
      <h2>Approvals</h2>
      <p class="muted">
        What a model proposes never runs before a person approves it; halbertd still asks polkit when it runs.
      </p>
      {error && <p class="error">{error}</p>}
      <div id="approval-results">
        {results.map((r, i) => (
          <p key={i} class={r.ok ? "result ok" : "result error"}>
            {r.text}
          </p>
        ))}
      </div>
      {pending.length === 0 && <p id="no-approvals">Nothing is waiting for a decision.</p>}
      {pending.map((r) => (
        <Request
          key={r.id}
          r={r}
          onDone={(text, ok) => {
            setResults((all) => [{ text, ok }, ...all].slice(0, 10));
            load();
          }}
        />
      ))}
      <h3>Decided</h3>
      <table id="approval-history">
        <thead>
          <tr>
            <th>decided</th>
            <th>action</th>
            <th>outcome</th>
            <th>by</th>
            <th>reason</th>
          </tr>
        </thead>
        <tbody>
          {history.map((d) => (
            <tr key={d.request_id + d.decided_at}>
              <td>{d.decided_at}</td>
              <td>{d.action}</td>
              <td>{d.status}</td>
              <td>{d.decided_by}</td>
              <td>{d.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
