"""Run a client and classify what it saw.

A probe never raises for a network failure: it returns a :class:`ProbeResult`
holding the raw command, the raw output and the classified :class:`Outcome`,
and shows it to the session's observer (:mod:`meshproof.observe`).
Clients inside pods run through :meth:`Cluster.exec`; clients outside the mesh
run on the machine that runs pytest.
"""
from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from . import evidence, observe
from .cluster import Cluster, Pod, selector_text
from .outcome import (NOT_READY, READY, Outcome, classify_curl, classify_exception, classify_http,
                      classify_python_error)

STATUS_MARK = "\n__meshproof_status__="


def _emit(result: "ProbeResult") -> "ProbeResult":
    observer = observe.current()
    if observer is not None:
        observer.probed(result)
    return result


@dataclass(frozen=True)
class ProbeResult:
    description: str
    command: str
    output: str
    outcome: Outcome
    body: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def echoed_header(self, name: str) -> str:
        """A request header as the echo app's ``/headers`` reported it ("" if absent): header casing
        and single-value or list form differ between echo images."""
        for key, value in self.json()["headers"].items():
            if key.lower() == name.lower():
                return value[0] if isinstance(value, list) else value
        return ""


#: TLS versions OpenSSL 3 sends only at security level 0 (their handshakes sign with SHA-1 / MD5-SHA-1)
LEGACY_VERSIONS = ("1.0", "1.1")
#: the cipher string that lets an OpenSSL 3 client (curl, Python's ssl) really offer and finish TLS 1.0 / 1.1;
#: without it the client may fail on its own ("legacy sigalg disallowed") after the server accepted
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


@dataclass(frozen=True)
class TLSOptions:
    """Client TLS material for curl/requests; paths are on the client's file system."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    max_version: str | None = None  # "1.2" makes alerts observable as handshake errors
    resolve: str | None = None  # curl --resolve host:port:addr
    #: the oldest version offered ("1.1" with max_version "1.1": a client that offers only TLS 1.1)
    min_version: str | None = None

    def curl_args(self) -> list[str]:
        args: list[str] = []
        if self.insecure:
            args.append("-k")
        if self.ca:
            args += ["--cacert", self.ca]
        if self.cert:
            args += ["--cert", self.cert]
        if self.key:
            args += ["--key", self.key]
        if self.min_version:
            args.append(f"--tlsv{self.min_version}")
            if self.min_version in LEGACY_VERSIONS:
                args += ["--ciphers", LEGACY_CIPHERS]
        if self.max_version:
            args += ["--tls-max", self.max_version]
        if self.resolve:
            args += ["--resolve", self.resolve]
        return args


def curl_argv(url: str, *, timeout: float, tls: TLSOptions | None = None, headers: Sequence[str] = ()) -> list[str]:
    argv = ["curl", "-sS", "--max-time", f"{timeout:g}", "-o", "-", "-w", STATUS_MARK.replace("\n", "\\n") + "%{http_code}"]
    for header in headers:
        argv += ["-H", header]
    if tls:
        argv += tls.curl_args()
    return argv + [url]


def parse_curl(exit_code: int, stdout: str, stderr: str) -> tuple[Outcome, str]:
    body, _, status_text = stdout.rpartition(STATUS_MARK)
    if not _:
        body, status_text = stdout, ""
    status = int(status_text) if status_text.strip().isdigit() and int(status_text) > 0 else None
    return classify_curl(exit_code, stderr, status, body), body


#: reads exactly $1 bytes (exec streams cannot always signal end of input), then runs curl with them as --cert
_WITH_CLIENT_PEM = 'umask 077; f=$(mktemp); head -c "$1" > "$f"; shift; curl "$@" --cert "$f"; rc=$?; rm -f "$f"; exit $rc'


def curl_in_pod(
    cluster: Cluster,
    pod: Pod,
    url: str,
    *,
    container: str | None = None,
    timeout: float,
    tls: TLSOptions | None = None,
    headers: Sequence[str] = (),
    client_pem: bytes | None = None,
) -> ProbeResult:
    """curl from inside a pod's container, as ``kubectl exec ... -- curl`` would."""
    container = container or pod.app_container
    argv = curl_argv(url, timeout=timeout, tls=tls, headers=headers)
    if client_pem is not None:
        # the certificate and key travel on stdin into a private temp file: never in argv, logs or reports
        argv = ["sh", "-c", _WITH_CLIENT_PEM, "curl", str(len(client_pem)), *argv[1:]]
    result = cluster.exec(pod, container, argv, timeout=timeout + 10, stdin=client_pem)
    outcome, body = parse_curl(result.exit_code, result.stdout, result.stderr)
    command = f"{_exec_prefix(pod, container)} {shlex.join(argv)}"
    if client_pem is not None:
        command += "  < client certificate and key (PEM, not shown)"
    output = _process_output(result.exit_code, result.stdout, result.stderr)
    return _emit(ProbeResult(f"{pod.namespace}/{pod.name}[{container}] -> {url}", command, output, outcome, body))


