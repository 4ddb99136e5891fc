// The page's frame: the header (host, the /ws link, navigation), alerts as they arrive, and the
// page the hash names (#/ the overview, #/chat, #/discovery/<type>, #/approvals, #/editor,
// #/services, #/terminal, #/settings). The one /ws connection lives here
// and feeds every page.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api";
import { connect, type FeedMessage, type Link, type SystemStatus } from "./feed";
import { route } from "./route";
import { Approvals } from "./pages/approvals/Approvals";
import { ChatPage } from "./pages/chat/ChatPage";
import type { PageContext } from "./pages/chat/Chat";
import { Discovery, TYPES, TYPE_TITLES } from "./pages/discovery/Discovery";
import { Overview } from "./pages/overview/Overview";
import { Settings } from "./pages/settings/Settings";
import { Editor } from "./pages/editor/Editor";
import { Services } from "./pages/services/Services";
import { Terminal } from "./pages/terminal/Terminal";

const LINK_TEXT: Record<Link, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  "daemon-down": "halbertd unreachable",
};

const PAGES = [
  ["#/", "Overview"],
  ["#/chat", "Chat"],
  ["#/approvals", "Approvals"],
  ["#/editor", "Config files"],
  ["#/services", "Services"],
  ["#/terminal", "Terminal"],
  ["#/settings", "Settings"],
] as const;

interface Alert {
  id: string;
  message: string;
  severity: string;
  timestamp: string;
}

export function App() {
  const [status, setStatus] = useState<SystemStatus | null>(null);
  const [link, setLink] = useState<Link>("connecting");
  const [page, setPage] = useState(route(location.hash));
  const [alerts, setAlerts] = useState<Alert[]>([]);
  // Why halbertd cannot be reached, as halbert-web words it (the group to join, the command
  // that starts it); empty while it is connected.
  const [daemonDown, setDaemonDown] = useState("");
  // Chat events go to the chat's own listener, which it registers once.
  const chatListener = useRef<((m: FeedMessage) => void) | null>(null);
  const approvalsListener = useRef<((m: FeedMessage) => void) | null>(null);
  const discoveryListener = useRef<((m: FeedMessage) => void) | null>(null);
  // What the last page with items showed, for chat's current_page and page_context.
  const [context, setContext] = useState<PageContext | null>(null);
  // Pending approvals, shown as a count beside "Approvals" on every page.
  const [pendingCount, setPendingCount] = useState(0);
  const countPending = () =>
    api<{ count: number }>("/api/approvals/pending")
      .then((r) => setPendingCount(r.count))
      .catch(() => {});
  const [dark, setDark] = useState(
    localStorage.getItem("halbert-theme") === "dark" ||
      (localStorage.getItem("halbert-theme") === null && matchMedia("(prefers-color-scheme: dark)").matches),
  );
  useEffect(() => {
    document.documentElement.classList.toggle("dark", dark);
  }, [dark]);

  useEffect(() => {
    const onHash = () => setPage(route(location.hash));
    addEventListener("hashchange", onHash);
    connect(
      (m) => {
        if (m.type === "system_status") setStatus(m.data as SystemStatus);
        if (m.type === "alert") setAlerts((a) => [m.data as Alert, ...a].slice(0, 5));
        if (m.type === "daemon_status") setDaemonDown(m.data.connected ? "" : String(m.data.detail ?? ""));
        chatListener.current?.(m);
        approvalsListener.current?.(m);
        discoveryListener.current?.(m);
        if (m.type === "approval_request" || m.type === "approval_decision") countPending();
      },
      setLink,
    );
    countPending();
    return () => removeEventListener("hashchange", onHash);
  }, []);

  return (
    <>
      <header>
        <h1>Halbert</h1>
        <span id="host">{status?.hostname ?? ""}</span>
        <nav>
          {PAGES.map(([href, label]) => (
            <a key={href} href={href} class={page === href ? "current" : ""}>
              {label}
              {href === "#/approvals" && pendingCount > 0 && (
                <span id="pending-count" class="count" aria-label={`${pendingCount} waiting`}>
                  {pendingCount}
                </span>
              )}
            </a>
          ))}
        </nav>
        {status?.safe_mode_active && <span class="badge bad">safe mode: changes are refused</span>}
        <button id="theme" aria-label="Switch between the light and the dark theme"
          onClick={() => { localStorage.setItem("halbert-theme", dark ? "light" : "dark"); setDark(!dark); }}>
          {dark ? "light" : "dark"}
        </button>
        <span id="link" class={`badge ${link === "live" ? "ok" : link === "connecting" ? "" : "bad"}`}>
          {LINK_TEXT[link]}
        </span>
        <nav id="discovery-nav" aria-label="What Halbert found">
          {TYPES.map((t) => (
            <a key={t} href={`#/discovery/${t}`} class={page === `#/discovery/${t}` ? "current" : ""}>
              {TYPE_TITLES[t]}
            </a>
          ))}
        </nav>
      </header>
      <div id="alerts">
        {daemonDown && link === "daemon-down" && (
          <div id="daemon-down" class="banner error" role="alert">
            <strong>halbertd unreachable</strong> {daemonDown}
          </div>
        )}
        {alerts.map((a) => (
          <div key={a.id} class={`banner ${a.severity}`} role="alert">
            <strong>{a.severity}</strong> {a.message} <span class="muted">{a.timestamp}</span>
            <button class="link" onClick={() => setAlerts((all) => all.filter((x) => x.id !== a.id))}>
              dismiss
            </button>
          </div>
        ))}
      </div>
      <main>
        {page === "#/approvals" ? (
          <Approvals listen={(f) => (approvalsListener.current = f)} />
        ) : page === "#/editor" ? (
          <Editor setContext={(p, text) => setContext({ page: p, text })} />
        ) : page === "#/services" ? (
          <Services setContext={(p, text) => setContext({ page: p, text })} />
        ) : page === "#/terminal" ? (
          <Terminal />
        ) : page === "#/settings" ? (
          <Settings />
        ) : page === "#/chat" ? (
          <ChatPage listen={(f) => (chatListener.current = f)} context={context} clearContext={() => setContext(null)} />
        ) : page.startsWith("#/discovery/") ? (
          <Discovery
            type={page.slice("#/discovery/".length)}
            listen={(f) => (discoveryListener.current = f)}
            setContext={(p, text) => setContext({ page: p, text })}
          />
        ) : (
          <Overview status={status} setContext={(p, text) => setContext({ page: p, text })} />
        )}
        <p class="muted">
          Live over <code>/ws</code> · <a href="/docs">API documentation</a>
        </p>
      </main>
    </>
  );
}
