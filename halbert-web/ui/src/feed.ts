// The one WebSocket of the page: /ws, reconnected with backoff. Every message is
// `{type, data}`; listeners get each one.

export interface Filesystem {
  mountpoint: string;
  device: string;
  fstype: string;
  total_gb: number;
  used_gb: number;
  free_gb: number;
  percent: number;
}

export interface Temperature {
  chip: string;
  label: string;
  celsius: number;
}

export interface SystemStatus {
  hostname: string;
  cpu: { percent: number; cores: number; temperature: number | null };
  load_average: { "1min": number; "5min": number; "15min": number };
  memory: { total_gb: number; used_gb: number; percent: number };
  swap: { total_gb: number; used_gb: number };
  disk: { total_gb: number; used_gb: number; percent: number } | null;
  uptime: { seconds: number };
  filesystems: Filesystem[];
  temperatures: Temperature[];
  authorization: string;
  safe_mode_active: boolean;
}

export interface FeedMessage {
  type: string;
  data: any;
}

export type Link = "connecting" | "live" | "reconnecting" | "daemon-down";

export function connect(onMessage: (m: FeedMessage) => void, onLink: (l: Link) => void): void {
  let delay = 500;
  const open = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onopen = () => {
      onLink("live");
      delay = 500;
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data) as FeedMessage;
      if (m.type === "daemon_status") onLink(m.data.connected ? "live" : "daemon-down");
      onMessage(m);
    };
    ws.onclose = () => {
      onLink("reconnecting");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  open();
}
