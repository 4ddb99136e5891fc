#!/usr/bin/env python3
"""A WebSocket client for the testbed suite (standard library only).

    ws_client.py HOST PORT ORIGIN COUNT TIMEOUT [TYPE]

Connects to ws://HOST:PORT/ws with the given Origin ("-" for none), reads text frames until
COUNT messages of TYPE (default `system_status`) arrived or TIMEOUT seconds passed, prints each
message type and the HTTP status of the handshake. Exit 0 iff COUNT such messages were
received; exit 3 if the upgrade was refused (the status line is printed).
"""
import json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from minws import WebSocket  # noqa: E402

host, port, origin, count, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
want = sys.argv[6] if len(sys.argv) > 6 else "system_status"
ws = WebSocket(host, port, origin=None if origin == "-" else origin, timeout=timeout)
print("handshake:", ws.status)
if not ws.accepted:
    print(ws.rest.decode(errors="replace"))
    sys.exit(3)

deadline = time.time() + timeout
got = 0
closed = True
for msg in ws.messages():
    print("message:", msg["type"], json.dumps(msg["data"])[:200])
    if msg["type"] == want:
        got += 1
    if got >= count or time.time() >= deadline:
        closed = False
        break
if closed and got < count:
    print("closed by server")
sys.exit(0 if got >= count else 1)
