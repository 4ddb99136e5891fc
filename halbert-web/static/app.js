// Live status for the minimal page: one WebSocket, rendered with textContent only (no HTML
// from the server is ever interpreted).
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
    if (msg.type === "daemon_status" && !msg.data.connected) { set("link", "halbertd unreachable"); $("link").className = "badge bad"; }
  };
  ws.onclose = () => {
    set("link", "reconnecting…"); $("link").className = "badge bad";
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}
connect(500);
