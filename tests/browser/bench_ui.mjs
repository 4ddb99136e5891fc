// The dashboard's speed, measured in Debian's headless Chromium (make bench; figures, never a
// pass/fail): what the first load of / transfers (scripts and styles, compressed), the first
// paint and first contentful paint, and the frames while 1,000 discovery rows are filtered and
// sorted (the rows are served by the browser's own route, so that the size is exact).
//
//     node bench_ui.mjs DASHBOARD_URL [RUNS]
import { chromium } from "playwright-core";

const [dash, runs] = [process.argv[2].replace(/\/$/, ""), Number(process.argv[3] ?? 5)];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loads = [];
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext(); // a cold cache each time
  const page = await ctx.newPage();
  await page.goto(dash + "/", { waitUntil: "load" });
  await page.waitForFunction(() => performance.getEntriesByType("paint").length >= 2, undefined, { timeout: 10000 });
  loads.push(await page.evaluate(() => {
    const res = performance.getEntriesByType("resource").filter((r) => /\/static\/.*\.(js|css)$/.test(r.name));
    const paint = Object.fromEntries(performance.getEntriesByType("paint").map((p) => [p.name, p.startTime]));
    return {
      transferred: res.reduce((n, r) => n + r.transferSize, 0),
      encoded: res.reduce((n, r) => n + r.encodedBodySize, 0),
      decoded: res.reduce((n, r) => n + r.decodedBodySize, 0),
      fp: paint["first-paint"],
      fcp: paint["first-contentful-paint"],
    };
  }));
  await ctx.close();
}
const l = loads[0];
console.log(`first load of /: scripts and styles ${(l.encoded / 1024).toFixed(1)} KiB as sent (${(l.decoded / 1024).toFixed(1)} KiB uncompressed, ${(l.transferred / 1024).toFixed(1)} KiB on the wire with headers)`);
console.log(`first paint: median ${median(loads.map((x) => x.fp)).toFixed(0)} ms, first contentful paint: median ${median(loads.map((x) => x.fcp)).toFixed(0)} ms (${runs} cold loads)`);

// 1,000 rows of storage, served by the browser itself.
const ctx = await browser.newContext();
const page = await ctx.newPage();
const items = Array.from({ length: 1000 }, (_, i) => ({
  id: `disk-bench${i}`, type: "storage", name: `bench${String(i).padStart(4, "0")}`, title: `Bench disk ${i}`,
  status: ["healthy", "warning", "critical", "unknown"][i % 4], status_detail: `${i % 100}% Used`, severity: "info",
  description: "", icon: "hard-drive", source: "sysfs", data: { size_bytes: i * 1e9, model: `Model ${i % 7}` },
  actions: [], last_scanned: null, mentionable: true, mention: `@disk-bench${i}`,
}));
await page.route("**/api/discovery/storage", (r) => r.fulfill({
  contentType: "application/json",
  body: JSON.stringify({ discoveries: items, type: "storage", last_scan: "2026-12-01T00:00:00Z", scan_duration_ms: 1, error: null }),
}));
await page.goto(dash + "/#/discovery/storage");
await page.waitForFunction(() => /of 1000/.test(document.querySelector("#discovery-pages")?.textContent ?? ""), undefined, { timeout: 20000 });
// Frame times while the table changes: a filter typed letter by letter, then sorting by each
// column twice.
await page.evaluate(() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
});
const updates = [];
for (const text of ["b", "be", "ben", "benc", "bench0", "bench00", "", "model 3", ""]) {
  const t0 = Date.now();
  await page.fill("#discovery-filter", text);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  updates.push(Date.now() - t0);
}
for (const col of [1, 2, 3, 4, 5, 1]) {
  for (let k = 0; k < 2; k++) {
    const t0 = Date.now();
    await page.click(`#discovery-table th:nth-child(${col}) button`);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    updates.push(Date.now() - t0);
  }
}
const frames = await page.evaluate(() => { window.__stop = true; return window.__frames.slice(1); });
// A frame of the 60 Hz clock is 16.7 ms; one over 20 ms means at least one was dropped.
const long = frames.filter((f) => f > 20).length;
console.log(`1,000 discovery rows: ${updates.length} updates (filter and sort), each until painted: median ${median(updates)} ms, max ${Math.max(...updates)} ms; ` +
  `frames: ${frames.length}, median ${median(frames).toFixed(1)} ms, max ${Math.max(...frames).toFixed(1)} ms, ${long} over 20 ms (a dropped frame)`);
await browser.close();
