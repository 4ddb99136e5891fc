#!/usr/bin/env python3
"""A byte relay between a TCP port and a Unix socket (standard library only).

    relay.py unix PATH tcp HOST PORT     listen on the Unix socket PATH, connect to HOST:PORT
    relay.py tcp HOST PORT unix PATH     listen on HOST:PORT, connect to the Unix socket PATH

The testbed's network is private; its share directory is bind-mounted, so a Unix socket made
there inside is connectable from the host. Two relays, one on each side, let the host's
browser reach a halbert-web inside: the inside relay runs as that user, so halbert-web sees a
loopback client of its own uid, and both sides use the same port, so the Host and Origin the
browser sends are the ones halbert-web expects.
"""
import os, socket, sys, threading


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, connect):
    while True:
        c, _ = listener.accept()
        try:
            up = connect()
        except OSError:
            c.close()
            continue
        threading.Thread(target=pump, args=(c, up), daemon=True).start()
        threading.Thread(target=pump, args=(up, c), daemon=True).start()


def main(argv):
    if argv[:1] == ["unix"] and argv[2:3] == ["tcp"]:
        path, host, port = argv[1], argv[3], int(argv[4])
        if os.path.exists(path):
            os.remove(path)
        lst = socket.socket(socket.AF_UNIX)
        lst.bind(path)
        os.chmod(path, 0o600)
        connect = lambda: socket.create_connection((host, port))
    elif argv[:1] == ["tcp"] and argv[3:4] == ["unix"]:
        host, port, path = argv[1], int(argv[2]), argv[4]
        lst = socket.socket(socket.AF_INET)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((host, port))

        def connect():
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
    else:
        sys.exit(__doc__)
    lst.listen(64)
    serve(lst, connect)


if __name__ == "__main__":
    main(sys.argv[1:])
