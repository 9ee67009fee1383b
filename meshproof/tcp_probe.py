"""A TCP client inside a pod: one line out, the reply back, classified.

As Istio's tcp-echo docs probe it (``echo hello | nc tcp-echo 9000``): the
client sends one line and reads the reply line (or the close that comes
instead). It does not half-close first: a proxy that sees the client's FIN
before its upstream connection is up may drop the connection, which would
blur the one difference these probes measure.
It runs as Python's socket module in the pod's app container (the
``tcp-client`` workload), optionally wrapped in TLS without a client
certificate, to show whether a server sidecar asks for one.
"""
from __future__ import annotations

import shlex

from .cluster import Cluster, Pod
from .outcome import classify_tcp_exchange
from .probe import ProbeResult, _emit, _exec_prefix, _process_output

#: argv: host port line timeout tls(0|1); prints the reply line; errors as "<type>: <message>" on stderr, exit 1
_CLIENT = """
import socket, ssl, sys
host, port, line, timeout, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"
try:
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        sock = context.wrap_socket(sock)
    sock.sendall(line.encode() + b"\\n")
    reply = b""
    while not reply.endswith(b"\\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    sock.close()
except Exception as e:
    sys.stderr.write(f"{type(e).__name__}: {e}")
    sys.exit(1)
sys.stdout.write(reply.decode(errors="replace"))
"""


def tcp_in_pod(cluster: Cluster, pod: Pod, host: str, port: int, line: str, *, timeout: float,
               tls: bool = False, container: str | None = None) -> ProbeResult:
    """Send ``line`` to ``host:port`` from ``pod`` and classify what came back (``body``: the reply).

    ``tls``: wrap the connection in TLS 1.2 without a client certificate and
    without verifying the server (TLS 1.2 makes a server's rejection alert readable).
    """
    container = container or pod.app_container
    argv = ["python3", "-c", _CLIENT, host, str(port), line, f"{timeout:g}", "1" if tls else "0"]
    result = cluster.exec(pod, container, argv, timeout=timeout + 10)
    outcome = classify_tcp_exchange(result.exit_code, result.stdout, result.stderr)
    kind = "TLS without client certificate" if tls else "plain TCP"
    command = f"{_exec_prefix(pod, container)} python3 -c <{kind} line client> {shlex.join(argv[3:])}"
    output = _process_output(result.exit_code, result.stdout, result.stderr)
    return _emit(ProbeResult(f"{pod.namespace}/{pod.name}[{container}] ({kind}) -> {host}:{port}", command, output,
                             outcome, result.stdout))
