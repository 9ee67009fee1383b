"""The gateway TLS scan: sslyze's JSON read and judged against the policies, the scanner run as a subprocess,
and an outside client that offers only TLS 1.1.

tests/posture/data/sslyze-gateway-*.json are the scanner's JSON from the
reference mesh's gateway, healthy and with the defect gateway-offers-legacy-tls
(recorded by suites/test_gateway_tls_posture.py; the lists of rejected suites
and curves cut to two entries each).  The live tests serve TLS from this
process on 127.0.0.1 with Python's ssl module.
"""
from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import threading
import warnings
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from meshproof import outside, tlsscan
from meshproof.cluster import Endpoint
from meshproof.errors import InfrastructureError
from meshproof.outcome import OK, PROTOCOL_VERSION, TLS_REJECTED
from meshproof.pki import CertificateAuthority
from meshproof.tlspolicy import POLICIES
from meshproof.tlsscan import ScanError, TLSScan

DATA = Path(__file__).parent / "data"
INTERMEDIATE, MODERN = POLICIES["mozilla-intermediate"], POLICIES["mozilla-modern"]
HOST = "frontend.apps.example.com"


def recorded(name: str) -> str:
    return (DATA / f"sslyze-gateway-{name}.json").read_text()


def test_the_healthy_gateways_scan_is_within_the_intermediate_policy():
    scan = TLSScan.from_json(recorded("healthy"))
    assert scan.versions == ("1.2", "1.3")
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in scan.ciphers["1.2"]
    assert scan.curves == ("X25519", "secp256r1")
    assert isinstance(scan.certificate.public_key(), ec.EllipticCurvePublicKey)
    assert scan.problems(INTERMEDIATE) == []


def test_the_modern_policy_refuses_the_healthy_gateways_tls_1_2():
    problems = TLSScan.from_json(recorded("healthy")).problems(MODERN)
    assert len(problems) == 1 and problems[0].startswith("accepts TLS 1.2 (")


def test_the_legacy_gateways_scan_names_each_old_version_and_the_cbc_suite():
    scan = TLSScan.from_json(recorded("legacy"))
    assert scan.versions == ("1.0", "1.1", "1.2", "1.3")
    assert scan.problems(INTERMEDIATE) == [
        "accepts TLS 1.0 (TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)",
        "accepts TLS 1.1 (TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)",
        "accepts TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA with TLS 1.2, a cipher suite outside mozilla-intermediate",
    ]
    assert "TLS 1.0: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" in scan.describe()


def with_certificate(text: str, certificate: x509.Certificate) -> str:
    document = json.loads(text)
    deployment = document["server_scan_results"][0]["scan_result"]["certificate_info"]["result"]["certificate_deployments"][0]
    deployment["received_certificate_chain"][0]["as_pem"] = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return json.dumps(document)


def self_signed(key, digest) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + dt.timedelta(hours=1)).sign(key, digest))


def test_a_small_rsa_key_and_a_signature_hash_below_sha256_are_outside_the_policy():
    """SHA-224 stands for SHA-1 and MD5, which cryptography no longer signs with: the same rule rejects all three."""
    weak = self_signed(rsa.generate_private_key(65537, 1024), hashes.SHA224())
    problems = TLSScan.from_json(with_certificate(recorded("healthy"), weak)).problems(INTERMEDIATE)
    assert problems == ["serves a certificate with an RSA 1024-bit key, below mozilla-intermediate's 2048",
                        "serves a certificate signed with sha224, not one of sha256, sha384, sha512"]


def test_an_incomplete_scan_is_a_scan_error_naming_what_did_not_complete():
    document = json.loads(recorded("healthy"))
    server = document["server_scan_results"][0]
    server["scan_result"]["elliptic_curves"] = {"status": "ERROR", "result": None, "error_trace": "Boom"}
    with pytest.raises(ScanError, match="scan elliptic_curves did not complete \\(ERROR\\): Boom"):
        TLSScan.from_json(json.dumps(document))
    server["connectivity_status"] = "ERROR"
    server["connectivity_error_trace"] = "Connection refused"
    with pytest.raises(ScanError, match="could not connect: Connection refused"):
        TLSScan.from_json(json.dumps(document))
    with pytest.raises(ScanError, match="not the JSON of a one-server sslyze scan"):
        TLSScan.from_json("{}")


