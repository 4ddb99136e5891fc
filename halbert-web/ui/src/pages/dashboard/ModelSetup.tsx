// Shown while no guide model is assigned: register a local Ollama or OpenAI-compatible server
// and assign one of its models to the guide role.
import { useState } from "preact/hooks";
import { api, type Endpoint } from "../../api";

export function ModelSetup({ onDone }: { onDone: () => void }) {
  const [url, setUrl] = useState("http://127.0.0.1:11434");
  const [provider, setProvider] = useState("ollama");
  const [model, setModel] = useState("");
  const [error, setError] = useState("");

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setError("");
    try {
      const ep = await api<Endpoint>("/api/settings/endpoints", { name: "Local models", url: url.trim(), provider });
      await api("/api/settings/assign/guide", { endpoint_id: ep.id, model: model.trim() });
      onDone();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <form id="setup" onSubmit={submit}>
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
      <label>
        Model{" "}
        <input
          id="setup-model"
          value={model}
          onInput={(e) => setModel(e.currentTarget.value)}
          placeholder="llama3.1:8b"
          size={18}
          required
        />
      </label>
      <button>Use this model</button>
      <span id="setup-error" class="alert">
        {error}
      </span>
    </form>
  );
}
