// Settings (#/settings): model endpoints (added, tested, removed; keys never shown), the roles'
// models picked from each server's list, routing, AI rules, the guardrails' thresholds, the
// user's policy beside the system-wide one (read-only), memory (collections, entries,
// delete, clear, query), memory's embedder, and the index of this machine's manual pages. Every error is shown where it happened, in the server's words.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, q } from "../../api";

interface EndpointView { id: string; name: string; url: string; provider: string; api_key: string | null; timeout_s: number }
interface Loaded { configured_model: string | null; endpoint: string | null; specialist_model: string | null; specialist_endpoint: string | null; vision_model: string | null; vision_endpoint: string | null }
interface Rule { id: string; text: string; priority: string; category: string; enabled: boolean }

function Section({ id, title, children }: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section class="panel" id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** Runs `f`, showing what went wrong in `setMsg`; returns whether it worked. */
async function attempt(setMsg: (m: { ok: boolean; text: string }) => void, f: () => Promise<unknown>, done?: string) {
  try {
    await f();
    if (done) setMsg({ ok: true, text: done });
    return true;
  } catch (e) {
    setMsg({ ok: false, text: (e as Error).message });
    return false;
  }
}

function Note({ msg }: { msg: { ok: boolean; text: string } | null }) {
  return msg ? <p class={`notice ${msg.ok ? "ok" : "error"}`} role="status">{msg.text}</p> : null;
}

function Endpoints({ endpoints, reload }: { endpoints: EndpointView[]; reload: () => void }) {
  const [form, setForm] = useState({ name: "", url: "http://127.0.0.1:11434", provider: "ollama", api_key: "" });
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const add = (e: Event) => {
    e.preventDefault();
    const body = { name: form.name.trim(), url: form.url.trim(), provider: form.provider, ...(form.api_key ? { api_key: form.api_key } : {}) };
    attempt(setMsg, () => api("/api/settings/endpoints", body), `Saved ${body.name}.`).then((ok) => {
      if (ok) setForm({ ...form, name: "", api_key: "" });
      reload();
    });
  };
  const test = (ep: EndpointView) =>
    api<{ success: boolean; message: string }>(`/api/settings/endpoints/${q(ep.id)}/test`, {})
      .then((r) => setMsg({ ok: r.success, text: `${ep.name}: ${r.message}` }))
      .catch((e) => setMsg({ ok: false, text: `${ep.name}: ${e.message}` }));
  const remove = (ep: EndpointView) =>
    confirm(`Remove ${ep.name}? Roles using it are cleared.`) &&
    attempt(setMsg, () => api(`/api/settings/endpoints/${q(ep.id)}`, undefined, "DELETE"), `Removed ${ep.name}.`).then(reload);
  return (
    <Section id="settings-endpoints" title="Model servers">
      <table>
        <thead><tr><th>Name</th><th>URL</th><th>Kind</th><th>Key</th><th /></tr></thead>
        <tbody>
          {endpoints.map((ep) => (
            <tr key={ep.id}>
              <td>{ep.name}</td><td>{ep.url}</td><td>{ep.provider}</td><td>{ep.api_key ? "stored" : "none"}</td>
              <td>
                <button class="endpoint-test" onClick={() => test(ep)}>Test</button>{" "}
                <button class="endpoint-remove" onClick={() => remove(ep)}>Remove</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="row" id="endpoint-add" onSubmit={add}>
        <input id="endpoint-name" placeholder="Name" value={form.name} required maxLength={100} aria-label="Name"
          onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} />
        <input id="endpoint-url" placeholder="URL" value={form.url} required aria-label="URL"
          onInput={(e) => setForm({ ...form, url: (e.target as HTMLInputElement).value })} />
        <select id="endpoint-provider" value={form.provider} aria-label="Kind"
          onChange={(e) => setForm({ ...form, provider: (e.target as HTMLSelectElement).value })}>
          <option value="ollama">Ollama</option>
          <option value="openai">OpenAI-compatible</option>
        </select>
        <input id="endpoint-key" type="password" autocomplete="off" placeholder="API key (optional)" value={form.api_key} aria-label="API key"
          onInput={(e) => setForm({ ...form, api_key: (e.target as HTMLInputElement).value })} />
        <button>Add</button>
      </form>
      <Note msg={msg} />
    </Section>
  );
}

const ROLES = [
  ["guide", "answers every question"],
  ["specialist", "the harder ones, under routing"],
  ["vision", "questions with images"],
] as const;

function Roles({ endpoints }: { endpoints: EndpointView[] }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [pick, setPick] = useState<Record<string, { endpoint: string; models: string[]; model: string }>>({});
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () => api<Loaded>("/api/models/loaded").then(setLoaded).catch((e) => setMsg({ ok: false, text: e.message }));
  useEffect(() => {
    reload();
  }, [endpoints]);
  const current = (role: string) =>
    !loaded ? "…" : role === "guide" ? loaded.configured_model : role === "specialist" ? loaded.specialist_model : loaded.vision_model;
  const choose = (role: string, endpoint: string) => {
    setPick((p) => ({ ...p, [role]: { endpoint, models: [], model: "" } }));
    if (!endpoint) return;
    api<{ models: string[] }>(`/api/settings/endpoints/${q(endpoint)}/models`)
      .then((r) => setPick((p) => ({ ...p, [role]: { endpoint, models: r.models, model: r.models[0] ?? "" } })))
      .catch((e) => setMsg({ ok: false, text: e.message }));
  };
  const assign = (role: string) => {
    const p = pick[role];
    attempt(setMsg, () => api(`/api/settings/assign/${role}`, { endpoint_id: p.endpoint, model: p.model }), `${p.model} is the ${role} model.`).then(reload);
  };
  const clear = (role: string) => attempt(setMsg, () => api(`/api/settings/${role}/clear`, {}), `The ${role} role is cleared.`).then(reload);
  return (
    <Section id="settings-roles" title="Roles">
      <table>
        <tbody>
          {ROLES.map(([role, what]) => (
            <tr key={role} id={`role-${role}`}>
              <th>{role}<div class="muted">{what}</div></th>
              <td class="role-current">{current(role) ?? "none"}</td>
              <td>
                <select aria-label={`Server for ${role}`} value={pick[role]?.endpoint ?? ""} onChange={(e) => choose(role, (e.target as HTMLSelectElement).value)}>
                  <option value="">server…</option>
                  {endpoints.map((ep) => <option key={ep.id} value={ep.id}>{ep.name}</option>)}
                </select>{" "}
                {pick[role]?.models.length ? (
                  <>
                    <select aria-label={`Model for ${role}`} class="role-model" value={pick[role].model}
                      onChange={(e) => setPick((p) => ({ ...p, [role]: { ...p[role], model: (e.target as HTMLSelectElement).value } }))}>
                      {pick[role].models.map((m) => <option key={m} value={m}>{m}</option>)}
                    </select>{" "}
                    <button class="role-assign" onClick={() => assign(role)}>Assign</button>
                  </>
                ) : null}{" "}
                {current(role) && <button class="link" onClick={() => clear(role)}>clear</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Note msg={msg} />
    </Section>
  );
}

function Routing() {
  const [r, setR] = useState<{ complexity_threshold: number; strategy: string } | null>(null);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    api<{ complexity_threshold: number; strategy: string }>("/api/settings/routing").then(setR).catch((e) => setMsg({ ok: false, text: e.message }));
  }, []);
  if (!r) return <Section id="settings-routing" title="Routing"><Note msg={msg} /></Section>;
  return (
    <Section id="settings-routing" title="Routing">
      <form class="row" onSubmit={(e) => { e.preventDefault(); attempt(setMsg, () => api("/api/settings/routing", r, "PUT"), "Routing saved."); }}>
        <label>Strategy{" "}
          <select id="routing-strategy" value={r.strategy} onChange={(e) => setR({ ...r, strategy: (e.target as HTMLSelectElement).value })}>
            <option value="auto">auto: the specialist for complex questions</option>
            <option value="guide-only">guide only</option>
            <option value="specialist-preferred">specialist preferred</option>
          </select>
        </label>
        <label>Complexity threshold{" "}
          <input id="routing-threshold" type="number" min={0} max={1} step={0.05} value={r.complexity_threshold}
            onInput={(e) => setR({ ...r, complexity_threshold: Number((e.target as HTMLInputElement).value) })} />
        </label>
        <button>Save</button>
      </form>
      <Note msg={msg} />
    </Section>
  );
}

function Rules() {
  const [rules, setRules] = useState<Rule[]>([]);
  const [text, setText] = useState("");
  const [priority, setPriority] = useState("medium");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () => api<{ rules: Rule[] }>("/api/settings/ai-rules").then((r) => setRules(r.rules)).catch((e) => setMsg({ ok: false, text: e.message }));
  useEffect(() => {
    reload();
  }, []);
  return (
    <Section id="settings-rules" title="AI rules">
      <p class="muted">Told to the assistant with every question, high priority first.</p>
      <ul>
        {rules.map((r) => (
          <li key={r.id}>
            <label>
              <input type="checkbox" checked={r.enabled} aria-label={`Use: ${r.text}`}
                onChange={() => attempt(setMsg, () => api(`/api/settings/ai-rules/${q(r.id)}`, { enabled: !r.enabled }, "PUT")).then(reload)} />{" "}
              {r.text}
            </label>{" "}
            <span class="muted">{r.priority}</span>{" "}
            <button class="link" onClick={() => attempt(setMsg, () => api(`/api/settings/ai-rules/${q(r.id)}`, undefined, "DELETE")).then(reload)}>delete</button>
          </li>
        ))}
      </ul>
      <form class="row" onSubmit={(e) => { e.preventDefault(); attempt(setMsg, () => api("/api/settings/ai-rules", { text: text.trim(), priority })).then((ok) => { if (ok) setText(""); reload(); }); }}>
        <input id="rule-text" placeholder="e.g. Always say which command you would run" value={text} required maxLength={2000} aria-label="New rule"
          onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <select value={priority} aria-label="Priority" onChange={(e) => setPriority((e.target as HTMLSelectElement).value)}>
          <option value="high">high</option><option value="medium">medium</option><option value="low">low</option>
        </select>
        <button>Add</button>
      </form>
      <Note msg={msg} />
    </Section>
  );
}

function Guardrails() {
  const [g, setG] = useState<{ config: { confidence_threshold: number; approval_threshold: number; cpu_budget: number } } | null>(null);
  useEffect(() => {
    api<typeof g>("/api/settings/guardrails/status").then(setG).catch(() => setG(null));
  }, []);
  return (
    <Section id="settings-guardrails" title="Guardrails">
      {g ? (
        <p>
          A model's proposal runs alone only at confidence {g.config.confidence_threshold} or more (and only where your
          policy opts the tool in); below {g.config.approval_threshold} it is refused; the assistant keeps to {g.config.cpu_budget} % CPU.
          <span class="muted"> Set in <code>~/.config/halbert/guardrails.yml</code>, read when halbert-web starts.</span>
        </p>
      ) : <p class="muted">Loading…</p>}
    </Section>
  );
}

function PolicyView() {
  const [p, setP] = useState<{ status: string; policy: unknown; path: string; error?: string; system: { path: string; policy: unknown; error?: string } } | null>(null);
  const [text, setText] = useState("");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () =>
    api<NonNullable<typeof p>>("/api/settings/policy").then((v) => { setP(v); setText(JSON.stringify(v.policy, null, 2)); }).catch((e) => setMsg({ ok: false, text: e.message }));
  useEffect(() => {
    reload();
  }, []);
  const save = (e: Event) => {
    e.preventDefault();
    let policy: unknown;
    try {
      policy = JSON.parse(text);
    } catch (err) {
      setMsg({ ok: false, text: `Not JSON: ${(err as Error).message}` });
      return;
    }
    attempt(setMsg, () => api("/api/settings/policy", { policy }), "Your policy is saved.").then(reload);
  };
  return (
    <Section id="settings-policy" title="Policy">
      <div class="cols">
        <form onSubmit={save}>
          <h3>Yours <span class="muted">{p?.path}</span></h3>
          {p?.error && <p class="notice error">{p.error}</p>}
          <textarea id="policy-text" rows={14} value={text} aria-label="Your policy (JSON)" onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          <button>Save</button>
        </form>
        <div>
          <h3>System-wide <span class="muted">{p?.system.path} (read-only: root's file; halbertd judges every change by it)</span></h3>
          {p?.system.error && <p class="notice error">{p.system.error}</p>}
          <pre id="policy-system">{p ? JSON.stringify(p.system.policy, null, 2) : ""}</pre>
        </div>
      </div>
      <Note msg={msg} />
    </Section>
  );
}

function Memory() {
  const [collections, setCollections] = useState<{ name: string; count: number }[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [entries, setEntries] = useState<{ id: string; content: string }[]>([]);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<{ id: string; content: string; distance: number }[] | null>(null);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () => api<{ collections: { name: string; count: number }[] }>("/api/chat/memory/collections").then((r) => setCollections(r.collections)).catch((e) => setMsg({ ok: false, text: e.message }));
  const show = (c: string) => {
    setOpen(c);
    api<{ entries: { id: string; content: string }[] }>(`/api/chat/memory/entries/${q(c)}?limit=50`).then((r) => setEntries(r.entries)).catch((e) => setMsg({ ok: false, text: e.message }));
  };
  useEffect(() => {
    reload();
  }, []);
  return (
    <Section id="settings-memory" title="Memory">
      <ul>
        {collections.map((c) => (
          <li key={c.name}>
            <button class="link" onClick={() => show(c.name)}>{c.name}</button> <span class="muted">{c.count} entries</span>{" "}
            {c.count > 0 && (
              <button class="link" onClick={() => confirm(`Delete all ${c.count} entries of ${c.name}?`) &&
                attempt(setMsg, () => api(`/api/chat/memory/clear/${q(c.name)}`, {}), `${c.name} is empty.`).then(() => { reload(); if (open === c.name) show(c.name); })}>clear</button>
            )}
          </li>
        ))}
      </ul>
      {open && (
        <>
          <h3>{open}</h3>
          <ul id="memory-entries">
            {entries.map((e) => (
              <li key={e.id}>
                {e.content.slice(0, 200)}{" "}
                <button class="link" onClick={() => attempt(setMsg, () => api(`/api/chat/memory/entry/${q(open)}/${q(e.id)}`, undefined, "DELETE")).then(() => { show(open); reload(); })}>delete</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <form class="row" onSubmit={(e) => { e.preventDefault(); api<{ results: { id: string; content: string; distance: number }[] }>("/api/chat/memory/query", { query: query.trim(), k: 5 }).then((r) => setHits(r.results)).catch((err) => setMsg({ ok: false, text: err.message })); }}>
        <input id="memory-query" placeholder="Search memory" value={query} required maxLength={1000} aria-label="Search memory"
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <button>Search</button>
      </form>
      {hits && (hits.length ? <ol id="memory-hits">{hits.map((h) => <li key={h.id}>{h.content.slice(0, 200)} <span class="muted">{h.distance.toFixed(3)}</span></li>)}</ol> : <p class="muted">Nothing found.</p>)}
      <Note msg={msg} />
    </Section>
  );
}

interface EmbeddingView { kind: string; endpoint_id: string | null; model: string | null; embedding: string; embedding_dim: number; embedding_note: string; embedding_pending: number; local_model: string | null }

/** The embedder memory uses: automatic, the local model, hashed words, or a server's embedding model. */
function Embedding({ endpoints }: { endpoints: EndpointView[] }) {
  const [view, setView] = useState<EmbeddingView | null>(null);
  const [kind, setKind] = useState("auto");
  const [endpoint, setEndpoint] = useState("");
  const [model, setModel] = useState("");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () =>
    api<EmbeddingView>("/api/settings/embedding")
      .then((v) => { setView(v); setKind(v.kind); setEndpoint(v.endpoint_id ?? ""); setModel(v.model ?? ""); })
      .catch((e) => setMsg({ ok: false, text: e.message }));
  useEffect(() => {
    reload();
  }, [endpoints]);
  // While entries are embedded again in the background, the count left is read every 2 s.
  useEffect(() => {
    if (!view?.embedding_pending) return;
    const t = setTimeout(() => api<EmbeddingView>("/api/settings/embedding").then(setView).catch(() => {}), 2000);
    return () => clearTimeout(t);
  }, [view]);
  const save = (e: Event) => {
    e.preventDefault();
    const body = kind === "endpoint" ? { kind, endpoint_id: endpoint, model: model.trim() } : { kind };
    attempt(setMsg, () => api<EmbeddingView>("/api/settings/embedding", body).then(setView), "Saved: memory's entries are embedded again in the background.");
  };
  return (
    <Section id="settings-embedding" title="Embedding">
      {view && (
        <p id="embedding-current">
          <strong>{view.embedding}</strong> <span class="muted">({view.embedding_dim} numbers per text{view.embedding_pending ? `, ${view.embedding_pending} entries still to embed` : ""})</span>
          <br /><span class="muted">{view.embedding_note}</span>
        </p>
      )}
      <form class="row" onSubmit={save}>
        <select id="embedding-kind" aria-label="Embedder" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
          <option value="auto">Automatic (local model when installed)</option>
          <option value="local" disabled={!view?.local_model}>Local model (all-MiniLM-L6-v2){view?.local_model ? "" : ": not installed"}</option>
          <option value="hashed">Hashed words (shared words only)</option>
          <option value="endpoint">A model server's embedding model</option>
        </select>
        {kind === "endpoint" && (
          <>
            <select id="embedding-endpoint" aria-label="Server" value={endpoint} required onChange={(e) => setEndpoint((e.target as HTMLSelectElement).value)}>
              <option value="">server…</option>
              {endpoints.map((ep) => <option key={ep.id} value={ep.id}>{ep.name}</option>)}
            </select>
            <input id="embedding-model" placeholder="Model, e.g. nomic-embed-text" value={model} required maxLength={200} aria-label="Embedding model"
              onInput={(e) => setModel((e.target as HTMLInputElement).value)} />
          </>
        )}
        <button>Save</button>
      </form>
      <p class="muted">With a server's model, memory's texts are sent to that server to be embedded.</p>
      <Note msg={msg} />
    </Section>
  );
}

interface KnowledgeView { running: boolean; done: number; total: number; changed: number; pages: number; entries: number; built: boolean; last_run: string | null; last_error: string | null; man_root: string }

/** This machine's manual pages in memory: what is indexed, and Index now with progress. */
function Manuals() {
  const [view, setView] = useState<KnowledgeView | null>(null);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const reload = () => api<KnowledgeView>("/api/settings/knowledge/status").then(setView).catch((e) => setMsg({ ok: false, text: e.message }));
  useEffect(() => {
    reload();
  }, []);
  // While a job runs, its progress is read every second.
  useEffect(() => {
    if (!view?.running) return;
    const t = setTimeout(reload, 1000);
    return () => clearTimeout(t);
  }, [view]);
  const start = () => api<KnowledgeView>("/api/settings/knowledge/refresh", {}).then(setView).catch((e) => setMsg({ ok: false, text: e.message }));
  return (
    <Section id="settings-manuals" title="Manual pages">
      {view && (
        <p id="manuals-status">
          {view.running
            ? `Indexing: ${view.done} of ${view.total} pages looked at, ${view.changed} read.`
            : view.built
              ? `${view.pages} pages of sections 1, 5 and 8 in ${view.man_root}, ${view.entries} excerpts; last indexed ${view.last_run ?? "never"}. Kept current after package changes.`
              : `Not indexed yet: chat can quote this machine's manual pages (${view.man_root}) once they are.`}
          {view.last_error && <span class="error"> {view.last_error}</span>}
        </p>
      )}
      <button id="manuals-index" disabled={view?.running} onClick={start}>Index now</button>
      <Note msg={msg} />
    </Section>
  );
}

export function Settings() {
  const [endpoints, setEndpoints] = useState<EndpointView[]>([]);
  const reload = () => api<{ endpoints: EndpointView[] }>("/api/settings/endpoints").then((r) => setEndpoints(r.endpoints)).catch(() => {});
  useEffect(() => {
    reload();
  }, []);
  return (
    <>
      <Endpoints endpoints={endpoints} reload={reload} />
      <Roles endpoints={endpoints} />
      <Routing />
      <Rules />
      <Guardrails />
      <PolicyView />
      <Memory />
      <Embedding endpoints={endpoints} />
      <Manuals />
    </>
  );
}