# ------------------------------------------------------------------ live: a TLS server in this process


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server_material(tmp_path_factory) -> tuple[CertificateAuthority, Path, Path, Path]:
    ca = CertificateAuthority.create("example.com")
    directory = tmp_path_factory.mktemp("tls-server")
    crt, key = ca.issue(HOST, dns_names=(HOST,), client=False).write(directory, "server")
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    return ca, crt, key, ca_file


def serve(material, *, minimum: ssl.TLSVersion) -> Iterator[int]:
    """HTTPS on 127.0.0.1 accepting TLS from ``minimum`` up (TLS 1.0 / 1.1 at OpenSSL security level 0)."""
    _, crt, key, _ = material
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    if minimum < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # Python deprecates TLS 1.1, which this server accepts on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def modern_server(server_material) -> Iterator[int]:
    yield from serve(server_material, minimum=ssl.TLSVersion.TLSv1_2)


@pytest.fixture
def legacy_server(server_material) -> Iterator[int]:
    yield from serve(server_material, minimum=ssl.TLSVersion.TLSv1_1)


def test_the_scanner_sees_the_versions_and_the_certificate_a_live_server_offers(modern_server, server_material):
    scan = tlsscan.scan(HOST, "127.0.0.1", modern_server, timeout=120)
    assert scan.versions == ("1.2", "1.3")
    assert scan.certificate.subject.rfc4514_string() == f"CN={HOST}"
    assert scan.certificate.issuer == server_material[0].cert.subject
    assert "PRIVATE KEY" not in scan.evidence


def test_the_scanner_sees_tls_1_1_where_the_server_accepts_it(legacy_server):
    scan = tlsscan.scan(HOST, "localhost", legacy_server, timeout=120)
    assert "1.1" in scan.versions
    assert any(p.startswith("accepts TLS 1.1 (") for p in scan.problems(INTERMEDIATE))


def test_a_missing_scanner_or_an_unreachable_server_is_an_infrastructure_error(monkeypatch, unused_port):
    with pytest.raises(InfrastructureError, match="could not connect"):
        tlsscan.scan(HOST, "127.0.0.1", unused_port, timeout=120)
    monkeypatch.setattr(tlsscan, "SCANNER_PYTHON", Path("/nonexistent/.venv-scan/bin/python"))
    with pytest.raises(InfrastructureError, match="the TLS scanner is not installed .*make bootstrap"):
        tlsscan.scan(HOST, "127.0.0.1", unused_port, timeout=120)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def address(port: int) -> outside.GatewayAddress:
    return outside.GatewayAddress(HOST, Endpoint("127.0.0.1", port))


@pytest.mark.parametrize("client", sorted(outside.CLIENTS))
def test_a_client_offering_only_tls_1_1_reads_the_servers_protocol_version_alert(client, modern_server, server_material):
    only_1_1 = outside.ClientTLS(ca=str(server_material[3]), min_version="1.1", max_version="1.1")
    result = outside.CLIENTS[client](address(modern_server), "/", only_1_1, timeout=10)
    assert TLS_REJECTED(PROTOCOL_VERSION).matches(result.outcome), result.output
    assert "alert protocol version" in result.output.lower(), result.output


@pytest.mark.parametrize("client", sorted(outside.CLIENTS))
def test_the_same_client_gets_through_a_server_that_accepts_tls_1_1(client, legacy_server, server_material):
    only_1_1 = outside.ClientTLS(ca=str(server_material[3]), min_version="1.1", max_version="1.1")
    result = outside.CLIENTS[client](address(legacy_server), "/", only_1_1, timeout=10)
    assert OK(200).matches(result.outcome), result.output
