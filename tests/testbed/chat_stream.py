#!/usr/bin/env python3
"""Watch one streamed chat from a WebSocket client (standard library only).

    chat_stream.py BASE_URL MESSAGE [FILE]

Opens BASE_URL/ws (same Origin, as the dashboard does), then POSTs MESSAGE to
BASE_URL/api/chat/send with a fresh request_id (with FILE: to /api/chat/config, asking for
edits to that file as read here), and prints every /ws event of that request with the
milliseconds since the POST: decisions, tool calls being written, each chat_token, and the
closing chat_complete or chat_error. Then prints the POST's status and a summary line. Exit 0
iff the tokens, joined in order, are exactly the response of both chat_complete and the POST.
"""
import json, os, sys, threading, time, urllib.error, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minws import WebSocket  # noqa: E402

base, message = sys.argv[1].rstrip("/"), sys.argv[2]
file_path = sys.argv[3] if len(sys.argv) > 3 else None
u = urllib.parse.urlparse(base)
ws = WebSocket(u.hostname, u.port or 80, origin=base, timeout=200)
if not ws.accepted:
    sys.exit("websocket refused: " + ws.status)

rid = "demo-" + os.urandom(4).hex()
result = {}


def post():
    body, path = {"message": message, "request_id": rid}, "/api/chat/send"
    if file_path:
        with open(file_path, encoding="utf-8") as f:
            body.update(file_path=os.path.abspath(file_path), file_content=f.read())
        path = "/api/chat/config"
    req = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=200) as r:
            result["status"], result["body"] = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        result["status"], result["body"] = e.code, json.load(e)


t0 = time.monotonic()
th = threading.Thread(target=post)
th.start()
tokens, complete, first, failed = [], None, None, None
for m in ws.messages():
    if m["data"].get("request_id") != rid:
        continue
    ms = (time.monotonic() - t0) * 1000
    if m["type"] == "chat_token" and not m["data"]["done"]:
        first = first if first is not None else ms
        tokens.append(m["data"]["token"])
        print(f"{ms:8.1f} ms  chat_token {json.dumps(m['data']['token'])}")
    elif m["type"] == "chat_complete":
        complete = m["data"]
        print(f"{ms:8.1f} ms  chat_complete debug={json.dumps(complete['debug'])}")
        break
    elif m["type"] == "chat_error":
        # The request's other ending: it failed after it began (or its client went away).
        failed = m["data"]
        print(f"{ms:8.1f} ms  chat_error {json.dumps(failed)}")
        break
    else:
        print(f"{ms:8.1f} ms  {m['type']} {json.dumps(m['data'])[:300]}")
th.join()
total = (time.monotonic() - t0) * 1000
print(f"POST {'/api/chat/config' if file_path else '/api/chat/send'} -> HTTP {result['status']} after {total:.1f} ms")
if result["status"] != 200:
    print(json.dumps(result["body"]))
    if failed is not None and failed["detail"] != result["body"].get("detail"):
        print("chat_error and the POST disagree")
    sys.exit(1)
if file_path:
    b = result["body"]
    print(f"summary: {b['summary']}")
    print(f"applied={b['applied']} unapplied={json.dumps(b['unapplied'])} malformed={json.dumps(b['malformed'])} "
          f"approval={b.get('approval_id') or b.get('approval_note')}")
text = "".join(tokens)
print(f"{len(tokens)} tokens, first after {first:.1f} ms, complete after {total:.1f} ms; "
      f"tool_calls={json.dumps(result['body'].get('tool_calls'))}")
ok = complete is not None and text == complete["response"] == result["body"]["response"]
print("tokens joined == chat_complete.response == POST response:", ok)
sys.exit(0 if ok else 1)
