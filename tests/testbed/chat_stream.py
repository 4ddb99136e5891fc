#!/usr/bin/env python3
"""Watch one streamed chat from a WebSocket client (standard library only).

    chat_stream.py BASE_URL MESSAGE

Opens BASE_URL/ws (same Origin, as the dashboard does), then POSTs MESSAGE to
BASE_URL/api/chat/send with a fresh request_id, and prints every /ws event of that request
with the milliseconds since the POST: decisions, each chat_token, chat_complete. Then prints
the POST's status and a summary line. Exit 0 iff the tokens, joined in order, are exactly the
response of both chat_complete and the POST.
"""
import json, os, sys, threading, time, urllib.error, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minws import WebSocket  # noqa: E402

base, message = sys.argv[1].rstrip("/"), sys.argv[2]
u = urllib.parse.urlparse(base)
ws = WebSocket(u.hostname, u.port or 80, origin=base, timeout=200)
if not ws.accepted:
    sys.exit("websocket refused: " + ws.status)

rid = "demo-" + os.urandom(4).hex()
result = {}


def post():
    req = urllib.request.Request(base + "/api/chat/send", method="POST",
                                 data=json.dumps({"message": message, "request_id": rid}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=200) as r:
            result["status"], result["body"] = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        result["status"], result["body"] = e.code, json.load(e)


t0 = time.monotonic()
th = threading.Thread(target=post)
th.start()
tokens, complete, first = [], None, None
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
    else:
        print(f"{ms:8.1f} ms  {m['type']} {json.dumps(m['data'])[:300]}")
th.join()
total = (time.monotonic() - t0) * 1000
print(f"POST /api/chat/send -> HTTP {result['status']} after {total:.1f} ms")
if result["status"] != 200:
    print(json.dumps(result["body"]))
    sys.exit(1)
text = "".join(tokens)
print(f"{len(tokens)} tokens, first after {first:.1f} ms, complete after {total:.1f} ms; "
      f"tool_calls={json.dumps(result['body'].get('tool_calls'))}")
ok = complete is not None and text == complete["response"] == result["body"]["response"]
print("tokens joined == chat_complete.response == POST response:", ok)
sys.exit(0 if ok else 1)
