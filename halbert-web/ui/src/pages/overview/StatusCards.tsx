import type { SystemStatus } from "../../feed";
import { cpuLine, gb, uptime, usage } from "../../format";

export function StatusCards({ status: d }: { status: SystemStatus | null }) {
  return (
    <section class="cards">
      <div class="card">
        <h2>CPU</h2>
        <p id="cpu">{d ? cpuLine(d.cpu.percent, d.cpu.cores, d.cpu.temperature) : "–"}</p>
        <small id="load">
          {d ? `load ${d.load_average["1min"]} ${d.load_average["5min"]} ${d.load_average["15min"]}` : ""}
        </small>
      </div>
      <div class="card">
        <h2>Memory</h2>
        <p id="mem">{d ? usage(d.memory.used_gb, d.memory.total_gb, d.memory.percent) : "–"}</p>
        <small id="swap">
          {d ? (d.swap.total_gb > 0 ? `swap ${gb(d.swap.used_gb)} / ${gb(d.swap.total_gb)} GB` : "no swap") : ""}
        </small>
      </div>
      <div class="card">
        <h2>Disk /</h2>
        <p id="disk">{d?.disk ? usage(d.disk.used_gb, d.disk.total_gb, d.disk.percent) : "–"}</p>
        <small id="uptime">{d ? uptime(d.uptime.seconds) : ""}</small>
      </div>
      <div class="card">
        <h2>Safe mode</h2>
        <p id="safe" class={d?.safe_mode_active ? "alert" : ""}>{d ? (d.safe_mode_active ? "ACTIVE" : "off") : "–"}</p>
        <small id="authz">{d ? `authorization ${d.authorization}` : ""}</small>
      </div>
    </section>
  );
}
