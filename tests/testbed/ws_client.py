#!/usr/bin/env python3
"""A minimal RFC 6455 WebSocket client (standard library only) for the testbed suite.

    ws_client.py HOST PORT ORIGIN COUNT TIMEOUT

Connects to ws://HOST:PORT/ws with the given Origin ("-" for none), reads text frames until
COUNT `system_status` messages arrived or TIMEOUT seconds passed, prints each message type and
the HTTP status of the handshake. Exit 0 iff COUNT system_status messages were received;
exit 3 if the upgrade was refused (the status line is printed).
"""
import base64, json, os, socket, sys, time

host, port, origin, count, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
key = base64.b64encode(os.urandom(16)).decode()
s = socket.create_connection((host, port), timeout=timeout)
req = (f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
if origin != "-":
    req += f"Origin: {origin}\r\n"
s.sendall((req + "\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
head, _, rest = buf.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0].decode()
print("handshake:", status)
if " 101 " not in status + " ":
    print(rest.decode(errors="replace"))
    sys.exit(3)

def read_exact(n):
    global rest
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        rest += chunk
    out, rest = rest[:n], rest[n:]
    return out

deadline = time.time() + timeout
got = 0
while got < count and time.time() < deadline:
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(8), "big")
    payload = read_exact(n)
    if b0 & 0x0F == 0x8:
        print("closed by server")
        break
    if b0 & 0x0F == 0x1:
        msg = json.loads(payload)
        print("message:", msg["type"], json.dumps(msg["data"])[:200])
        if msg["type"] == "system_status":
            got += 1
sys.exit(0 if got >= count else 1)
