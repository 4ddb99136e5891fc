// The dashboard page: live status cards, chat with model set-up, filesystems and temperatures,
// all fed by the one /ws connection. Text is rendered as text only: nothing from the server or
// a model is ever interpreted as HTML.
import { useEffect, useRef, useState } from "preact/hooks";
import { connect, type FeedMessage, type Link, type SystemStatus } from "../../feed";
import { Chat } from "./Chat";
import { Filesystems, Temperatures } from "./Filesystems";
import { StatusCards } from "./StatusCards";

const LINK_TEXT: Record<Link, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  "daemon-down": "halbertd unreachable",
};

export function Dashboard() {
  const [status, setStatus] = useState<SystemStatus | null>(null);
  const [link, setLink] = useState<Link>("connecting");
  // Chat events go to the chat's own listener, which it registers once.
  const chatListener = useRef<((m: FeedMessage) => void) | null>(null);

  useEffect(() => {
    connect(
      (m) => {
        if (m.type === "system_status") setStatus(m.data as SystemStatus);
        chatListener.current?.(m);
      },
      setLink,
    );
  }, []);

  return (
    <>
      <header>
        <h1>Halbert</h1>
        <span id="host">{status?.hostname ?? ""}</span>
        <span id="link" class={`badge ${link === "live" ? "ok" : link === "connecting" ? "" : "bad"}`}>
          {LINK_TEXT[link]}
        </span>
      </header>
      <main>
        <StatusCards status={status} />
        <Chat listen={(f) => (chatListener.current = f)} />
        <Filesystems filesystems={status?.filesystems ?? []} />
        <Temperatures temperatures={status?.temperatures ?? []} />
        <p class="muted">
          Live over <code>/ws</code> · <a href="/docs">API documentation</a>
        </p>
      </main>
    </>
  );
}
