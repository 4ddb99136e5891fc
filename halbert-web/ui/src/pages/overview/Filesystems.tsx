import type { Filesystem, Temperature } from "../../feed";
import { gb } from "../../format";

export function Filesystems({ filesystems }: { filesystems: Filesystem[] }) {
  return (
    <section>
      <h2>Filesystems</h2>
      <table>
        <thead>
          <tr>
            <th>Mount</th>
            <th>Device</th>
            <th>Type</th>
            <th>Used</th>
            <th>Size</th>
          </tr>
        </thead>
        <tbody id="fs">
          {filesystems.map((f) => (
            <tr key={f.mountpoint}>
              <td>{f.mountpoint}</td>
              <td>{f.device}</td>
              <td>{f.fstype}</td>
              <td>{`${f.percent} %`}</td>
              <td>{`${gb(f.total_gb)} GB`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Temperatures({ temperatures }: { temperatures: Temperature[] }) {
  return (
    <section id="temps-section" hidden={temperatures.length === 0}>
      <h2>Temperatures</h2>
      <ul id="temps">
        {temperatures.map((t) => (
          <li key={`${t.chip}/${t.label}`}>{`${t.chip} ${t.label}: ${t.celsius.toFixed(1)} °C`}</li>
        ))}
      </ul>
    </section>
  );
}
