// The REST calls the dashboard makes, and the shapes it reads (the API's /openapi.json is the
// reference; only the fields used here are typed).

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    /** The error body as sent: `action`, `current_version`, `limit` where they apply. */
    readonly body: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** GET when `body` is absent, else POST (or `method`) with a JSON body; errors carry the
 * server's detail. */
export async function api<T>(path: string, body?: unknown, method = "POST", signal?: AbortSignal): Promise<T> {
  const init: RequestInit =
    body === undefined
      ? { method: method === "POST" ? "GET" : method, signal }
      : { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}`, code: "" }));
  if (!r.ok) throw new ApiError(explain(r.status, data), r.status, data.code || "", data);
  return data as T;
}

/** The server's detail, with what a person can do about the refusals they can act on. */
export function explain(status: number, body: { detail?: string; code?: string; action?: string }): string {
  const detail = body.detail || `HTTP ${status}`;
  if (status === 403 && body.code === "permission_denied" && body.action)
    return `${detail} (polkit refused ${body.action}; members of group halbert-admin are allowed: an administrator runs usermod -aG halbert-admin NAME)`;
  return detail;
}

/** A query string value, encoded. */
export const q = encodeURIComponent;

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
  /** For a model's suggestion: `pending` (held as `approval_id`), `refused`, `done`. */
  status?: string;
  approval_id?: string;
  refused?: string;
}

export interface ChatReply {
  response: string;
  request_id: string;
  suggested_actions: SuggestedAction[];
  /** `truncated`: the answer stopped at the model's token limit. */
  debug: { model_used: string; truncated: boolean };
}

export interface Conversation {
  id: string;
  name?: string;
  messages?: { id: string; role: string; content: string; timestamp: string }[];
}

export interface ConversationSummary {
  id: string;
  name: string;
  updated_at: string;
  message_count: number;
  preview: string;
}

export interface HistoryTurn {
  role: string;
  content: string;
}

export interface FileView {
  content: string;
  path: string;
  size: number;
  modified: string | null;
  language: string;
  needs_sudo: boolean;
  version: string;
  mode: string;
  owner: string;
  group: string;
}

export interface WriteResult {
  success: boolean;
  message: string;
  backup_id: string | null;
  version: string;
}

export interface Backup {
  backup_id: string;
  timestamp: string | null;
  label: string;
  size: number;
}

export interface ServiceView {
  service_name: string;
  description: string;
  load_state: string;
  active_state: string;
  sub_state: string;
  enabled: string;
  result: string;
  main_pid: number;
  memory_bytes: number | null;
  since: string | null;
  restarts: number;
  unit_file_path: string;
}

export interface ServiceActionResult {
  service_name: string;
  action: string;
  success: boolean;
  message: string;
  job_result: string;
  active_state: string;
  sub_state: string;
}

export interface LogEntry {
  ts: string;
  priority: number;
  pid: number;
  message: string;
}

export interface ExecuteResult {
  output: string;
  error: string;
  exit_code: number;
  truncated: boolean;
  duration_ms: number;
}

export interface HistoryItem {
  command: string;
  exit_code: number;
  duration_ms: number;
  as_root: boolean;
  timestamp: string | null;
}

export interface DiscoveryItem {
  id: string;
  name: string;
  status: string;
  status_detail: string;
}
