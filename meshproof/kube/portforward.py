"""Reaching the ingress gateway through the API server when it has no outside address.

A listener on 127.0.0.1 tunnels each accepted connection to the gateway pod
through the ``pods/portforward`` subresource, like ``kubectl port-forward``.
"""
from __future__ import annotations

import select
import socket
import threading

from kubernetes import client
from kubernetes.stream import portforward

from ..cluster import Endpoint
from ..errors import InfrastructureError
from .client import one_line

_CHUNK = 65536


class PortForward:
    def __init__(self, api: client.ApiClient, namespace: str, pod: str, port: int) -> None:
        self._core = client.CoreV1Api(api)
        self._target = (namespace, pod, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = Endpoint("127.0.0.1", self._listener.getsockname()[1])
        #: why a tunnel could not be opened, once one could not: a closed connection is then no verdict
        self.failure: str | None = None
        threading.Thread(target=self._accept, daemon=True, name=f"port-forward {pod}:{port}").start()

    def _open(self):
        namespace, pod, port = self._target
        try:
            forward = portforward(self._core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
            return forward, forward.socket(port)
        except Exception as exc:  # noqa: BLE001 - any failure to tunnel is the suite's, in one line
            self.failure = f"pods/portforward to {namespace}/{pod}:{port}: {one_line(exc)}"
            raise InfrastructureError(self.failure) from None

    def check(self) -> None:
        """Open one tunnel and close it: InfrastructureError (one line) when the API server or kubelet refuses."""
        forward, _ = self._open()
        forward.close()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        try:
            forward, remote = self._open()
        except InfrastructureError:
            conn.close()  # recorded in self.failure: machinery_fault() tells the closed connection apart
            return
        remote.setblocking(True)
        try:
            _pump(conn, remote)
        finally:
            conn.close()
            forward.close()


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [])
        for sock in readable:
            data = sock.recv(_CHUNK)
            if not data:
                return
            peers[sock].sendall(data)
