"""The forwarder's relay: bytes both ways, a half-close passed on, a reset passed on as a reset."""
from __future__ import annotations

import socket
import threading

import pytest

from meshproof.local.portforward import _reset, relay


def _through_relay(serve) -> socket.socket:
    """A client socket whose connection is relayed to a one-shot server running ``serve(conn)``."""
    server = socket.create_server(("127.0.0.1", 0))
    front = socket.create_server(("127.0.0.1", 0))

    def upstream() -> None:
        conn, _ = server.accept()
        serve(conn)

    def forward() -> None:
        conn, _ = front.accept()
        relay(conn, server.getsockname())

    for target in (upstream, forward):
        threading.Thread(target=target, daemon=True).start()
    client = socket.create_connection(front.getsockname(), timeout=5)
    return client


def test_bytes_flow_both_ways_and_a_half_close_reaches_the_other_side():
    def echo_until_eof(conn: socket.socket) -> None:
        received = b""
        while chunk := conn.recv(1024):
            received += chunk
        conn.sendall(received.upper())
        conn.close()

    client = _through_relay(echo_until_eof)
    client.sendall(b"hello gateway")
    client.shutdown(socket.SHUT_WR)
    answer = b""
    while chunk := client.recv(1024):
        answer += chunk
    assert answer == b"HELLO GATEWAY"


def test_a_reset_from_the_pod_reaches_the_client_as_a_reset():
    def reset_at_once(conn: socket.socket) -> None:
        conn.recv(1024)
        _reset(conn)

    client = _through_relay(reset_at_once)
    client.sendall(b"plaintext to a TLS port")
    with pytest.raises(ConnectionResetError):
        while client.recv(1024):
            pass
