// The REST calls the dashboard makes, and the shapes it reads (the API's /openapi.json is the
// reference; only the fields used here are typed).

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

/** GET when `body` is absent, else POST with a JSON body; errors carry the server's detail. */
export async function api<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit =
    body === undefined
      ? {}
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}`, code: "" }));
  if (!r.ok) throw new ApiError(data.detail || `HTTP ${r.status}`, r.status, data.code || "");
  return data as T;
}

export interface LoadedModels {
  configured_model: string | null;
  configured_loaded?: boolean | null;
  specialist_model?: string | null;
}

export interface Endpoint {
  id: string;
}

export interface SuggestedAction {
  id: string;
  label: string;
  target?: string;
  unit?: string;
}

export interface ChatReply {
  response: string;
  request_id: string;
  suggested_actions: SuggestedAction[];
}

export interface Conversation {
  id: string;
}

export interface HistoryTurn {
  role: string;
  content: string;
}
