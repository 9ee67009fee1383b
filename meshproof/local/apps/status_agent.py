"""The sidecar's status port (pilot-agent's 15020): app health the kubelet can reach under STRICT.

``GET /app-health/<container>/readyz|livez`` runs the app's original probe
(from ``ISTIO_KUBE_APP_PROBERS``) against 127.0.0.1, which inbound capture
never sees: an httpGet answers with the app's status (500 when the app cannot
be reached), a tcpSocket with 200 when a connection opens and 500 when it does
not (istio/istio pilot/cmd/pilot-agent/status/server.go, handleAppProbeTCPSocket).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from meshproof.local.probes import APP_PROBERS_ENV, STATUS_PORT

APP_UNREACHABLE = 500


def probe_app(prober: dict) -> int:
    timeout = prober.get("timeoutSeconds", 1)
    if "tcpSocket" in prober:
        try:
            socket.create_connection(("127.0.0.1", int(prober["tcpSocket"]["port"])), timeout=timeout).close()
        except OSError:
            return APP_UNREACHABLE
        return 200
    get = prober["httpGet"]
    connection = http.client.HTTPConnection("127.0.0.1", int(get["port"]), timeout=timeout)
    try:
        connection.request("GET", get.get("path", "/"))
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return APP_UNREACHABLE
    finally:
        connection.close()


class StatusPort(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    probers: dict[str, dict] = {}

    def log_message(self, format: str, *args) -> None:
        print(f"pilot-agent status {format % args}", flush=True)

    def do_GET(self) -> None:
        prober = self.probers.get(self.path)
        status = probe_app(prober) if prober is not None else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    StatusPort.probers = json.loads(os.environ.get(APP_PROBERS_ENV) or "{}")
    ThreadingHTTPServer(("0.0.0.0", STATUS_PORT), StatusPort).serve_forever()


if __name__ == "__main__":
    main()
