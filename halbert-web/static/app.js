// Live status and chat for the minimal page: one WebSocket, rendered with textContent only (no
// HTML from the server or a model is ever interpreted).
"use strict";
const $ = (id) => document.getElementById(id);
const set = (id, text) => { $(id).textContent = text; };
const gb = (v) => v.toFixed(1);

function render(d) {
  set("host", d.hostname || "");
  set("cpu", `${d.cpu.percent.toFixed(1)} % of ${d.cpu.cores} cores` + (d.cpu.temperature != null ? ` · ${d.cpu.temperature.toFixed(0)} °C` : ""));
  set("load", `load ${d.load_average["1min"]} ${d.load_average["5min"]} ${d.load_average["15min"]}`);
  set("mem", `${gb(d.memory.used_gb)} / ${gb(d.memory.total_gb)} GB (${d.memory.percent} %)`);
  set("swap", d.swap.total_gb > 0 ? `swap ${gb(d.swap.used_gb)} / ${gb(d.swap.total_gb)} GB` : "no swap");
  set("disk", d.disk ? `${gb(d.disk.used_gb)} / ${gb(d.disk.total_gb)} GB (${d.disk.percent} %)` : "–");
  const h = Math.floor(d.uptime.seconds / 3600), m = Math.floor((d.uptime.seconds % 3600) / 60);
  set("uptime", `up ${h} h ${m} min`);
  set("safe", d.safe_mode_active ? "ACTIVE" : "off");
  $("safe").className = d.safe_mode_active ? "alert" : "";
  set("authz", `authorization ${d.authorization}`);
  const body = $("fs");
  body.replaceChildren(...d.filesystems.map((f) => {
    const tr = document.createElement("tr");
    for (const v of [f.mountpoint, f.device, f.fstype, `${f.percent} %`, `${gb(f.total_gb)} GB`]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    return tr;
  }));
  $("temps-section").hidden = d.temperatures.length === 0;
  $("temps").replaceChildren(...d.temperatures.map((t) => {
    const li = document.createElement("li"); li.textContent = `${t.chip} ${t.label}: ${t.celsius.toFixed(1)} °C`; return li;
  }));
}

function connect(delay) {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => { set("link", "live"); $("link").className = "badge ok"; delay = 500; };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "system_status") render(msg.data);
    chatEvent(msg);
    if (msg.type === "daemon_status" && !msg.data.connected) { set("link", "halbertd unreachable"); $("link").className = "badge bad"; }
  };
  ws.onclose = () => {
    set("link", "reconnecting…"); $("link").className = "badge bad";
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}
// ---------------------------------------------------------------- chat
// The flow documented in /docs: make a request_id, POST /api/chat/send, show the /ws events of
// that request as they come (decisions, tokens), then take the POST's answer as the final text.
const pending = new Map(); // request_id -> {text, steps}
const history = [];        // {role, content} of this page's conversation
let conversation = null;   // id of the stored conversation, once the first answer arrived

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
  return data;
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  const steps = document.createElement("div"); steps.className = "steps";
  const body = document.createElement("div"); body.textContent = text;
  div.append(steps, body);
  $("messages").appendChild(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return { div, steps, body };
}

function step(b, text) {
  const line = document.createElement("div"); line.textContent = text; b.steps.appendChild(line);
}

function chatEvent(msg) {
  const b = msg.data && pending.get(msg.data.request_id);
  if (!b) return;
  if (msg.type === "decision" && msg.data.action === "route") step(b, `${msg.data.model} (${msg.data.model_type}): ${msg.data.reasoning}`);
  if (msg.type === "decision" && msg.data.action === "tool_call") {
    step(b, `${msg.data.ok ? "✓" : "✗"} ${msg.data.tool} ${JSON.stringify(msg.data.arguments)} · ${msg.data.duration_ms} ms${msg.data.ok ? "" : ` · ${msg.data.reasoning}`}`);
  }
  if (msg.type === "decision" && msg.data.action === "tool_fallback") step(b, msg.data.reasoning);
  if (msg.type === "chat_token" && !msg.data.done) {
    b.body.textContent += msg.data.token;
    $("messages").scrollTop = $("messages").scrollHeight;
  }
}

async function showModel() {
  try {
    const m = await api("/api/models/loaded");
    $("setup").hidden = !!m.configured_model;
    set("chat-model", m.configured_model
      ? `Guide model: ${m.configured_model}` + (m.specialist_model ? ` · specialist: ${m.specialist_model}` : "")
        + (m.configured_loaded === false ? " (not loaded yet: the first answer may take a while)" : "")
      : "");
    $("ask-button").disabled = !m.configured_model;
  } catch (e) {
    set("chat-model", `Models unavailable: ${e.message}`);
  }
}

$("setup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  set("setup-error", "");
  try {
    const ep = await api("/api/settings/endpoints", {
      name: "Local models", url: $("setup-url").value.trim(), provider: $("setup-provider").value,
    });
    await api("/api/settings/assign/guide", { endpoint_id: ep.id, model: $("setup-model").value.trim() });
    await showModel();
  } catch (e) {
    set("setup-error", e.message);
  }
});

$("question").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("ask").requestSubmit(); }
});

$("ask").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = $("question").value.trim();
  if (!message) return;
  $("question").value = "";
  bubble("user", message);
  const b = bubble("assistant", "");
  const id = `ui-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  pending.set(id, b);
  const mentions = message.match(/@[\w\-/]+/g) || [];
  try {
    const r = await api("/api/chat/send", { message, mentions, request_id: id, history: history.slice(-6) });
    b.body.textContent = r.response; // whole, even if /ws skipped a token
    if (r.suggested_actions.length) {
      const chips = document.createElement("div"); chips.className = "chips";
      for (const a of r.suggested_actions) {
        const c = document.createElement("span"); c.className = "chip";
        c.textContent = `suggested: ${a.label}${a.unit ? ` ${a.unit}` : a.target ? ` ${a.target}` : ""} (not run)`;
        chips.appendChild(c);
      }
      b.div.appendChild(chips);
    }
    history.push({ role: "user", content: message }, { role: "assistant", content: r.response, page: "dashboard" });
    try {
      conversation = conversation || (await api("/api/conversations", {})).id;
      await api(`/api/conversations/${conversation}/messages`, { role: "user", content: message, mentions, page: "dashboard" });
      await api(`/api/conversations/${conversation}/messages`, { role: "assistant", content: r.response, page: "dashboard" });
    } catch (e) {
      step(b, `not saved to the conversation history: ${e.message}`);
    }
  } catch (e) {
    b.div.classList.add("error");
    b.body.textContent = e.message;
  } finally {
    pending.delete(id);
  }
});

showModel();
connect(500);
