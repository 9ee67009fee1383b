"""Reaching a pod from outside the mesh, as ``kubectl port-forward`` does.

A forwarder process binds 127.0.0.1:<free port> in the host's own network
namespace, then moves itself into the pod's namespace: the listening socket
stays where it was bound, and every upstream connection it opens afterwards
starts inside the pod.  So a client in the pytest process reaches the gateway
without any route, veth or address being added to the host.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from ..cluster import Endpoint
from ..errors import MeshproofError
from .host import NETNS_RUN
from .processes import IMPORT_ROOT, Supervisor

CLONE_NEWNET = 0x40000000
_CHUNK = 65536


def start(supervisor: Supervisor, netns: str, address: str, port: int, directory: Path, *,
          timeout: float = 10.0) -> Endpoint:
    """Start a forwarder to ``address:port`` inside ``netns``; return where it listens."""
    port_file = directory / f"port-forward-{port}.port"
    # the Supervisor makes it die with the run; setns(2) later does not undo that
    argv = [sys.executable, "-m", __name__,
            "--netns", netns, "--to", f"{address}:{port}", "--port-file", str(port_file)]
    env = {**os.environ, "PYTHONPATH": IMPORT_ROOT}
    process = supervisor.start(f"port-forward {netns} {address}:{port}", argv,
                               directory / f"port-forward-{port}.log", env=env)
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        if not process.alive():
            raise MeshproofError(f"port-forward to {address}:{port} exited: {process.log_text(400).strip()}")
        if time.monotonic() > deadline:
            raise MeshproofError(f"port-forward to {address}:{port} not listening after {timeout}s")
        time.sleep(0.005)
    return Endpoint("127.0.0.1", int(port_file.read_text()))


def enter_netns(name: str) -> None:
    """setns(2) the calling thread, and every thread it starts later, into ``/var/run/netns/<name>``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_RUN / name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def _reset(sock: socket.socket) -> None:
    """Close with RST, so a client sees the reset the pod's side gave (not a polite EOF)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def relay(client: socket.socket, target: tuple[str, int]) -> None:
    """Copy bytes both ways, passing on half-closes and resets, until both directions are done."""
    try:
        upstream = socket.create_connection(target, timeout=5)
    except OSError:
        _reset(client)
        return
    upstream.settimeout(None)
    peers = {client: upstream, upstream: client}
    open_readers = {client, upstream}
    try:
        while open_readers:
            readable, _, _ = select.select(list(open_readers), [], [])
            for sock in readable:
                try:
                    data = sock.recv(_CHUNK)
                except ConnectionResetError:
                    _reset(peers[sock])
                    return
                if data:
                    peers[sock].sendall(data)
                else:
                    open_readers.discard(sock)
                    peers[sock].shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        for sock in (client, upstream):
            if sock.fileno() != -1:
                sock.close()


def serve(netns: str, target: tuple[str, int], port_file: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # bound in the root namespace, before setns
    enter_netns(netns)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(listener.getsockname()[1]))
    tmp.rename(port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, target), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True)
    parser.add_argument("--to", required=True, help="ADDRESS:PORT inside the namespace")
    parser.add_argument("--port-file", required=True, type=Path)
    args = parser.parse_args()
    address, _, port = args.to.rpartition(":")
    serve(args.netns, (address, int(port)), args.port_file)


if __name__ == "__main__":
    main()
