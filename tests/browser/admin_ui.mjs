// The admin pages in a real headless Chromium (Debian's, driven by playwright-core).
//
//     node admin_ui.mjs DASHBOARD_URL PARTS [HOST_ROOT] [SCREENSHOT_DIR]
//
// PARTS is a comma-separated list of:
//   editor    open a file, edit it, see the diff before saving, save it with its version; a
//             change made on disk meanwhile is shown as a conflict and not overwritten; list
//             the backups and restore one. HOST_ROOT is where halbertd's / is, to check the
//             file on disk.
//   terminal  run a command as the user: stdout, stderr and the exit code are shown; the
//             history lists it and the up arrow recalls it.
//   approvals a model's edit of a file (config chat, the scripted model) appears on the
//             Approvals page as it is made, with its diff; Approve writes it through halbertd
//             and the result is shown; a second one rejected leaves the file as it was.
//   overview  the charts get points from /api/status/history, safe mode is entered with a
//             reason and left again, problems are listed.
//   discovery every type's page renders its items from the fixture tree; the table sorts and
//             filters; an item's detail shows its data; Scan now shows the scan's progress and
//             the table again.
//   settings  (LLM_URL: the scripted model server) a model server added (its key not shown),
//             tested and given a role from its model list; routing saved; an AI rule added,
//             turned off and deleted; the user's policy saved beside the read-only system one;
//             memory's collections and a query; the dark theme.
//   daemon-down  (run after halbertd was stopped) every page shows why halbertd cannot be
//             reached and the command that starts it, not a bare error.
//   services  (against real systemd, in the testbed) show hb-ui.service, start it, see it
//             running with its journal, restart it, stop it; a unit whose start fails shows
//             systemd's result.
// Prints each step; exits non-zero on the first failure (with a screenshot when asked).
import { chromium } from "playwright-core";
import fs from "node:fs";

const [dash, parts, hostRoot, shots] = [process.argv[2].replace(/\/$/, ""), process.argv[3].split(","), process.argv[4], process.argv[5]];
const ok = (what) => console.log("ok  ", what);
const onDisk = (p) => fs.readFileSync(hostRoot + p, "utf8");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic"],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
const problems = [];
page.on("console", (m) => { if (m.type() === "error" && !/status of 4\d\d|status of 5\d\d/.test(m.text())) problems.push(m.text()); });
page.on("pageerror", (e) => problems.push(String(e)));
page.on("dialog", (d) => d.accept());
const wait = async (what, fn, arg, timeout = 15000) => {
  await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  ok(what);
};
const text = (sel) => page.evaluate((s) => document.querySelector(s)?.textContent ?? "", sel);

