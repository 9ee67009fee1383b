"""Stand-in for Kubernetes' e2e test image agnhost, its ``grpc-health-checking`` subcommand only.

``agnhost grpc-health-checking`` is what Kubernetes' own e2e tests probe with
``grpc`` probes (kubernetes/kubernetes test/e2e/common/node/container_probe.go;
source test/images/agnhost/grpc-health-checking/grpc-health-checking.go).
Its observable behaviour, kept here:

- a gRPC server on ``--port`` (default 5000) with ``grpc.health.v1.Health``:
  Check answers ``SERVING``, or ``NOT_SERVING`` once ``--delay-unhealthy-sec``
  seconds have passed since start (negative, the default: never; 0: from the
  start) or after ``/make-not-serving``; a Check of any service other than
  ``--service`` (default "") fails with ``NOT_FOUND`` "unknown service"; Watch
  is ``UNIMPLEMENTED``;
- an HTTP server on ``--http-port`` (default 8080): ``GET /make-not-serving``
  and ``/make-serving`` force the status, answering 200 with the time since start.

Once both listen it creates the file named by MESHPROOF_READY_FILE.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: the agnhost subcommands the stand-in runs
SUBCOMMANDS = ("grpc-health-checking",)


class Health:
    """The serving status: SERVING until the delay passes or a forced status says otherwise."""

    def __init__(self, service: str, delay_unhealthy: int) -> None:
        self.service, self.delay_unhealthy = service, delay_unhealthy
        self.started = time.monotonic()
        self.forced_unhealthy: bool | None = None

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.3f}s"

    def serving(self) -> bool:
        if self.forced_unhealthy is not None and self.forced_unhealthy:
            return False
        return not (self.delay_unhealthy >= 0 and time.monotonic() - self.started >= self.delay_unhealthy)


def control_handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            print(f"http {format % args}", flush=True)

        def do_GET(self) -> None:
            forced = {"/make-not-serving": True, "/make-serving": False}.get(self.path.split("?", 1)[0])
            if forced is None:
                body, status = b"404 page not found\n", 404
            else:
                health.forced_unhealthy = forced
                print(f"Mark as {'unhealthy' if forced else 'healthy'}", flush=True)
                body, status = health.elapsed().encode(), 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Control


def grpc_server(health: Health, port: int):
    import grpc  # noqa: PLC0415 - only this subcommand needs grpcio
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    class Checker(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):  # noqa: N802 - the protocol's method name
            print(f"Serving the Check request for health check, started {health.elapsed()} ago", flush=True)
            if request.service != health.service:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            status = health_pb2.HealthCheckResponse.SERVING if health.serving() else \
                health_pb2.HealthCheckResponse.NOT_SERVING
            return health_pb2.HealthCheckResponse(status=status)

        def Watch(self, request, context):  # noqa: N802
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "unimplemented")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(Checker(), server)
    if server.add_insecure_port(f"0.0.0.0:{port}") != port:
        sys.exit(f"Error while starting the listening service on :{port}")
    return server


def grpc_health_checking(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="agnhost grpc-health-checking")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--delay-unhealthy-sec", type=int, default=-1)
    parser.add_argument("--service", default="")
    args = parser.parse_args(argv)
    health = Health(args.service, args.delay_unhealthy_sec)
    control = ThreadingHTTPServer(("0.0.0.0", args.http_port), control_handler(health))
    threading.Thread(target=control.serve_forever, daemon=True).start()
    server = grpc_server(health, args.port)
    server.start()
    print(f"gRPC server listening on :{args.port}, http on :{args.http_port}", flush=True)
    ready = os.environ.get("MESHPROOF_READY_FILE")
    if ready:
        Path(ready).touch()
    server.wait_for_termination()


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in SUBCOMMANDS:
        sys.exit(f"agnhost stand-in runs {', '.join(SUBCOMMANDS)} only, not {argv[:1]}")
    grpc_health_checking(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
