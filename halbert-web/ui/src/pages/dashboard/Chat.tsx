// Chat as /docs describes it: make a request_id, POST /api/chat/send, show that request's /ws
// events while it runs (decisions as steps, tokens as text), then take the POST's answer as the
// final text; store the exchange as a conversation.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type ChatReply, type Conversation, type HistoryTurn, type LoadedModels } from "../../api";
import type { FeedMessage } from "../../feed";
import { mentions, requestId, stepLine, suggestion } from "../../format";
import { ModelSetup } from "./ModelSetup";

interface Bubble {
  id: number;
  role: "user" | "assistant";
  text: string;
  steps: string[];
  chips: string[];
  error: boolean;
}

export function Chat({ listen }: { listen: (f: (m: FeedMessage) => void) => void }) {
  const [models, setModels] = useState<LoadedModels | null>(null);
  const [modelError, setModelError] = useState("");
  const [bubbles, setBubbles] = useState<Bubble[]>([]);
  const [question, setQuestion] = useState("");
  const pending = useRef(new Map<string, number>()); // request_id -> bubble id
  const history = useRef<HistoryTurn[]>([]);
  const conversation = useRef<string | null>(null);
  const nextId = useRef(0);
  const list = useRef<HTMLDivElement>(null);

  const update = (id: number, f: (b: Bubble) => Bubble) => setBubbles((bs) => bs.map((b) => (b.id === id ? f(b) : b)));
  const add = (role: Bubble["role"], text: string): number => {
    const id = nextId.current++;
    setBubbles((bs) => [...bs, { id, role, text, steps: [], chips: [], error: false }]);
    return id;
  };

  const showModel = async () => {
    try {
      setModels(await api<LoadedModels>("/api/models/loaded"));
      setModelError("");
    } catch (e) {
      setModelError(`Models unavailable: ${(e as Error).message}`);
    }
  };

  useEffect(() => {
    showModel();
    listen((m) => {
      const id = m.data && pending.current.get(m.data.request_id);
      if (id === undefined) return;
      if (m.type === "decision") {
        const line = stepLine(m.data);
        if (line) update(id, (b) => ({ ...b, steps: [...b.steps, line] }));
      }
      if (m.type === "chat_token" && !m.data.done) update(id, (b) => ({ ...b, text: b.text + m.data.token }));
    });
  }, []);

  useEffect(() => {
    list.current?.scrollTo({ top: list.current.scrollHeight });
  }, [bubbles]);

  const ask = async (ev: Event) => {
    ev.preventDefault();
    const message = question.trim();
    if (!message) return;
    setQuestion("");
    add("user", message);
    const b = add("assistant", "");
    const rid = requestId(Date.now(), Math.random());
    pending.current.set(rid, b);
    const said = mentions(message);
    try {
      const r = await api<ChatReply>("/api/chat/send", {
        message,
        mentions: said,
        request_id: rid,
        history: history.current.slice(-6),
      });
      // The whole answer, even if /ws skipped a token.
      update(b, (x) => ({ ...x, text: r.response, chips: r.suggested_actions.map(suggestion) }));
      history.current.push({ role: "user", content: message }, { role: "assistant", content: r.response });
      try {
        conversation.current ??= (await api<Conversation>("/api/conversations", {})).id;
        const path = `/api/conversations/${conversation.current}/messages`;
        await api(path, { role: "user", content: message, mentions: said, page: "dashboard" });
        await api(path, { role: "assistant", content: r.response, page: "dashboard" });
      } catch (e) {
        update(b, (x) => ({ ...x, steps: [...x.steps, `not saved to the conversation history: ${(e as Error).message}`] }));
      }
    } catch (e) {
      update(b, (x) => ({ ...x, text: (e as Error).message, error: true }));
    } finally {
      pending.current.delete(rid);
    }
  };

  const configured = models?.configured_model;
  return (
    <section id="chat">
      <h2>Ask about this machine</h2>
      <p id="chat-model" class="muted">
        {modelError ||
          (models === null
            ? "checking the model…"
            : configured
              ? `Guide model: ${configured}` +
                (models.specialist_model ? ` · specialist: ${models.specialist_model}` : "") +
                (models.configured_loaded === false ? " (not loaded yet: the first answer may take a while)" : "")
              : "")}
      </p>
      {models !== null && !configured && <ModelSetup onDone={showModel} />}
      <div id="messages" aria-live="polite" ref={list}>
        {bubbles.map((m) => (
          <div key={m.id} class={`msg ${m.role}${m.error ? " error" : ""}`}>
            <div class="steps">
              {m.steps.map((s, i) => (
                <div key={i}>{s}</div>
              ))}
            </div>
            <div>{m.text}</div>
            {m.chips.length > 0 && (
              <div class="chips">
                {m.chips.map((c, i) => (
                  <span key={i} class="chip">
                    {c}
                  </span>
                ))}
              </div>
            )}
          </div>
        ))}
      </div>
      <form id="ask" onSubmit={ask}>
        <textarea
          id="question"
          rows={2}
          placeholder="Why did my backup fail? How much space is left on /var?"
          required
          value={question}
          onInput={(e) => setQuestion(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <button id="ask-button" disabled={!configured}>
          Ask
        </button>
      </form>
    </section>
  );
}
