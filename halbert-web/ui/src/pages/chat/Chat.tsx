// Chat as /docs describes it: make a request_id, POST /api/chat/send, show that request's /ws
// events while it runs (decisions as steps, tokens as text), then take the POST's answer as the
// final text; store the exchange as a conversation.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type ChatReply, type Conversation, type ConversationSummary, type HistoryTurn, type LoadedModels } from "../../api";
import type { FeedMessage } from "../../feed";
import { completeMention, eventLine, insertMention, mentionAt, mentions, requestId, stepLine, suggestion, TRUNCATED } from "../../format";
import { renderMarkdown } from "../../markdown";
import { ModelSetup } from "./ModelSetup";

interface Bubble {
  id: number;
  role: "user" | "assistant";
  text: string;
  steps: string[];
  /** Suggested actions: what each is, and where its approval waits (when it does). */
  chips: { text: string; href?: string }[];
  error: boolean;
}

/** What the page a person came from shows, for the assistant (`current_page`, `page_context`). */
export interface PageContext {
  page: string;
  text: string;
}

export function Chat({ listen, context }: { listen: (f: (m: FeedMessage) => void) => void; context?: PageContext | null }) {
  const [models, setModels] = useState<LoadedModels | null>(null);
  const [modelError, setModelError] = useState("");
  const [bubbles, setBubbles] = useState<Bubble[]>([]);
  const [question, setQuestion] = useState("");
  const pending = useRef(new Map<string, number>()); // request_id -> bubble id
  const history = useRef<HistoryTurn[]>([]);
  const conversation = useRef<string | null>(null);
  const nextId = useRef(0);
  const list = useRef<HTMLDivElement>(null);
  // Whether the reader is at the end of the answers: only then does the view follow new text.
  const atBottom = useRef(true);
  const abort = useRef<AbortController | null>(null);
  const [busy, setBusy] = useState(false);
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [current, setCurrent] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [newName, setNewName] = useState("");
  // @ completion: everything a question may mention, and what is offered for the word typed.
  const allMentions = useRef<{ mention: string; title: string; type: string }[]>([]);
  // Images for the vision model: name, and the raw base64 the API takes (no data: prefix).
  const [images, setImages] = useState<{ name: string; base64: string; type: string }[]>([]);
  const [imageError, setImageError] = useState("");
  const attach = async (files: FileList | null) => {
    setImageError("");
    const picked = [...(files ?? [])];
    if (images.length + picked.length > 4) {
      setImageError("At most 4 images a question.");
      return;
    }
    const read = (f: File) =>
      new Promise<{ name: string; base64: string; type: string }>((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => resolve({ name: f.name, type: f.type, base64: String(r.result).replace(/^data:[^,]*,/, "") });
        r.onerror = () => reject(r.error);
        r.readAsDataURL(f);
      });
    const total = images.reduce((n, i) => n + (i.base64.length * 3) / 4, 0) + picked.reduce((n, f) => n + f.size, 0);
    // The request body is capped at 2 MiB, and base64 adds a third.
    if (total > 1_400_000) {
      setImageError("The images are over 1.4 MB together: attach smaller ones.");
      return;
    }
    try {
      const more = await Promise.all(picked.filter((f) => f.type.startsWith("image/")).map(read));
      setImages((all) => [...all, ...more]);
    } catch (e) {
      setImageError(`Cannot read the image: ${(e as Error).message}`);
    }
  };
  const [offer, setOffer] = useState<{ start: number; caret: number; items: { mention: string; title: string }[]; sel: number } | null>(null);

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
      const line = m.type === "decision" ? stepLine(m.data) : eventLine(m);
      if (line) update(id, (b) => ({ ...b, steps: [...b.steps, line] }));
      if (m.type === "chat_token" && !m.data.done) update(id, (b) => ({ ...b, text: b.text + m.data.token }));
    });
  }, []);

  useEffect(() => {
    if (atBottom.current) list.current?.scrollTo({ top: list.current.scrollHeight });
  }, [bubbles]);

  const loadConversations = () =>
    api<{ conversations: ConversationSummary[] }>("/api/conversations")
      .then((r) => setConversations(r.conversations))
      .catch(() => {});
  useEffect(() => {
    loadConversations();
    api<{ mentions: { mention: string; title: string; type: string }[] }>("/api/discovery/mentions")
      .then((r) => (allMentions.current = r.mentions))
      .catch(() => {});
  }, []);

  const typed = (el: HTMLTextAreaElement) => {
    setQuestion(el.value);
    const at = mentionAt(el.value, el.selectionStart ?? el.value.length);
    const items = at ? completeMention(allMentions.current, at.word) : [];
    setOffer(at && items.length ? { start: at.start, caret: el.selectionStart ?? el.value.length, items, sel: 0 } : null);
  };
  const accept = (el: HTMLTextAreaElement, mention: string) => {
    if (!offer) return;
    const r = insertMention(el.value, offer.start, offer.caret, mention);
    setQuestion(r.text);
    setOffer(null);
    requestAnimationFrame(() => el.setSelectionRange(r.caret, r.caret));
  };

  const open = async (id: string) => {
    try {
      const c = await api<Conversation>(`/api/conversations/${id}`);
      conversation.current = id;
      setCurrent(id);
      const msgs = (c.messages ?? []).filter((m) => m.role === "user" || m.role === "assistant");
      history.current = msgs.map((m) => ({ role: m.role, content: m.content }));
      setBubbles(msgs.map((m) => ({ id: nextId.current++, role: m.role as Bubble["role"], text: m.content, steps: [], chips: [], error: false })));
      atBottom.current = true;
    } catch (e) {
      setModelError(`Cannot open the conversation: ${(e as Error).message}`);
    }
  };
  const startNew = () => {
    conversation.current = null;
    setCurrent(null);
    history.current = [];
    setBubbles([]);
  };
  const remove = async (id: string) => {
    if (!confirm("Delete this conversation?")) return;
    await api(`/api/conversations/${id}`, undefined, "DELETE").catch((e) => setModelError(e.message));
    if (conversation.current === id) startNew();
    loadConversations();
  };
  const rename = async (id: string) => {
    const name = newName.trim();
    if (name) await api(`/api/conversations/${id}`, { name }, "PATCH").catch((e) => setModelError(e.message));
    setRenaming(null);
    loadConversations();
  };
  const stop = () => abort.current?.abort();

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
    setImages([]);
    const controller = new AbortController();
    abort.current = controller;
    setBusy(true);
    atBottom.current = true;
    try {
      const r = await api<ChatReply>("/api/chat/send", {
        message,
        mentions: said,
        request_id: rid,
        history: history.current.slice(-6),
        ...(images.length ? { images: images.map((i) => i.base64) } : {}),
        ...(context ? { current_page: context.page, page_context: context.text.slice(0, 4000) } : {}),
      }, "POST", controller.signal);
      // The whole answer, even if /ws skipped a token.
      update(b, (x) => ({ ...x, text: r.response, steps: r.debug.truncated ? [...x.steps, TRUNCATED] : x.steps, chips: r.suggested_actions.map((a) => ({ text: suggestion(a), href: a.approval_id ? `#/approvals?id=${encodeURIComponent(a.approval_id)}` : undefined })) }));
      history.current.push({ role: "user", content: message }, { role: "assistant", content: r.response });
      try {
        conversation.current ??= (await api<Conversation>("/api/conversations", {})).id;
        setCurrent(conversation.current);
        const path = `/api/conversations/${conversation.current}/messages`;
        await api(path, { role: "user", content: message, mentions: said, page: "dashboard" });
        await api(path, { role: "assistant", content: r.response, page: "dashboard" });
      } catch (e) {
        update(b, (x) => ({ ...x, steps: [...x.steps, `not saved to the conversation history: ${(e as Error).message}`] }));
      }
      loadConversations();
    } catch (e) {
      if ((e as Error).name === "AbortError") {
        // Closing the request is what stops the model: halbert-web cancels upstream.
        update(b, (x) => ({ ...x, steps: [...x.steps, "stopped"], text: x.text || "(stopped before the answer)" }));
      } else {
        update(b, (x) => ({ ...x, text: (e as Error).message, error: true }));
      }
    } finally {
      pending.current.delete(rid);
      abort.current = null;
      setBusy(false);
    }
  };

  const configured = models?.configured_model;
  return (
    <div id="chat-layout">
    <aside id="conversations" class="panel" aria-label="Conversations">
      <div class="row">
        <h2>Conversations</h2>
        <button id="conversation-new" onClick={startNew}>New</button>
      </div>
      <ul>
        {conversations.map((c) => (
          <li key={c.id} class={c.id === current ? "current" : ""}>
            {renaming === c.id ? (
              <form onSubmit={(e) => { e.preventDefault(); rename(c.id); }}>
                <input class="conversation-name" value={newName} maxLength={200} aria-label="New name"
                  onInput={(e) => setNewName((e.target as HTMLInputElement).value)} />
                <button>Save</button>
              </form>
            ) : (
              <>
                <button class="link conversation-open" onClick={() => open(c.id)} title={c.preview}>{c.name}</button>
                <span class="muted"> {c.message_count}</span>
                <button class="link conversation-rename" aria-label={`Rename ${c.name}`} onClick={() => { setRenaming(c.id); setNewName(c.name); }}>rename</button>
                <button class="link conversation-delete" aria-label={`Delete ${c.name}`} onClick={() => remove(c.id)}>delete</button>
              </>
            )}
          </li>
        ))}
      </ul>
    </aside>
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
      <div id="messages" aria-live="polite" ref={list}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}>
        {bubbles.map((m) => (
          <div key={m.id} class={`msg ${m.role}${m.error ? " error" : ""}`}>
            <div class="steps">
              {m.steps.map((s, i) => (
                <div key={i}>{s}</div>
              ))}
            </div>
            {m.role === "assistant" && !m.error ? (
              // markdown-it with html: false: the model's text formats, it cannot inject.
              <div class="md" dangerouslySetInnerHTML={{ __html: renderMarkdown(m.text) }} />
            ) : (
              <div>{m.text}</div>
            )}
            {m.chips.length > 0 && (
              <div class="chips">
                {m.chips.map((c, i) =>
                  c.href ? (
                    <a key={i} class="chip" href={c.href}>
                      {c.text} — open its approval
                    </a>
                  ) : (
                    <span key={i} class="chip">
                      {c.text}
                    </span>
                  ),
                )}
              </div>
            )}
          </div>
        ))}
      </div>
      {(images.length > 0 || imageError) && (
        <div id="chat-attached" class="row">
          {images.map((im, i) => (
            <span key={i} class="chip">
              <img src={`data:${im.type};base64,${im.base64}`} alt="" class="thumb" /> {im.name}{" "}
              <button type="button" class="link" aria-label={`Remove ${im.name}`} onClick={() => setImages((all) => all.filter((_, j) => j !== i))}>
                ×
              </button>
            </span>
          ))}
          {imageError && <span class="alert">{imageError}</span>}
        </div>
      )}
      <form id="ask" onSubmit={ask}>
        <textarea
          id="question"
          rows={2}
          placeholder="Why did my backup fail? How much space is left on /var?"
          aria-label="Your question (@ names what Halbert found)"
          value={question}
          onInput={(e) => typed(e.currentTarget)}
          aria-autocomplete="list"
          aria-controls="mention-list"
          onKeyDown={(e) => {
            if (offer) {
              if (e.key === "ArrowDown" || e.key === "ArrowUp") {
                e.preventDefault();
                const d = e.key === "ArrowDown" ? 1 : -1;
                setOffer({ ...offer, sel: (offer.sel + d + offer.items.length) % offer.items.length });
                return;
              }
              if (e.key === "Tab" || e.key === "Enter") {
                e.preventDefault();
                accept(e.currentTarget, offer.items[offer.sel].mention);
                return;
              }
              if (e.key === "Escape") {
                setOffer(null);
                return;
              }
            }
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <label class="attach" title="Attach images for the vision model">
          image
          <input id="chat-images" type="file" accept="image/*" multiple onChange={(e) => { attach(e.currentTarget.files); e.currentTarget.value = ""; }} />
        </label>
        {offer && (
          <ul id="mention-list" role="listbox">
            {offer.items.map((m, i) => (
              <li key={m.mention} role="option" aria-selected={i === offer.sel} class={i === offer.sel ? "current" : ""}
                onMouseDown={(e) => {
                  e.preventDefault();
                  accept(document.getElementById("question") as HTMLTextAreaElement, m.mention);
                }}>
                {m.mention} <span class="muted">{m.title}</span>
              </li>
            ))}
          </ul>
        )}
        {busy ? (
          <button id="stop-button" type="button" onClick={stop}>
            Stop
          </button>
        ) : (
          <button id="ask-button" disabled={!configured}>
            Ask
          </button>
        )}
      </form>
    </section>
    </div>
  );
}
