"""The gRPC Health Checking Protocol as a prober runs it, and the kubelet's gRPC prober process.

:func:`check` is one ``grpc.health.v1.Health/Check`` call over plaintext
HTTP/2, as the kubelet makes it for a ``grpc`` probe (kubernetes/kubernetes
``pkg/probe/grpc/grpc.go``: insecure credentials, user agent
``kube-probe/<version>``, the probe's ``timeoutSeconds`` for dial and call, an
optional ``service``, success only on ``SERVING``) and as pilot-agent makes it
for a rewritten one (istio/istio ``pilot/cmd/pilot-agent/status/server.go``,
handleAppProbeGRPC, the same rules against localhost).

Both dial with ``WithBlock``: a connection the sidecar resets is retried until
the timeout and the probe fails as a timeout.  Here the call fails at the first
failed connection (``wait_for_ready`` off), with what that connection saw (a
reset, a refusal): the same verdict, reported sooner and with its cause.

grpcio runs its connections on threads of its own, which would not be in the
network namespace a calling thread entered; so the kubelet stand-in, a thread
of the test process in the node's namespace, asks a helper process started in
that namespace (``python -m meshproof.local.grpc_health <socket>``): one JSON
line per request on a Unix socket, one JSON line back.
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import time
from pathlib import Path

from ..errors import InfrastructureError
from ..outcome import HEALTH, SERVING, Outcome, classify_grpc_error
from . import host
from .processes import IMPORT_ROOT, Supervisor

#: the kubelet's user agent, as pkg/probe/grpc/grpc.go sets it (``kube-probe/<major>.<minor>``)
KUBE_PROBE_AGENT = "kube-probe/meshproof"
#: the prober process's name (meshproof.local.backend reports it as machinery when it exits on its own)
PROBER_NAME = "kubelet gRPC prober"
#: how long the prober process may take to listen (it imports grpcio first), in seconds
PROBER_START_TIMEOUT = 30.0


def preload() -> None:
    """Import grpcio now, so that the first probe's timeout is not spent importing it (about 1 s on a busy host)."""
    import grpc  # noqa: F401, PLC0415
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: F401, PLC0415


def check(host: str, port: int, service: str, timeout: float, *, user_agent: str = KUBE_PROBE_AGENT) -> Outcome:
    """One Health/Check of ``service`` ("" is the server as a whole) at ``host:port`` within ``timeout`` seconds.

    Returns ``HEALTH(<serving status>)`` when the server answered, else the
    classified failure (meshproof.outcome.classify_grpc_error).  Success, for a
    prober, is ``SERVING`` and nothing else.
    """
    import grpc  # noqa: PLC0415 - grpcio starts threads when imported: only processes that probe gRPC load it
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

    target = f"{host}:{port}"
    with grpc.insecure_channel(target, options=[("grpc.primary_user_agent", user_agent)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            return classify_grpc_error(error.code().name, error.details() or "")
    return HEALTH(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


def passed(outcome: Outcome) -> bool:
    """A gRPC probe succeeds on ``SERVING`` only (pkg/probe/grpc/grpc.go: anything else is "service unhealthy")."""
    return SERVING.matches(outcome)


class _Prober(socketserver.StreamRequestHandler):
    """One request line ``{"host", "port", "service", "timeout"}``; answers ``{"outcome": "<Outcome>", "ok": bool}``."""

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        outcome = check(request["host"], int(request["port"]), request.get("service", ""), float(request["timeout"]))
        self.wfile.write(json.dumps({"outcome": str(outcome), "ok": passed(outcome)}).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def launch_prober(supervisor: Supervisor, netns: str, directory: Path, poll_interval: float) -> Path:
    """Start the kubelet's gRPC prober in the network namespace ``netns``; its socket once it accepts requests.

    Raises InfrastructureError when it exits or does not listen within :data:`PROBER_START_TIMEOUT`.
    """
    path = directory / "kubelet-grpc-prober.sock"
    argv = host.netns_exec(netns, [sys.executable, "-m", __name__, str(path)])
    process = supervisor.start(PROBER_NAME, argv, directory / "kubelet-grpc-prober.log",
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": IMPORT_ROOT})
    deadline = time.monotonic() + PROBER_START_TIMEOUT
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(path))
            return path
        except OSError:
            pass
        if not process.alive():
            raise InfrastructureError(f"the {PROBER_NAME} exited: {process.fatal_line()}")
        if time.monotonic() > deadline:
            raise InfrastructureError(f"the {PROBER_NAME} did not listen within {PROBER_START_TIMEOUT:g}s")
        time.sleep(poll_interval)


def main(argv: list[str]) -> None:
    """Serve the kubelet's gRPC probes on the Unix socket ``argv[0]`` (mode 0600) until killed."""
    preload()
    path = Path(argv[0])
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = _Server(str(path), _Prober)
    finally:
        os.umask(old_umask)
    print(f"kubelet gRPC prober listening on {path}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
