"""Stand-in for Istio's ``tcp-echo-server`` sample (samples/tcp-echo/src/main.go in istio/istio).

Same arguments as the upstream image: a comma-separated list of ports and a
prefix; each line a client sends is answered with ``<prefix> <line>`` on the
same connection, which stays open until the client closes it. Once listening it
creates the file named by MESHPROOF_READY_FILE so the pod can turn ready.
"""
from __future__ import annotations

import os
import socketserver
import sys
import threading
from pathlib import Path


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def handler(prefix: str) -> type[socketserver.StreamRequestHandler]:
    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                if not line.endswith(b"\n"):  # upstream answers whole lines only
                    return
                self.wfile.write(prefix.encode() + b" " + line)
                self.wfile.flush()

    return Echo


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: tcp_echo PORT[,PORT...] PREFIX")
    ports, prefix = [int(p) for p in argv[0].split(",")], argv[1]
    servers = [_Server(("0.0.0.0", port), handler(prefix)) for port in ports]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on {', '.join(str(p) for p in ports)}, prefix: {prefix}", flush=True)
    ready = os.environ.get("MESHPROOF_READY_FILE")
    if ready:
        Path(ready).touch()
    servers[0].serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
