"""A TLS server as a scanner sees it: the versions, cipher suites and curves it accepts, the certificate it serves.

The scanner is sslyze (https://github.com/nabla-c0d3/sslyze), a maintained TLS
scanner whose nassl bindings carry their own OpenSSL builds, so it still
offers SSL 2.0 to TLS 1.1 and legacy cipher suites that the machine's
OpenSSL 3 refuses to send.  sslyze 6.3 requires ``cryptography<47`` while
meshproof pins a newer one, so it lives in a venv of its own (``.venv-scan``,
made by scripts/bootstrap.sh from requirements-scan.txt) and runs as a
subprocess::

    .venv-scan/bin/python -m sslyze --json_out=FILE --sslv2 ... --certinfo 'HOST:PORT{ADDRESS}'

``HOST`` is the name sent as SNI (the Gateway's host), ``ADDRESS`` where the
server is reached (a load balancer, a port-forward).  :class:`TLSScan` reads
the JSON it writes (sslyze's ``SslyzeOutputAsJson``: ``server_scan_results[0]
.scan_result.<command>.result``), whose cipher suites carry their IANA names,
as :mod:`meshproof.tlspolicy` does.  The JSON holds the server's public
certificates and ephemeral public keys, nothing secret.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from .errors import InfrastructureError
from .tlspolicy import TLSPolicy, curve_name

#: the scanner's interpreter: the venv scripts/bootstrap.sh makes beside the project's own
SCANNER_PYTHON = Path(__file__).resolve().parent.parent / ".venv-scan" / "bin" / "python"

#: sslyze scan command (its JSON key) -> the protocol version it tries, as :mod:`meshproof.tlspolicy` names them
VERSION_SCANS = {
    "ssl_2_0_cipher_suites": "SSL 2.0", "ssl_3_0_cipher_suites": "SSL 3.0", "tls_1_0_cipher_suites": "1.0",
    "tls_1_1_cipher_suites": "1.1", "tls_1_2_cipher_suites": "1.2", "tls_1_3_cipher_suites": "1.3",
}
CURVES_SCAN, CERTIFICATE_SCAN = "elliptic_curves", "certificate_info"
#: the scanner's command-line switches for exactly the scans read here
SCAN_OPTIONS = ("--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--elliptic_curves",
                "--certinfo")
#: signature hashes a served certificate may be signed with: the SHA-2 family of Mozilla's
#: ``certificate_signatures`` (guidelines 5.7, intermediate and modern alike)
SIGNATURE_HASHES = ("sha256", "sha384", "sha512")


class ScanError(ValueError):
    """The scanner's JSON does not hold a completed scan (connectivity failed, a scan command errored)."""


