// The dashboard's chat in a real headless Chromium (Debian's, driven by playwright-core).
//
//     node chat_ui.mjs DASHBOARD_URL MODEL_URL SCREENSHOT.png
//
// Against a fresh halbert-web (no model configured) and the scripted model server: the page
// loads under its CSP with no console error and /ws live; it offers the model set-up; filling
// it in assigns the guide; a question is answered with the tool steps shown, the text rendered
// while it streams (more than one update of the bubble), the final text carrying halbertd's
// result, and the exchange stored as a conversation. Prints each step; exits non-zero on the
// first failure.
import { chromium } from "playwright-core";

const [dash, modelUrl, shot] = [process.argv[2].replace(/\/$/, ""), process.argv[3], process.argv[4]];
const ok = (what) => console.log("ok  ", what);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Debian's Chromium as root needs --no-sandbox; the rest keeps it off the (closed) network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  const wait = async (what, fn, arg, timeout = 15000) => {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
    ok(what);
  };

  await page.goto(dash + "/");
  await wait("the page loaded and /ws is live", () => document.getElementById("link")?.textContent === "live");
  await wait("the status cards show halbertd's figures", () => /cores/.test(document.getElementById("cpu")?.textContent ?? ""));
  await wait("without a model the page offers the set-up", () => !!document.getElementById("setup"));
  await page.fill("#setup-url", modelUrl);
  await page.fill("#setup-model", "scripted:8b");
  await page.click("#setup button");
  await wait("the set-up assigned the guide model", () =>
    (document.getElementById("chat-model")?.textContent ?? "").includes("scripted:8b") && !document.getElementById("setup"));

  // Count updates of the answer's text while it streams (not of the steps or the bubbles).
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        if (el && el.matches(".msg.assistant > div:nth-child(2)")) window.__updates++;
      }
    }).observe(document.getElementById("messages"), { subtree: true, characterData: true, childList: true });
  });
  await page.fill("#question", "How much disk space is left, and what is the system load?");
  await page.press("#question", "Enter");
  await wait("the answer appears", () =>
    [...document.querySelectorAll(".msg.assistant")].some((b) => b.textContent.includes("From the tools:")));
  await wait("the tool steps are shown (check_disk_space, get_system_load)", () =>
    document.querySelectorAll(".chips").length === 0 && !document.querySelector(".msg.error") &&
    [...document.querySelectorAll(".msg.assistant .steps div")].map((d) => d.textContent).join("|").includes("✓ get_system_load"));
  const updates = await page.evaluate(() => window.__updates);
  // Six tokens then the final text: seven updates when streamed, one when not.
  if (!(updates >= 4)) throw new Error(`the answer did not stream: ${updates} updates of its text`);
  ok(`the answer streamed in (${updates} updates of its text)`);
  const steps = await page.$$eval(".msg.assistant .steps div", (ds) => ds.map((d) => d.textContent));
  console.log("     steps:", JSON.stringify(steps));
  if (!steps.some((s) => s.includes("check_disk_space")) || !steps.some((s) => s.includes("scripted:8b (guide)"))) {
    throw new Error(`steps: ${JSON.stringify(steps)}`);
  }
  const text = await page.textContent(".msg.assistant > div:nth-child(2)");
  if (!text.includes('"mountpoint":"/"')) throw new Error(`the answer lacks the disk result: ${text.slice(0, 300)}`);
  ok("the answer quotes halbertd's disk result");
  await wait("the exchange is stored as a conversation (greeting + 2)", () =>
    fetch("/api/conversations").then((r) => r.json()).then((d) => d.conversations.length === 1 && d.conversations[0].message_count === 3));
  if (problems.length) throw new Error(`the page logged errors (a CSP violation would be one): ${problems.join(" | ")}`);
  ok("no console errors or CSP violations");
  await page.screenshot({ path: shot });
  ok(`screenshot ${shot}`);
} catch (e) {
  failed = true;
  console.log("FAIL", e.message);
} finally {
  await browser.close();
}
if (failed) process.exit(1);
console.log("dashboard chat: all checks passed");
