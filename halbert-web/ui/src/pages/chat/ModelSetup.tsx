// Shown while no guide model is assigned: register a local Ollama or OpenAI-compatible server,
// then pick one of the models it offers (GET /api/settings/endpoints/{id}/models; nothing is
// typed) and the role it takes.
import { useState } from "preact/hooks";
import { api, type Endpoint } from "../../api";

export function ModelSetup({ onDone }: { onDone: () => void }) {
  const [url, setUrl] = useState("http://127.0.0.1:11434");
  const [provider, setProvider] = useState("ollama");
  const [endpoint, setEndpoint] = useState<string | null>(null);
  const [models, setModels] = useState<string[]>([]);
  const [model, setModel] = useState("");
  const [role, setRole] = useState("guide");
  const [error, setError] = useState("");

  const connect = async (ev: Event) => {
    ev.preventDefault();
    setError("");
    try {
      const ep = await api<Endpoint>("/api/settings/endpoints", { name: "Local models", url: url.trim(), provider });
      const list = await api<{ models: string[] }>(`/api/settings/endpoints/${encodeURIComponent(ep.id)}/models`);
      if (list.models.length === 0) throw new Error(`${url} offers no models: pull one first (ollama pull llama3.1:8b)`);
      setEndpoint(ep.id);
      setModels(list.models);
      setModel(list.models[0]);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const assign = async (ev: Event) => {
    ev.preventDefault();
    setError("");
    try {
      await api(`/api/settings/assign/${role}`, { endpoint_id: endpoint, model });
      if (role === "guide") onDone();
      else setError(`${model} is the ${role} model now; chat still needs a guide model.`);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return endpoint === null ? (
    <form id="setup" onSubmit={connect}>
      <p class="muted">No guide model is configured. Point Halbert at a local Ollama or an OpenAI-compatible server:</p>
      <label>
        URL <input id="setup-url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} size={32} required />
      </label>
      <label>
        Kind{" "}
        <select id="setup-provider" value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
          <option value="ollama">Ollama</option>
          <option value="openai">OpenAI-compatible</option>
        </select>
      </label>
      <button id="setup-connect">List its models</button>
      <span id="setup-error" class="alert">
        {error}
      </span>
    </form>
  ) : (
    <form id="setup" onSubmit={assign}>
      <p class="muted">{url} offers {models.length} models. Pick one and the role it takes:</p>
      <label>
        Model{" "}
        <select id="setup-model" value={model} onChange={(e) => setModel(e.currentTarget.value)}>
          {models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <label>
        Role{" "}
        <select id="setup-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          <option value="guide">guide (answers every question)</option>
          <option value="specialist">specialist (the harder ones)</option>
          <option value="vision">vision (images)</option>
        </select>
      </label>
      <button id="setup-assign">Use this model</button>
      <button type="button" class="link" onClick={() => setEndpoint(null)}>
        another server
      </button>
      <span id="setup-error" class="alert">
        {error}
      </span>
    </form>
  );
}
