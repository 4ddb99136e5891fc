#!/usr/bin/env python3
"""The dashboard's chat in a real headless Chromium, driven over the DevTools protocol
(standard library only).

    chat_ui.py DASHBOARD_URL MODEL_URL SCREENSHOT.png

Against a fresh halbert-web (no model configured) and the scripted model server: the page
offers the model set-up; filling it in assigns the guide; a question is answered with the
tool steps shown, the text rendered while it streams (more than one update of the bubble), the
final text equal to what the API returned, and the exchange stored as a conversation. Prints
each step; exits non-zero on the first failure.
"""
import base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testbed"))
from minws import WebSocket  # noqa: E402

dash, model_url, shot = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if not browser:
    sys.exit("no chromium on PATH")
profile = tempfile.mkdtemp(prefix="halbert-chromium-")
proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--remote-debugging-port=0", f"--user-data-dir={profile}",
                         "--window-size=1200,1000", dash + "/"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_browser():
    # Chromium's helpers (zygote, renderers, GPU) are its children: end the whole group.
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    proc.wait()
    shutil.rmtree(profile, ignore_errors=True)


def fail(msg):
    print("FAIL", msg)
    stop_browser()
    sys.exit(1)


port_file = os.path.join(profile, "DevToolsActivePort")
for _ in range(200):
    if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
        break
    time.sleep(0.05)
else:
    fail("chromium did not open its DevTools port")
port = int(open(port_file).read().split("\n")[0])
for _ in range(100):
    pages = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
             if t["type"] == "page"]
    if pages:
        break
    time.sleep(0.05)
ws_path = "/" + pages[0]["webSocketDebuggerUrl"].split("/", 3)[3]
devtools = WebSocket("127.0.0.1", port, path=ws_path, timeout=30)
if not devtools.accepted:
    fail("DevTools refused the websocket: " + devtools.status)
incoming = devtools.messages()


ids = iter(range(1, 1 << 30))


def cdp(method, **params):
    i = next(ids)
    devtools.send_json({"id": i, "method": method, "params": params})
    while True:
        m = next(incoming)
        if m.get("id") == i:
            if "error" in m:
                fail(f"{method}: {m['error']}")
            return m.get("result", {})


def js(expr):
    r = cdp("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in r:
        fail(f"{expr}: {r['exceptionDetails']}")
    return r["result"].get("value")


def wait(expr, what, timeout=15):
    deadline = time.time() + timeout
    # The page may not exist yet (or be mid-update): an exception counts as "not yet".
    probe = f"(async () => {{ try {{ return await ({expr}); }} catch (e) {{ return false; }} }})()"
    while time.time() < deadline:
        if js(probe):
            print("ok  ", what)
            return
        time.sleep(0.1)
    fail(f"{what} (waited {timeout} s for {expr})")


wait("document.readyState === 'complete' && document.getElementById('link').textContent === 'live'",
     "the page loaded and /ws is live")
wait("!document.getElementById('setup').hidden", "without a model the page offers the set-up")
js(f"""document.getElementById('setup-url').value = {json.dumps(model_url)};
       document.getElementById('setup-model').value = 'scripted:8b';
       document.getElementById('setup').requestSubmit(); true""")
wait("document.getElementById('chat-model').textContent.includes('scripted:8b') && document.getElementById('setup').hidden",
     "the set-up assigned the guide model")
# Count updates of the answer's text while it streams (not of the steps or the bubbles).
js("""window.__updates = 0;
      new MutationObserver((records) => {
        for (const r of records) {
          const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
          if (el && el.matches('.msg.assistant > div:nth-child(2)')) window.__updates++;
        }
      }).observe(document.getElementById('messages'), {subtree: true, characterData: true, childList: true}); true""")
js("""document.getElementById('question').value = 'How much disk space is left, and what is the system load?';
      document.getElementById('ask').requestSubmit(); true""")
wait("[...document.querySelectorAll('.msg.assistant')].some(b => b.textContent.includes('From the tools:'))",
     "the answer appears")
wait("document.querySelectorAll('.chips').length === 0 && !document.querySelector('.msg.error') && "
     "[...document.querySelectorAll('.msg.assistant .steps div')].map(d => d.textContent).join('|').includes('✓ get_system_load')",
     "the tool steps are shown (check_disk_space, get_system_load)")
updates = js("window.__updates")
# Six tokens then the final text: seven updates when streamed, one when not.
if not updates or updates < 4:
    fail(f"the answer did not stream: {updates} updates of its text")
print("ok  ", f"the answer streamed in ({updates} updates of its text)")
steps = js("[...document.querySelectorAll('.msg.assistant .steps div')].map(d => d.textContent)")
print("     steps:", json.dumps(steps))
if not any("check_disk_space" in x for x in steps) or not any("scripted:8b (guide)" in x for x in steps):
    fail(f"steps: {steps}")
text = js("document.querySelector('.msg.assistant > div:nth-child(2)').textContent")
if '"mountpoint":"/"' not in text:
    fail(f"the answer lacks the disk result: {text[:300]}")
print("ok  ", "the answer quotes halbertd's disk result")
wait("""fetch('/api/conversations').then(r => r.json()).then(d => d.conversations.length === 1 &&
        d.conversations[0].message_count === 3)""", "the exchange is stored as a conversation (greeting + 2)")
png = cdp("Page.captureScreenshot", format="png")["data"]
open(shot, "wb").write(base64.b64decode(png))
print("ok  ", "screenshot", shot)
stop_browser()
print("dashboard chat: all checks passed")
