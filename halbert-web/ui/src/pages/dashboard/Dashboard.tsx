// The dashboard page: live status cards, chat with model set-up, filesystems and temperatures,
// fed by the frame's /ws connection. Text is rendered as text only: nothing from the server or
// a model is ever interpreted as HTML.
import type { FeedMessage, SystemStatus } from "../../feed";
import { Chat } from "./Chat";
import { Filesystems, Temperatures } from "./Filesystems";
import { StatusCards } from "./StatusCards";

export function Dashboard({
  status,
  listen,
}: {
  status: SystemStatus | null;
  listen: (f: (m: FeedMessage) => void) => void;
}) {
  return (
    <>
      <StatusCards status={status} />
      <Chat listen={listen} />
      <Filesystems filesystems={status?.filesystems ?? []} />
      <Temperatures temperatures={status?.temperatures ?? []} />
    </>
  );
}
