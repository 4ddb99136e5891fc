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
  await page.goto(dash + "/#/chat");
  await wait("without a model the page offers the set-up", () => !!document.getElementById("setup"));
  await page.fill("#setup-url", modelUrl);
  await page.click("#setup-connect");
  await wait("the server's models are offered to pick from, not typed", () =>
    [...(document.querySelector("select#setup-model")?.options ?? [])].map((o) => o.value).includes("scripted:8b"));
  await page.selectOption("#setup-model", "scripted:8b");
  await page.selectOption("#setup-role", "guide");
  await page.click("#setup-assign");
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
  if (!(await page.$(".msg.assistant .md p"))) throw new Error("the answer is not rendered as Markdown");
  ok("the answer is rendered as Markdown");

  // The conversation in the sidebar: renamed, then deleted.
  await wait("the conversation is listed in the sidebar", () => document.querySelectorAll("#conversations li").length === 1, undefined, 15000);
  await page.click("#conversations .conversation-rename");
  await page.fill("#conversations .conversation-name", "Disk and load");
  await page.press("#conversations .conversation-name", "Enter");
  await wait("renamed", () => document.querySelector("#conversations .conversation-open")?.textContent === "Disk and load");
  await page.click("#conversation-new");
  await wait("New empties the chat", () => document.querySelectorAll(".msg").length === 0);
  await page.click("#conversations .conversation-open");
  await wait("opening it shows its messages again", () => document.querySelectorAll(".msg").length >= 3);
  page.once("dialog", (d) => d.accept());
  await page.click("#conversations .conversation-delete");
  await wait("deleted", () => document.querySelectorAll("#conversations li").length === 0);

  // @ completion from /api/discovery/mentions.
  await page.fill("#question", "");
  await page.type("#question", "is @sto");
  await wait("typing @sto offers @storage", () => [...document.querySelectorAll("#mention-list li")].some((li) => li.textContent.startsWith("@storage")));
  await page.press("#question", "Tab");
  await wait("Tab puts it in the question", () => document.querySelector("#question").value === "is @storage " && !document.querySelector("#mention-list"));
  await page.fill("#question", "");

  // Stop: a slow model (300 ms a token) is cut off, and the model server sees the close.
  const before = await (await fetch(modelUrl + "/scripted/stats")).json();
  const assigned = await page.evaluate(() => fetch("/api/settings/endpoints").then((r) => r.json()));
  const ep = assigned.endpoints[0].id;
  await page.evaluate((id) => fetch("/api/settings/assign/guide", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ endpoint_id: id, model: "slow:latest" }) }), ep);
  await page.fill("#question", "Tell me a long story about this machine");
  await page.press("#question", "Enter");
  await wait("while it answers, Stop is offered", () => !!document.querySelector("#stop-button"));
  await page.waitForTimeout(1000);
  await page.click("#stop-button");
  await wait("Stop ends the answer", () => !!document.querySelector("#ask-button") &&
    [...document.querySelectorAll(".msg.assistant .steps div")].some((d) => d.textContent === "stopped"));
  let after = before;
  for (let i = 0; i < 50 && after.cancelled <= before.cancelled; i++) {
    await new Promise((r) => setTimeout(r, 200));
    after = await (await fetch(modelUrl + "/scripted/stats")).json();
  }
  if (after.cancelled <= before.cancelled) throw new Error(`the model server did not see the stream closed: ${JSON.stringify(after)}`);
  ok(`the model server saw the stream closed (cancelled ${before.cancelled} -> ${after.cancelled})`);

  // A tool call a slow model is still writing (1.5 s here, many seconds on a CPU) shows as a
  // step at once, before its result; a cut-off answer says so.
  // Over the OpenAI protocol, whose calls stream their name before their arguments (Ollama
  // sends a call whole).
  await page.evaluate((url) => fetch("/api/settings/endpoints", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: "oai", name: "scripted (OpenAI)", url, provider: "openai" }) }), modelUrl + "/v1");
  await page.evaluate(() => fetch("/api/settings/assign/guide", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ endpoint_id: "oai", model: "slow-tool" }) }));
  const asked = await page.$$eval(".msg.assistant", (b) => b.length);
  await page.fill("#question", "How much disk space is left?");
  await page.press("#question", "Enter");
  await wait("the tool call being written is shown before its result", (n) => {
    const steps = [...([...document.querySelectorAll(".msg.assistant")][n]?.querySelectorAll(".steps div") ?? [])].map((d) => d.textContent);
    return steps.some((s) => s.includes("the model is writing a call of check_disk_space")) && !steps.some((s) => s.includes("check_disk_space {"));
  }, asked, 10000);
  await wait("then the call's result", (n) =>
    [...([...document.querySelectorAll(".msg.assistant")][n]?.querySelectorAll(".steps div") ?? [])].some((d) => d.textContent.includes("check_disk_space {")), asked, 15000);
  await wait("the answer is complete", () => !document.querySelector("#stop-button"), undefined, 15000);
  await page.evaluate((id) => fetch("/api/settings/assign/guide", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ endpoint_id: id, model: "length" }) }), ep);
  await page.fill("#question", "hello");
  await page.press("#question", "Enter");
  await wait("an answer cut off at the token limit says so", (n) =>
    /cut off at the model's token limit/.test([...document.querySelectorAll(".msg.assistant")][n]?.textContent ?? ""), asked + 1, 15000);
  await wait("and is complete", () => !document.querySelector("#stop-button"), undefined, 15000);
  ok("a tool call being written, and an answer cut off at the limit, are shown as such");

  // An image goes with the question, to the vision model.
  await page.evaluate((id) => fetch("/api/settings/assign/vision", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ endpoint_id: id, model: "scripted-vision:latest" }) }), ep);
  await page.evaluate((id) => fetch("/api/settings/assign/guide", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ endpoint_id: id, model: "scripted:8b" }) }), ep);
  // A 1x1 PNG.
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
  await page.setInputFiles("#chat-images", { name: "screen.png", mimeType: "image/png", buffer: png });
  await wait("the image is attached, with a thumbnail", () => /screen\.png/.test(document.querySelector("#chat-attached")?.textContent ?? "") && !!document.querySelector("#chat-attached img.thumb"));
  const answers = await page.$$eval(".msg.assistant", (b) => b.length);
  await page.fill("#question", "What does this screenshot show?");
  await page.press("#question", "Enter");
  await wait("the question with the image goes to the vision model", (n) => {
    const last = [...document.querySelectorAll(".msg.assistant")][n];
    return !!last && /scripted-vision/.test(last.querySelector(".steps")?.textContent ?? "") && !document.querySelector("#stop-button");
  }, answers, 20000);
  if (await page.$("#chat-attached img")) throw new Error("the image stayed attached after it was sent");
  ok("and the attachment is cleared once sent");

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