async function editor() {
  const path = "/etc/samba/smb.conf";
  const original = onDisk(path);
  const mode = (fs.statSync(hostRoot + path).mode & 0o777).toString(8).padStart(4, "0");
  await page.goto(dash + "/#/editor");
  await page.fill("#editor-path", path);
  await page.click("#editor-open");
  await wait("the file opens with its content and its mode", ([c, m]) =>
    document.querySelector("#editor-content")?.value === c && (document.querySelector("#editor-meta")?.textContent ?? "").includes(` ${m} · `), [original, mode]);
  const first = original.split("\n")[0];
  const edited = original.replace(first, "# edited in the browser");
  await page.fill("#editor-content", edited);
  if (!(await page.isDisabled("#editor-save"))) throw new Error("Save must wait for the review of the diff");
  await page.click("#editor-review");
  await wait("the diff shows the removed and the added line", (f) => {
    const d = document.querySelector("#editor-diff");
    return !!d && [...d.querySelectorAll(".del")].some((e) => e.textContent === "- " + f) &&
      [...d.querySelectorAll(".add")].some((e) => e.textContent === "+ # edited in the browser");
  }, first);
  await page.click("#editor-save");
  await wait("saved, naming the backup of the previous content", () => /^Saved\. The previous content is backup smb\.conf\.bak\./.test(document.querySelector("#editor-notice.ok")?.textContent ?? ""));
  if (onDisk(path) !== edited) throw new Error("the file on disk is not the saved text");
  ok("the file on disk holds the edit");

  // Someone else changes the file after this page read it.
  await page.fill("#editor-content", edited + "# a second edit\n");
  fs.writeFileSync(hostRoot + path, "# changed behind the page's back\n");
  await page.click("#editor-review");
  await page.click("#editor-save");
  await wait("the conflict is shown", () => /changed on disk since you opened it/.test(document.querySelector("#editor-notice.conflict")?.textContent ?? ""));
  if (onDisk(path) !== "# changed behind the page's back\n") throw new Error("the conflicting save overwrote the file");
  if ((await page.inputValue("#editor-content")) !== edited + "# a second edit\n") throw new Error("the edit was lost");
  ok("nothing was overwritten, and the edit is still in the box");
  await page.click("#editor-reload");
  await wait("reloading shows what is on disk now", () => document.querySelector("#editor-content")?.value === "# changed behind the page's back\n");

  await wait("the backups are listed", () => document.querySelectorAll("#editor-backups tbody tr").length >= 1);
  const rows = await page.$$("#editor-backups tbody tr");
  await rows[rows.length - 1].$eval("button.restore", (b) => b.click());
  await wait("the oldest backup is restored", () => /^Restored smb\.conf\.bak\./.test(document.querySelector("#editor-notice.ok")?.textContent ?? ""));
  if (onDisk(path) !== original) throw new Error("the restore is not byte for byte the original");
  ok("the file on disk is the original again, byte for byte");

  await page.fill("#editor-path", "/etc/shadow");
  await page.click("#editor-open");
  await wait("a file Halbert never serves is refused with the reason", () => /never served or changed by Halbert/.test(document.querySelector("#editor-notice.error")?.textContent ?? ""));
  // The file open is what chat is told a question starting from here is about.
  await page.evaluate(() => (location.hash = "#/chat"));
  await wait("chat knows the file being edited (current_page, page_context)", (p) =>
    (document.querySelector("#chat-context")?.textContent ?? "").includes(`Editing ${p}`), path);
}

async function terminal() {
  await page.goto(dash + "/#/terminal");
  const cmd = "echo hello from the terminal; echo oops >&2; id -u; exit 3";
  await page.fill("#term-command", cmd);
  await page.press("#term-command", "Enter");
  const uid = String(process.getuid());
  await wait("stdout, stderr and the exit code are shown", (u) => {
    const r = document.querySelector("#term-runs .run");
    return !!r && r.querySelector(".out")?.textContent === `hello from the terminal\n${u}\n` &&
      r.querySelector(".err")?.textContent === "oops\n" && /^exit 3 · \d+ ms$/.test(r.querySelector(".exit")?.textContent ?? "");
  }, uid);
  await wait("the history lists it", (c) => document.querySelector("#term-history li button")?.textContent === c, cmd);
  await page.press("#term-command", "ArrowUp");
  if ((await page.inputValue("#term-command")) !== cmd) throw new Error("the up arrow did not recall the command");
  ok("the up arrow recalls it");
}

async function approvals() {
  const path = "/etc/samba/smb.conf";
  const propose = () => page.evaluate(async (p) => {
    const f = await (await fetch(`/api/editor/file?path=${encodeURIComponent(p)}`)).json();
    const r = await fetch("/api/chat/config", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: "add a comment at the end", file_path: p, file_content: f.content }),
    });
    return r.json();
  }, path);
  await page.goto(dash + "/#/approvals");
  await wait("the Approvals page is empty", () => document.querySelector("#no-approvals") !== null);
  const before = onDisk(path);
  const r = await propose();
  if (!r.approval_id) throw new Error("config chat made no approval request: " + JSON.stringify(r).slice(0, 300));
  ok(`config chat's edit is held as ${r.approval_id}`);
  await wait("it appears on the page by itself (approval_request on /ws), with its diff", (id) => {
    const card = document.querySelector(`.approval[data-id="${id}"]`);
    return card && /\+# Added by Halbert/.test(card.querySelector(".approval-diff")?.textContent ?? "");
  }, r.approval_id);
  await wait("the header counts it, on every page", () => document.querySelector("#pending-count")?.textContent === "1");
  if (shots) await page.screenshot({ path: `${shots}/approvals-pending.png`, fullPage: true });
  if (onDisk(path) !== before) throw new Error("the file changed before anyone approved");
  ok("nothing was written before the approval");
  await page.click(`.approval[data-id="${r.approval_id}"] button.approve`);
  await wait("Approve runs it and the result is shown", () =>
    /Approved: Apply the model's edit to \/etc\/samba\/smb\.conf — wrote \/etc\/samba\/smb\.conf/.test(document.querySelector("#approval-results .result.ok")?.textContent ?? ""));
  if (!onDisk(path).endsWith("# Added by Halbert\n")) throw new Error("the approved edit is not on disk");
  ok("the approved edit is on disk");
  await wait("the request left the list and the history shows it approved", (id) =>
    !document.querySelector(`.approval[data-id="${id}"]`) &&
    /approved/.test(document.querySelector("#approval-history")?.textContent ?? ""), r.approval_id);
  const now = onDisk(path);
  const second = await propose();
  await wait("a second edit appears", (id) => document.querySelector(`.approval[data-id="${id}"]`) !== null, second.approval_id);
  await page.click(`.approval[data-id="${second.approval_id}"] button.reject`);
  await wait("Reject says so", () => /^Rejected: /.test(document.querySelector("#approval-results .result.ok")?.textContent ?? ""));
  if (onDisk(path) !== now) throw new Error("a rejected edit changed the file");
  ok("a rejected edit leaves the file as it was");
}

