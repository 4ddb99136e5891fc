"""A minimal RFC 6455 WebSocket client (standard library only), shared by the test scripts:
ws_client.py and chat_stream.py here, and tests/browser/chat_ui.py (DevTools protocol).

Client frames are masked, as the RFC requires; server frames are read unmasked. Only what the
tests use: text frames out, text and close frames in.
"""
import base64, json, os, socket


class WebSocket:
    def __init__(self, host, port, path="/ws", origin=None, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            req += f"Origin: {origin}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, self.rest = buf.partition(b"\r\n\r\n")
        self.status = head.split(b"\r\n")[0].decode()
        self.accepted = " 101 " in self.status + " "

    def _read_exact(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("connection closed")
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def texts(self):
        """Yields the payload of each text frame until the server closes."""
        while True:
            b0, b1 = self._read_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read_exact(8), "big")
            payload = self._read_exact(n)
            if b0 & 0x0F == 0x8:
                return
            if b0 & 0x0F == 0x1:
                yield payload

    def messages(self):
        """Yields each text frame as JSON until the server closes."""
        for payload in self.texts():
            yield json.loads(payload)

    def send_json(self, obj):
        data = json.dumps(obj).encode()
        n = len(data)
        if n < 126:
            head = bytes([0x81, 0x80 | n])
        elif n < 65536:
            head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
