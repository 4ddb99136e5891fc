// The page's frame: the header (host, the /ws link, navigation), alerts as they arrive, and the
// page the hash names (#/, #/approvals, #/editor, #/services, #/terminal). The one /ws connection lives here
// and feeds every page.
import { useEffect, useRef, useState } from "preact/hooks";
import { connect, type FeedMessage, type Link, type SystemStatus } from "./feed";
import { route } from "./route";
import { Approvals } from "./pages/approvals/Approvals";
import { Dashboard } from "./pages/dashboard/Dashboard";
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
  ["#/", "Dashboard"],
  ["#/approvals", "Approvals"],
  ["#/editor", "Config files"],
  ["#/services", "Services"],
  ["#/terminal", "Terminal"],
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
      },
      setLink,
    );
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
            </a>
          ))}
        </nav>
        {status?.safe_mode_active && <span class="badge bad">safe mode: changes are refused</span>}
        <span id="link" class={`badge ${link === "live" ? "ok" : link === "connecting" ? "" : "bad"}`}>
          {LINK_TEXT[link]}
        </span>
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
          <Editor />
        ) : page === "#/services" ? (
          <Services />
        ) : page === "#/terminal" ? (
          <Terminal />
        ) : (
          <Dashboard status={status} listen={(f) => (chatListener.current = f)} />
        )}
        <p class="muted">
          Live over <code>/ws</code> · <a href="/docs">API documentation</a>
        </p>
      </main>
    </>
  );
}
