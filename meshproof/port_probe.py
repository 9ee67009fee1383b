"""Plaintext probes of listening ports, from a prober pod without a sidecar, at the pod IP.

What is sent, and why: one TCP connection per port, and on it one line,
``NUL "meshproof-probe" CR LF`` (18 bytes).  It is not a TLS record (a TLS
handshake starts with 0x16) and is longer than a TLS record header, so a
sidecar's ``tls_inspector`` can decide "not TLS" (it reads a whole 5-byte
record header first: three bytes alone are held until its timeout) and a
STRICT listener, which has filter chains for mutual TLS only, closes the
connection at once.  The leading NUL is no HTTP method and no command of any
line protocol, so an application that does receive the line answers with an
error (HTTP 400) or waits for more; none acts on it, and its logs show the
name ``meshproof-probe``.  Nothing else is sent:
the prober then reads for at most the per-port window
(``--timeout-port-probe``) and closes.  Probes start at a bounded rate
(:data:`PROBES_PER_SECOND`) with a few in flight at once.

All ports of one target pod are probed by one exec of a small Python program
in the prober's container (``python3``, as the ``tcp-client`` image has); it
prints one JSON line per port, which :func:`probe_ports` classifies with
:func:`meshproof.outcome.classify_port_probe`.
"""
from __future__ import annotations

import json
from typing import Sequence

from .cluster import Cluster, Pod
from .outcome import classify_port_probe
from .probe import ProbeResult, _emit, _exec_prefix, _process_output

#: the bytes each probe sends (see the module's docstring)
PROBE_BYTES = b"\x00meshproof-probe\r\n"
#: probes started per second, at most, by one prober exec
PROBES_PER_SECOND = 50
#: probes in flight at once in one prober exec
IN_FLIGHT = 8

#: argv: targets as JSON [[ip, port], ...], window seconds, probes per second, in flight;
#: prints one JSON object per target: ip, port, result (answered|open|reset|closed|refused|timeout|error), detail
_PROBER = """
import json, socket, sys, threading, time
targets, window, rate, in_flight = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
PROBE = bytes.fromhex(sys.argv[5])
lock, slots, out = threading.Lock(), threading.Semaphore(in_flight), []
def probe(ip, port):
    result, detail = "error", ""
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    s.settimeout(window)
    start = time.monotonic()
    try:
        s.connect((ip, port))
        s.sendall(PROBE)
        s.settimeout(max(0.001, window - (time.monotonic() - start)))
        data = s.recv(256)
        result, detail = ("answered", data[:64].hex()) if data else ("closed", "")
    except ConnectionRefusedError:
        result = "refused"
    except ConnectionResetError:
        result = "reset"
    except (socket.timeout, TimeoutError):
        connected = True
        try:
            s.getpeername()
        except OSError:
            connected = False
        result = "open" if connected else "timeout"
    except OSError as e:
        result, detail = "error", f"{type(e).__name__}: {e}"
    finally:
        s.close()
    with lock:
        out.append({"ip": ip, "port": port, "result": result, "detail": detail,
                    "ms": round((time.monotonic() - start) * 1000)})
    slots.release()
threads, t0 = [], time.monotonic()
for i, (ip, port) in enumerate(targets):
    slots.acquire()
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t = threading.Thread(target=probe, args=(ip, int(port)))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
for record in sorted(out, key=lambda r: (r["ip"], r["port"])):
    print(json.dumps(record))
"""


def probe_ports(cluster: Cluster, prober: Pod, target: Pod, ports: Sequence[int], *,
                window: float) -> dict[int, ProbeResult]:
    """Probe ``ports`` of ``target`` at its pod IP from ``prober``'s app container; port -> classified result.

    ``window``: seconds each probe may take (connect, and the reply or close that follows).
    A port the prober printed nothing for is a client error of that port (the exec's output says why).
    """
    if not ports:
        return {}
    targets = [[target.ip, port] for port in ports]
    argv = ["python3", "-c", _PROBER, json.dumps(targets), f"{window:g}", str(PROBES_PER_SECOND), str(IN_FLIGHT),
            PROBE_BYTES.hex()]
    budget = window * (len(ports) / IN_FLIGHT + 1) + len(ports) / PROBES_PER_SECOND + 10
    done = cluster.exec(prober, prober.app_container, argv, timeout=budget)
    records: dict[int, dict] = {}
    for line in done.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("port") in ports:
            records[int(record["port"])] = record
    prefix = f"{_exec_prefix(prober, prober.app_container)} python3 -c <plaintext port prober>"
    results: dict[int, ProbeResult] = {}
    for port in ports:
        record = records.get(port)
        if record is None:
            record = {"result": "error", "detail": "the prober printed nothing for this port",
                      "exec": _process_output(done.exit_code, done.stdout[-2000:], done.stderr[-2000:])}
        outcome = classify_port_probe(record["result"], record.get("detail", ""))
        results[port] = _emit(ProbeResult(
            f"{prober.namespace}/{prober.name} (plaintext {PROBE_BYTES!r}) -> {target.namespace}/{target.name} "
            f"{target.ip}:{port}",
            f"{prefix} '[[\"{target.ip}\", {port}]]' {window:g}", json.dumps(record), outcome,
            record.get("detail", "")))
    return results
