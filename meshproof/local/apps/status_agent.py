"""The sidecar's status port (pilot-agent's 15020): app health the kubelet can reach under STRICT.

``GET /app-health/<container>/readyz|livez|startupz`` runs the app's original
probe (from ``ISTIO_KUBE_APP_PROBERS``) against 127.0.0.1, which inbound
capture never sees: an httpGet answers with the app's status (500 when the app
cannot be reached), a tcpSocket with 200 when a connection opens and 500 when
it does not, a grpc with 200 when the app's health service answers SERVING and
500 otherwise (not serving, unknown service, no health service, no
connection); a path with no prober is a 400 (istio/istio
pilot/cmd/pilot-agent/status/server.go: handleAppProbe, handleAppProbeTCPSocket,
handleAppProbeGRPC).  The gRPC call passes the kubelet's User-Agent on, as
pilot-agent does.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from meshproof.local.status_port import APP_PROBERS_ENV, STATUS_PORT

APP_UNREACHABLE = 500
#: what pilot-agent answers for an app-health path it has no prober for ("app prober config does not exists")
NO_PROBER = 400


def probe_app(prober: dict, user_agent: str | None = None) -> int:
    timeout = prober.get("timeoutSeconds", 1)
    if "grpc" in prober:
        from meshproof.local import grpc_health  # noqa: PLC0415 - grpcio and its helpers only for gRPC probes

        grpc = prober["grpc"]
        outcome = grpc_health.check("127.0.0.1", int(grpc["port"]), grpc.get("service") or "", timeout,
                                    user_agent=user_agent or grpc_health.KUBE_PROBE_AGENT)
        print(f"pilot-agent gRPC probe of :{grpc['port']}: {outcome}", flush=True)
        return 200 if grpc_health.passed(outcome) else APP_UNREACHABLE
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
        if prober is not None:
            status = probe_app(prober, self.headers.get("User-Agent"))
        else:
            status = NO_PROBER if self.path.startswith("/app-health/") else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    StatusPort.probers = json.loads(os.environ.get(APP_PROBERS_ENV) or "{}")
    if any("grpc" in prober for prober in StatusPort.probers.values()):
        from meshproof.local import grpc_health  # noqa: PLC0415 - see probe_app

        grpc_health.preload()
    ThreadingHTTPServer(("0.0.0.0", STATUS_PORT), StatusPort).serve_forever()


if __name__ == "__main__":
    main()
