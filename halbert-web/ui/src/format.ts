// Pure formatting of what the dashboard shows; tested by format.test.ts.

export const gb = (v: number): string => v.toFixed(1);

export function uptime(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `up ${h} h ${m} min`;
}

export function cpuLine(percent: number, cores: number, temperature: number | null): string {
  return `${percent.toFixed(1)} % of ${cores} cores` + (temperature != null ? ` · ${temperature.toFixed(0)} °C` : "");
}

export function usage(used: number, total: number, percent: number): string {
  return `${gb(used)} / ${gb(total)} GB (${percent} %)`;
}

/** `@mentions` in a question: `@storage`, `@service-nginx`, `@fs-/var`. */
export function mentions(message: string): string[] {
  return message.match(/@[\w\-/]+/g) ?? [];
}

/** A request id for one question, in the form the API takes (letters, digits, `-`, `_`). */
export function requestId(now: number, random: number): string {
  return `ui-${now.toString(36)}-${random.toString(36).slice(2, 10)}`;
}

/** What a `decision` event says, as one line of the answer's steps; `null` for other events. */
export function stepLine(d: any): string | null {
  switch (d.action) {
    case "route":
      return `${d.model} (${d.model_type}): ${d.reasoning}`;
    case "tool_call":
      return `${d.ok ? "✓" : "✗"} ${d.tool} ${JSON.stringify(d.arguments)} · ${d.duration_ms} ms${d.ok ? "" : ` · ${d.reasoning}`}`;
    case "tool_fallback":
      return d.reasoning;
    default:
      return null;
  }
}

/**
 * The line for a `/ws` event of a chat request that is not a `decision`: a tool call being
 * written (which takes many seconds on a CPU model), or how the request failed; `null` for
 * the rest.
 */
export function eventLine(m: { type: string; data: any }): string | null {
  switch (m.type) {
    case "tool_call_started":
      return `… the model is writing a call of ${m.data.tool}`;
    case "chat_error":
      return m.data.code === "cancelled" ? "stopped" : `✗ ${m.data.detail}`;
    default:
      return null;
  }
}

/** The note under an answer cut off at the model's token limit. */
export const TRUNCATED = "The answer was cut off at the model's token limit (finish_reason: length).";

/** A suggested action as a chip's text: it was not run. */
export function suggestion(a: { label: string; unit?: string; target?: string; status?: string; refused?: string }): string {
  const what = `${a.label}${a.unit ? ` ${a.unit}` : a.target ? ` ${a.target}` : ""}`;
  if (a.status === "pending") return `suggested: ${what} (waiting for your approval under Approvals)`;
  if (a.status === "refused") return `suggested: ${what} (refused: ${a.refused ?? "by the guardrails"})`;
  return `suggested: ${what} (not run)`;
}

/** The `@word` being typed at `caret` in `text` (from its `@` to the caret), or null. */
export function mentionAt(text: string, caret: number): { start: number; word: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|\s)@([\w\-/.]*)$/.exec(before);
  return m ? { start: caret - m[2].length - 1, word: m[2] } : null;
}

/** Mentions starting with (then containing) `word`, at most `n`, types before items. */
export function completeMention<T extends { mention: string; title: string }>(all: T[], word: string, n = 8): T[] {
  const w = word.toLowerCase();
  const starts = all.filter((m) => m.mention.slice(1).toLowerCase().startsWith(w));
  const contains = all.filter((m) => !starts.includes(m) && (m.mention.toLowerCase().includes(w) || m.title.toLowerCase().includes(w)));
  return [...starts, ...contains].slice(0, n);
}

/** `text` with the `@word` at `start` replaced by `mention` and a space. */
export function insertMention(text: string, start: number, caret: number, mention: string): { text: string; caret: number } {
  const out = text.slice(0, start) + mention + " " + text.slice(caret);
  return { text: out, caret: start + mention.length + 1 };
}