@dataclass(frozen=True)
class TLSScan:
    """One server's scan.

    ``ciphers``: protocol version ("SSL 3.0", "1.0" ... "1.3") -> IANA names of the cipher suites the
    server accepted with it (empty: the version is refused); ``curves``: ECDH groups accepted (OpenSSL
    names); ``certificate``: the leaf served for the SNI name; ``evidence``: the scanner's JSON as written.
    """

    target: str
    ciphers: dict[str, tuple[str, ...]]
    curves: tuple[str, ...]
    certificate: x509.Certificate
    evidence: str

    @property
    def versions(self) -> tuple[str, ...]:
        """The protocol versions the server accepted at least one cipher suite with, oldest first."""
        return tuple(v for v in VERSION_SCANS.values() if self.ciphers.get(v))

    @classmethod
    def from_json(cls, text: str) -> "TLSScan":
        """Parse sslyze's ``--json_out`` of one server; ScanError naming what did not complete."""
        try:
            document = json.loads(text)
            [server] = document["server_scan_results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ScanError(f"not the JSON of a one-server sslyze scan: {exc}") from None
        location = server.get("server_location") or {}
        target = f"{location.get('hostname')}:{location.get('port')} ({location.get('ip_address')})"
        if server.get("connectivity_status") != "COMPLETED":
            raise ScanError(f"{target}: the scanner could not connect: "
                            f"{(server.get('connectivity_error_trace') or '').strip()[-300:]}")
        results = server.get("scan_result") or {}

        def result(command: str) -> dict:
            attempt = results.get(command) or {}
            if attempt.get("status") != "COMPLETED" or attempt.get("result") is None:
                raise ScanError(f"{target}: scan {command} did not complete ({attempt.get('status')}): "
                                f"{(attempt.get('error_trace') or '').strip()[-300:]}")
            return attempt["result"]

        ciphers = {version: tuple(accepted["cipher_suite"]["name"] for accepted in result(command)["accepted_cipher_suites"])
                   for command, version in VERSION_SCANS.items()}
        curves = tuple(curve["name"] for curve in result(CURVES_SCAN).get("supported_curves") or ())
        deployments = result(CERTIFICATE_SCAN)["certificate_deployments"]
        if not deployments or not deployments[0]["received_certificate_chain"]:
            raise ScanError(f"{target}: the server presented no certificate")
        leaf = x509.load_pem_x509_certificate(deployments[0]["received_certificate_chain"][0]["as_pem"].encode())
        return cls(target, ciphers, curves, leaf, text)

    def problems(self, policy: TLSPolicy) -> list[str]:
        """What the server accepts or serves outside ``policy``: versions, cipher suites per version, curves,
        the certificate's key and signature hash; empty when everything is within."""
        found = [f"accepts {_version_text(v)} ({', '.join(self.ciphers[v])})"
                 for v in self.versions if v not in policy.versions]
        found += [f"accepts {c} with {_version_text(v)}, a cipher suite outside {policy.name}"
                  for v in self.versions if v in policy.versions for c in self.ciphers[v] if c not in policy.ciphers]
        found += [f"accepts the curve {c}, outside {policy.name}" for c in self.curves
                  if curve_name(c) not in policy.curves]
        key = policy.key_problem(self.certificate)
        if key:
            found.append(f"serves a certificate with {key}")
        digest = self.certificate.signature_hash_algorithm
        if digest is None or digest.name not in SIGNATURE_HASHES:
            found.append(f"serves a certificate signed with {digest.name if digest else 'no separate hash'}, "
                         f"not one of {', '.join(SIGNATURE_HASHES)}")
        return found

    def describe(self) -> str:
        lines = [f"TLS scan of {self.target} (sslyze)"]
        for version in VERSION_SCANS.values():
            accepted = self.ciphers.get(version, ())
            lines.append(f"  {_version_text(version)}: {', '.join(accepted) if accepted else 'refused'}")
        lines.append(f"  curves (ECDH groups the scanner can offer; hybrid post-quantum groups are not among them): "
                     f"{', '.join(self.curves) or 'none'}")
        cert = self.certificate
        digest = cert.signature_hash_algorithm
        lines.append(f"  certificate: subject {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}, "
                     f"serial {cert.serial_number:x}, key {_key_text(cert)}, signed with "
                     f"{digest.name if digest else cert.signature_algorithm_oid.dotted_string}, valid "
                     f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to {cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
        return "\n".join(lines)


def _version_text(version: str) -> str:
    return version if version.startswith("SSL") else f"TLS {version}"


def _key_text(cert: x509.Certificate) -> str:
    key = cert.public_key()
    curve = getattr(key, "curve", None)
    return f"ECDSA {curve.name}" if curve is not None else f"{type(key).__name__.removesuffix('PublicKey')} " \
        f"{getattr(key, 'key_size', '?')} bits"


def scan_argv(server_name: str, address: str, port: int, json_out: Path) -> list[str]:
    """The scanner's command line: TLS to ``address:port`` with ``server_name`` as SNI."""
    return [str(SCANNER_PYTHON), "-m", "sslyze", f"--json_out={json_out}", "--quiet", *SCAN_OPTIONS,
            f"{server_name}:{port}{{{address}}}"]


def _ip(host: str) -> str:
    """sslyze takes the address to connect to as an IP: a load balancer's name is resolved here."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as exc:
        raise InfrastructureError(f"TLS scan: cannot resolve the server's address {host}: {exc}") from None


def scan(server_name: str, host: str, port: int, *, timeout: float) -> TLSScan:
    """Scan the TLS server at ``host:port`` for ``server_name``.

    The suite's machinery failing is an InfrastructureError, never a finding: the scanner not
    installed (scripts/bootstrap.sh makes it), exiting non-zero, overrunning ``timeout`` seconds,
    or writing no completed scan.
    """
    if not SCANNER_PYTHON.exists():
        raise InfrastructureError(f"the TLS scanner is not installed ({SCANNER_PYTHON} is missing): "
                                  "run `make bootstrap` (scripts/bootstrap.sh)")
    with tempfile.TemporaryDirectory(prefix="meshproof-scan-") as directory:
        json_out = Path(directory) / "scan.json"
        argv = scan_argv(server_name, _ip(host), port, json_out)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"TLS scan of {server_name} at {host}:{port} took longer than {timeout:g}s "
                                      "(--timeout-tls-scan)") from None
        if done.returncode != 0 or not json_out.exists():
            raise InfrastructureError(f"TLS scan failed (exit {done.returncode}): {shlex.join(argv)}: "
                                      f"{(done.stderr or done.stdout).strip()[-400:]}")
        text = json_out.read_text()
    try:
        return TLSScan.from_json(text)
    except ScanError as exc:
        raise InfrastructureError(f"TLS scan: {exc}") from None
