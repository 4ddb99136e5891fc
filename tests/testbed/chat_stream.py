#!/usr/bin/env python3
"""Watch one streamed chat from a WebSocket client (standard library only).

    chat_stream.py BASE_URL MESSAGE

Opens BASE_URL/ws (same Origin, as the dashboard does), then POSTs MESSAGE to
BASE_URL/api/chat/send with a fresh request_id, and prints every /ws event of that request
with the milliseconds since the POST: decisions, each chat_token, chat_complete. Then prints
the POST's status and a summary line. Exit 0 iff the tokens, joined in order, are exactly the
response of both chat_complete and the POST.
"""
import base64, json, os, socket, sys, threading, time, urllib.error, urllib.parse, urllib.request

base, message = sys.argv[1].rstrip("/"), sys.argv[2]
u = urllib.parse.urlparse(base)
host, port = u.hostname, u.port or 80
key = base64.b64encode(os.urandom(16)).decode()
s = socket.create_connection((host, port), timeout=200)
s.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base}\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("websocket closed during the handshake")
    buf += chunk
head, _, rest = buf.partition(b"\r\n\r\n")
status_line = head.split(b"\r\n")[0].decode()
if " 101 " not in status_line + " ":
    sys.exit("websocket refused: " + status_line)


def read_exact(n):
    global rest
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        rest += chunk
    out, rest = rest[:n], rest[n:]
    return out


def frames():
    while True:
        b0, b1 = read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(read_exact(2), "big")
        elif n == 127:
            n = int.from_bytes(read_exact(8), "big")
        payload = read_exact(n)
        if b0 & 0x0F == 0x8:
            return
        if b0 & 0x0F == 0x1:
            yield json.loads(payload)


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
for m in frames():
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