async function services() {
  await page.goto(dash + "/#/services?unit=hb-ui");
  await wait("the unit is shown, inactive", () => /^inactive \(dead\)/.test(document.querySelector("#unit-state")?.textContent ?? ""));
  await page.click("#unit-start");
  await wait("start: systemd's job is done and the unit runs", () =>
    /started hb-ui\.service \(job done; now active\/running\)/.test(document.querySelector("#unit-result.ok")?.textContent ?? ""), undefined, 60000);
  await wait("the state shows its main PID, and the journal the unit's line", () =>
    /^active \(running\).*main PID \d+/.test(document.querySelector("#unit-state")?.textContent ?? "") &&
    /hb-ui says hello/.test(document.querySelector("#unit-logs")?.textContent ?? ""));
  const before = await text("#unit-state");
  await page.click("#unit-restart");
  await wait("restart: a new main PID", (b) => /restarted hb-ui\.service/.test(document.querySelector("#unit-result.ok")?.textContent ?? "") &&
    document.querySelector("#unit-state")?.textContent !== b, before, 60000);
  await page.click("#unit-stop");
  await wait("stop: inactive", () => /stopped hb-ui\.service/.test(document.querySelector("#unit-result.ok")?.textContent ?? "") &&
    /^inactive \(dead\)/.test(document.querySelector("#unit-state")?.textContent ?? ""), undefined, 60000);
  await page.fill("#unit-name", "hb-bad");
  await page.click("#unit-show");
  await wait("another unit by name", () => /^hb-bad\.service/.test(document.querySelector("#unit h3")?.textContent ?? ""));
  await page.click("#unit-start");
  await wait("a failing start shows systemd's result", () =>
    /ended with 'failed' \(the service's result: exit-code\)/.test(document.querySelector("#unit-result.error")?.textContent ?? ""), undefined, 60000);
}

async function overview() {
  await page.goto(dash + "/#/");
  await wait("the CPU chart has points from the history", () =>
    /^CPU (\d+) points/.test(document.querySelector("#chart-cpu figcaption")?.textContent ?? "") &&
    Number(/(\d+) points/.exec(document.querySelector("#chart-cpu figcaption").textContent)[1]) >= 2 &&
    !!document.querySelector("#chart-cpu canvas"), undefined, 40000);
  await wait("the problems are listed, or said to be none", () => !/Loading/.test(document.querySelector("#problems")?.textContent ?? "Loading"));
  await page.fill("#safe-reason", "browser test");
  await page.click("#safe-enter");
  await wait("safe mode entered with its reason", () =>
    /On: browser test/.test(document.querySelector("#safe-mode")?.textContent ?? ""), undefined, 20000);
  await page.click("#safe-exit");
  await wait("and left again", () => !!document.querySelector("#safe-enter"), undefined, 20000);
}

async function discovery() {
  const types = ["storage", "service", "network", "container", "gpu", "sharing", "security", "backup"];
  // The fixture tree is scanned first, so that every page has what it found.
  const r = await page.evaluate((d) => fetch(d + "/api/discovery/scan", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" }).then((r) => r.status), dash);
  if (r !== 202) throw new Error(`scan answered ${r}`);
  for (const t of types) {
    await page.goto(dash + "/#/discovery/" + t);
    await wait(`the ${t} page shows when it was scanned`, () => /Last scanned|Not scanned yet/.test(document.querySelector("#discovery-last-scan")?.textContent ?? ""), undefined, 30000);
  }
  await page.goto(dash + "/#/discovery/storage");
  await wait("storage lists the fixture's disks and filesystems", () =>
    /Last scanned/.test(document.querySelector("#discovery-last-scan")?.textContent ?? "") &&
    document.querySelectorAll("#discovery-table tbody tr").length >= 2, undefined, 30000);
  const names = () => page.evaluate(() => [...document.querySelectorAll("#discovery-table tbody tr td:nth-child(2)")].map((td) => td.textContent));
  await page.click("#discovery-table th:nth-child(2) button");
  await wait("sorting by name orders the rows", () => {
    const n = [...document.querySelectorAll("#discovery-table tbody tr td:nth-child(2)")].map((td) => td.textContent.toLowerCase());
    return n.length >= 2 && n.every((x, i) => i === 0 || n[i - 1] <= x) &&
      document.querySelector("#discovery-table th:nth-child(2)")?.getAttribute("aria-sort") === "ascending";
  });
  await page.click("#discovery-table th:nth-child(2) button");
  await wait("a second click reverses it", () => {
    const n = [...document.querySelectorAll("#discovery-table tbody tr td:nth-child(2)")].map((td) => td.textContent.toLowerCase());
    return n.length >= 2 && n.every((x, i) => i === 0 || n[i - 1] >= x);
  });
  const all = await names();
  await page.fill("#discovery-filter", all[0]);
  await wait("the filter keeps the matching rows", (n) =>
    [...document.querySelectorAll("#discovery-table tbody tr td:nth-child(2)")].every((td) => td.closest("tr").textContent.toLowerCase().includes(n.toLowerCase())) &&
    document.querySelectorAll("#discovery-table tbody tr").length >= 1, all[0]);
  await page.fill("#discovery-filter", "");
  await page.click("#discovery-table tbody tr");
  await wait("the detail view shows the item's data", () => document.querySelectorAll("#discovery-detail table.data tr").length > 0);
  await page.click("#discovery-scan");
  await wait("Scan now shows the scan's progress to its end", () => /scan (done|complete)/.test(document.querySelector("#discovery-progress")?.textContent ?? ""), undefined, 60000);
  await wait("and the table is there again", () => document.querySelectorAll("#discovery-table tbody tr").length >= 2);
}

async function settings() {
  const llm = process.env.LLM_URL;
  await page.goto(dash + "/#/settings");
  await page.fill("#endpoint-name", "Scripted");
  await page.fill("#endpoint-url", llm);
  await page.fill("#endpoint-key", "sk-secret-test-key");
  await page.click("#endpoint-add button");
  await wait("the server is listed, its key only said to be stored", () =>
    [...document.querySelectorAll("#settings-endpoints tbody tr")].some((tr) => /Scripted/.test(tr.textContent) && /stored/.test(tr.textContent)) &&
    !document.body.textContent.includes("sk-secret-test-key"));
  await page.click("#settings-endpoints tbody tr:last-child .endpoint-test");
  await wait("Test answers from the server", () => /^Scripted: /.test(document.querySelector("#settings-endpoints .notice")?.textContent ?? ""));
  const epId = await page.evaluate(() => fetch("/api/settings/endpoints").then((r) => r.json()).then((d) => d.endpoints.find((e) => e.name === "Scripted").id));
  await page.selectOption("#role-specialist select", epId);
  await wait("the specialist's models come from the server's list", () =>
    [...(document.querySelector("#role-specialist .role-model")?.options ?? [])].some((o) => o.value === "scripted:8b"));
  await page.selectOption("#role-specialist .role-model", "scripted:8b");
  await page.click("#role-specialist .role-assign");
  await wait("assigned", () => document.querySelector("#role-specialist .role-current")?.textContent === "scripted:8b");
  await page.selectOption("#routing-strategy", "guide-only");
  await page.click("#settings-routing button");
  await wait("routing saved", () => /Routing saved/.test(document.querySelector("#settings-routing .notice")?.textContent ?? ""));
  await page.fill("#rule-text", "Always name the command you would run");
  await page.click("#settings-rules form button");
  await wait("the rule is listed", () => /Always name the command/.test(document.querySelector("#settings-rules ul")?.textContent ?? ""));
  await page.click("#settings-rules ul li input[type=checkbox]");
  await wait("and turned off", () => document.querySelector("#settings-rules ul li input[type=checkbox]")?.checked === false);
  await page.click("#settings-rules ul li button.link");
  await wait("and deleted", () => document.querySelectorAll("#settings-rules ul li").length === 0);
  await wait("the system-wide policy is shown read-only", () => (document.querySelector("#policy-system")?.textContent ?? "").length > 2);
  const policy = JSON.parse(await page.inputValue("#policy-text"));
  policy.tools = { ...(policy.tools ?? {}), terminal_root: { allow: false } };
  await page.fill("#policy-text", JSON.stringify(policy, null, 2));
  await page.click("#settings-policy form button");
  await wait("the user's policy is saved", () => /Your policy is saved/.test(document.querySelector("#settings-policy .notice")?.textContent ?? ""));
  const saved = await page.evaluate(() => fetch("/api/settings/policy").then((r) => r.json()));
  if (saved.policy.tools.terminal_root?.allow !== false) throw new Error("the saved policy lacks the rule: " + JSON.stringify(saved.policy));
  ok("... and it is what the server keeps");
  await wait("memory lists its collections", () => document.querySelectorAll("#settings-memory > ul li").length >= 1);
  await page.fill("#memory-query", "disk space");
  await page.click("#settings-memory form button");
  await wait("a memory query answers", () => !!document.querySelector("#memory-hits") || /Nothing found/.test(document.querySelector("#settings-memory")?.textContent ?? ""));
  // The scripted server's embedding model becomes memory's embedder; a chat model is refused.
  await wait("the embedder in use is shown", () => /numbers per text/.test(document.querySelector("#embedding-current")?.textContent ?? ""));
  await page.selectOption("#embedding-kind", "endpoint");
  await page.selectOption("#embedding-endpoint", epId);
  await page.fill("#embedding-model", "scripted:8b");
  await page.click("#settings-embedding form button");
  await wait("a chat model is refused in the server's words", () => /does not support embeddings/.test(document.querySelector("#settings-embedding .notice")?.textContent ?? ""));
  await page.fill("#embedding-model", "scripted-embed:latest");
  await page.click("#settings-embedding form button");
  await wait("the server's embedding model is in use", () => /scripted-embed:latest@/.test(document.querySelector("#embedding-current")?.textContent ?? ""));
  await page.selectOption("#embedding-kind", "auto");
  await page.click("#settings-embedding form button");
  await wait("and back to the automatic choice", () => !/scripted-embed/.test(document.querySelector("#embedding-current")?.textContent ?? ""));
  // The manual pages (the fixture pages, tests/stack.sh) are indexed with Index now.
  await page.click("#manuals-index");
  await wait("the manual pages are indexed", () => /^6 pages of sections 1, 5 and 8/.test(document.querySelector("#manuals-status")?.textContent ?? ""), undefined, 30000);
  ok("memory's embedder chosen (a chat model refused), manual pages indexed");
  const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.click("#theme");
  await wait("the theme switches", (b) => getComputedStyle(document.body).backgroundColor !== b, before);
  await page.click("#theme");
}

async function daemonDown() {
  await page.goto(dash + "/#/services");
  await wait("the banner says halbertd is not running and how to start it", () =>
    /halbertd is not running.*systemctl enable --now halbertd\.socket/.test(document.querySelector("#daemon-down")?.textContent ?? "") &&
    /halbertd unreachable/.test(document.querySelector("#link")?.textContent ?? ""), undefined, 30000);
}

try {
  for (const p of parts) {
    await { editor, terminal, approvals, services, overview, discovery, settings, "daemon-down": daemonDown }[p]();
    if (shots) await page.screenshot({ path: `${shots}/${p}.png`, fullPage: true });
  }
  if (problems.length) throw new Error("console errors: " + problems.join(" | "));
  ok("no console errors");
} catch (e) {
  failed = true;
  console.log("FAIL", e.message);
  if (shots) await page.screenshot({ path: `${shots}/failed.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