def readiness(cluster: Cluster, namespace: str, selector: dict[str, str]) -> ProbeResult:
    """Whether the pods are ready, as the kubelet's readiness probes decide (``kubectl get pods``' READY)."""
    text = selector_text(selector)
    ready = cluster.pod_ready(namespace, selector)
    return _emit(ProbeResult(f"readiness of pods {text} in {namespace}", f"kubectl -n {namespace} get pods -l {text}",
                             "all ready" if ready else "not ready (or no pod)", READY if ready else NOT_READY))


def curl_outside(url: str, *, timeout: float, tls: TLSOptions | None = None, headers: Sequence[str] = ()) -> ProbeResult:
    """curl from the machine running pytest: a client outside the cluster."""
    argv = curl_argv(url, timeout=timeout, tls=tls, headers=headers)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return _emit(ProbeResult(f"outside -> {url}", shlex.join(argv), "no answer", Outcome("TIMEOUT")))
    outcome, body = parse_curl(done.returncode, done.stdout, done.stderr)
    output = _process_output(done.returncode, done.stdout, done.stderr)
    return _emit(ProbeResult(f"outside -> {url}", shlex.join(argv), output, outcome, body))


def python_call(description: str, command: str, call: Callable[[], tuple[int, str]]) -> ProbeResult:
    """Run an in-process client (requests, pymysql); ``call`` returns (status or 0, body)."""
    try:
        status, body = call()
    except Exception as exc:  # classified, never swallowed: the outcome names it
        outcome = classify_exception(exc)
        return _emit(ProbeResult(description, command, f"{type(exc).__name__}: {exc}", outcome))
    return _emit(ProbeResult(description, command, body[:4000], Outcome("OK", status=status or None), body))


#: the seed's client inside the productpage container: Python's urllib, no curl needed
_URLLIB_CLIENT = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as r:
        body, status = r.read().decode(errors="replace"), r.status
except urllib.error.HTTPError as e:
    body, status = e.read().decode(errors="replace"), e.code
except Exception as e:
    reason = getattr(e, "reason", None)
    err = reason if isinstance(reason, BaseException) else e
    sys.stderr.write(f"{type(err).__name__}: {err}")
    sys.exit(1)
sys.stdout.write(body + sys.argv[3] + str(status))
"""


def python_in_pod(cluster: Cluster, pod: Pod, url: str, *, container: str | None = None, timeout: float) -> ProbeResult:
    """GET with Python's urllib inside a pod, as the seed does from the productpage container."""
    container = container or pod.app_container
    argv = ["python3", "-c", _URLLIB_CLIENT, url, f"{timeout:g}", STATUS_MARK]
    result = cluster.exec(pod, container, argv, timeout=timeout + 10)
    body, _, status_text = result.stdout.rpartition(STATUS_MARK)
    if result.exit_code == 0 and status_text.isdigit():
        outcome = classify_http(int(status_text), body)
    else:
        type_name, _, message = result.stderr.strip().rpartition("\n")[-1].partition(": ")
        outcome = classify_python_error(type_name, message)
    command = f"{_exec_prefix(pod, container)} python3 -c <urllib GET> {url}"
    output = _process_output(result.exit_code, result.stdout, result.stderr)
    return _emit(ProbeResult(f"{pod.namespace}/{pod.name}[{container}] (python) -> {url}", command, output, outcome, body))


def _exec_prefix(pod: Pod, container: str) -> str:
    return f"kubectl -n {pod.namespace} exec {pod.name} -c {container} --"


def _process_output(exit_code: int, stdout: str, stderr: str) -> str:
    return f"exit code {exit_code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"


def accepted_between(pod: str, before: list["evidence.AcceptedConnection"], after: list["evidence.AcceptedConnection"], protocol: str) -> ProbeResult:
    """What the sidecar of ``pod`` ("namespace/name") accepted of ``protocol`` between two readings, as a probe result."""
    new = evidence.grown(before, after, protocol)
    listing = "\n".join(str(r) for r in new) or "(nothing new)"
    return _emit(ProbeResult(f"{pod}[istio-proxy] accepted ({protocol})",
                             f"inbound {protocol} connections recorded by {pod}'s sidecar "
                             f"since the reading before the call", listing, evidence.outcome_of(new), listing))
