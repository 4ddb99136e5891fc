// The chat page (#/chat): chat with model set-up, fed by the frame's /ws connection, with the
// context of the page the person came from. Text is rendered as text only: nothing from the
// server or a model is ever interpreted as HTML.
import type { FeedMessage } from "../../feed";
import { Chat, type PageContext } from "./Chat";

export function ChatPage({
  listen,
  context,
  clearContext,
}: {
  listen: (f: (m: FeedMessage) => void) => void;
  context: PageContext | null;
  clearContext: () => void;
}) {
  return (
    <>
      {context && (
        <p id="chat-context" class="muted">
          Asking with what the {context.page} page shows: {context.text}{" "}
          <button class="link" onClick={clearContext}>
            forget it
          </button>
        </p>
      )}
      <Chat listen={listen} context={context} />
    </>
  );
}
