"""Whether the suite can reach pods and the gateway at all: found once, said once, then the run stops.

Exec, logs and port-forwards go from the API server to the pod's kubelet.
When that path is broken (a kubelet that refuses or never answers, a proxy
in between, RBAC on the streaming subresources) every check would fail the
same way and look like a mesh failure; instead the first such failure is an
:class:`~meshproof.errors.InfrastructureError` naming the cause, and every
later call fails at once with the same line (:class:`Reach`).
"""
from __future__ import annotations

import re
import socket

from kubernetes import client

from ..cluster import Endpoint
from ..errors import InfrastructureError
from .client import one_line

#: ``Handshake status 502 Bad Gateway -+-+- {headers} -+-+- b'{json}'`` as websocket-client words a refused upgrade
_HANDSHAKE = re.compile(r"Handshake status (\d{3})")


def stream_status(exc: BaseException) -> int:
    """The HTTP status of a refused exec/port-forward upgrade; 0 when the connection itself failed."""
    if isinstance(exc, client.ApiException):
        if exc.status:
            return int(exc.status)
        found = _HANDSHAKE.search(str(exc.reason or ""))
        return int(found.group(1)) if found else 0
    found = _HANDSHAKE.search(str(exc))
    return int(found.group(1)) if found else 0


def path_broken(status: int) -> bool:
    """No connection, no right to stream (403), or the API server could not reach the kubelet (5xx)."""
    return status == 0 or status == 403 or status >= 500


class Reach:
    """Latches the first "cannot reach pods" cause of a run."""

    def __init__(self) -> None:
        self.cause: str | None = None

    def check(self) -> None:
        if self.cause:
            raise InfrastructureError(self.cause)

    def broken(self, what: str, exc: BaseException) -> InfrastructureError:
        """Record (the first time) and return the error for a broken path to a pod."""
        if self.cause is None:
            self.cause = f"the suite cannot reach pods through the API server ({what}: {one_line(exc)})"
        return InfrastructureError(self.cause)


def tcp_reachable(endpoint: Endpoint, *, timeout: float) -> str:
    """'' when a TCP connection to ``endpoint`` opens within ``timeout``, else why not (one line)."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return ""
    except OSError as exc:
        return f"{endpoint.host}:{endpoint.port}: {exc.strerror or type(exc).__name__}"
