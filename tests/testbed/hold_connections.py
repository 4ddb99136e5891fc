#!/usr/bin/env python3
"""Opens N connections to 127.0.0.1:PORT and holds them, as another local user would to lock
the owner out of halbert-web. Prints how many the server answered with forbidden_peer and
closed, then keeps the sockets open for HOLD seconds.

    hold_connections.py PORT N HOLD

Exit status 0; the caller checks the printed "closed N refused N" line."""
import resource
import socket
import sys
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("open", len(socks), flush=True)
closed = refused = 0
deadline = time.time() + 20
for s in socks:
    s.settimeout(max(0.1, deadline - time.time()))
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        closed += 1
    except (socket.timeout, ConnectionResetError):
        if data:
            closed += 1
    if b"forbidden_peer" in data:
        refused += 1
print("closed", closed, "refused", refused, flush=True)
time.sleep(hold)
