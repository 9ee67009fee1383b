"""The workload-certificate findings and the TLS policies, on certificates made here (no mesh)."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from meshproof.errors import ConfigError, MeshproofError
from meshproof.pki import CertificateAuthority, spiffe_id
from meshproof.posture import CHAIN, IDENTITY, KEY, LIFETIME, ProxyIdentity, describe, findings
from meshproof.tlspolicy import POLICIES, policy

DAY = dt.timedelta(hours=24)
SPIFFE = spiffe_id("cluster.local", "shop", "cart")


def config_dump(chain_pem: bytes, root_pem: bytes, *, as_bytes: bool = True) -> str:
    """A SecretsConfigDump as Envoy's admin prints it: inline_bytes base64, the private key redacted."""
    def data(pem: bytes) -> dict:
        return {"inline_bytes": base64.b64encode(pem).decode()} if as_bytes else {"inline_string": pem.decode()}
    return json.dumps({"configs": [
        {"name": "default", "secret": {"name": "default", "tls_certificate": {
            "certificate_chain": data(chain_pem), "private_key": {"inline_string": "[redacted]"}}}},
        {"name": "ROOTCA", "secret": {"name": "ROOTCA", "validation_context": {"trusted_ca": data(root_pem)}}},
    ]})


def failing(identity: ProxyIdentity, **kw) -> set[str]:
    """The aspects that fail, judged now (certificates made here are valid from the moment they are issued)."""
    options = {"expected_spiffe": SPIFFE, "policy": POLICIES["mozilla-intermediate"], "max_lifetime": DAY,
               "now": dt.datetime.now(dt.timezone.utc)}
    return {f.aspect for f in findings(identity, **(options | kw)) if not f.holds}


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("cluster.local", "test mesh")


@pytest.mark.parametrize("as_bytes", [True, False], ids=["inline_bytes", "inline_string"])
def test_a_healthy_workload_certificate_meets_every_aspect(ca, as_bytes):
    issued = ca.issue_workload("cluster.local", "shop", "cart")
    identity = ProxyIdentity.from_config_dump(config_dump(issued.chain_pem, ca.cert_pem, as_bytes=as_bytes))
    assert failing(identity) == set()
    text = describe(identity)
    assert f"URI SAN: {SPIFFE}" in text and f"serial: {issued.cert.serial_number:x}" in text
    assert "PRIVATE" not in text and "redacted" not in text


def test_another_service_account_fails_identity_only(ca):
    identity = ProxyIdentity.from_config_dump(config_dump(ca.issue_workload("cluster.local", "shop", "default").chain_pem,
                                                          ca.cert_pem))
    assert failing(identity) == {IDENTITY}


def test_a_certificate_of_another_root_fails_the_chain(ca):
    other = CertificateAuthority.create("cluster.local", "another mesh")
    identity = ProxyIdentity.from_config_dump(config_dump(other.issue_workload("cluster.local", "shop", "cart").chain_pem,
                                                          ca.cert_pem))
    assert failing(identity) == {CHAIN}


def test_a_week_long_certificate_fails_the_lifetime_and_passes_a_longer_maximum(ca):
    week = ca.issue_workload("cluster.local", "shop", "cart", lifetime=dt.timedelta(days=7))
    identity = ProxyIdentity.from_config_dump(config_dump(week.chain_pem, ca.cert_pem))
    assert failing(identity) == {LIFETIME}
    assert failing(identity, max_lifetime=dt.timedelta(days=8)) == set()


def rsa_certificate(ca: CertificateAuthority, bits: int) -> x509.Certificate:
    key = rsa.generate_private_key(65537, bits)
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa")]))
            .issuer_name(ca.name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
            .not_valid_after(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SPIFFE)]), critical=False)
            .sign(ca.issued.key, hashes.SHA256()))


@pytest.mark.parametrize(("bits", "name", "fails"), [
    (1024, "mozilla-intermediate", {KEY}), (2048, "mozilla-intermediate", set()), (2048, "mozilla-modern", {KEY})])
def test_rsa_keys_against_the_policies(ca, bits, name, fails):
    identity = ProxyIdentity((rsa_certificate(ca, bits),), (ca.cert,))
    assert failing(identity, policy=POLICIES[name]) == fails


def test_a_proxy_without_sds_secrets_is_an_infrastructure_error_not_a_verdict():
    with pytest.raises(MeshproofError, match="no SDS secret default, ROOTCA"):
        ProxyIdentity.from_config_dump(json.dumps({"configs": []}))


def test_a_certificate_read_from_a_file_is_refused(ca):
    dump = json.loads(config_dump(ca.cert_pem, ca.cert_pem))
    dump["configs"][0]["secret"]["tls_certificate"]["certificate_chain"] = {"filename": "/etc/certs/cert-chain.pem"}
    with pytest.raises(MeshproofError, match="not inline"):
        ProxyIdentity.from_config_dump(json.dumps(dump))


def test_policies_name_their_source_and_an_unknown_one_is_refused():
    for p in POLICIES.values():
        assert "ssl-config.mozilla.org" in p.source and p.minimum_version in p.versions
    assert POLICIES["mozilla-modern"].versions == ("1.3",)
    with pytest.raises(ConfigError, match="unknown TLS policy 'weak'; known: mozilla-intermediate, mozilla-modern"):
        policy("weak")


def test_istiods_backdating_is_not_counted_against_the_lifetime(ca):
    """istiod signs notBefore = now - 2 minutes, notAfter = now + TTL: a default 24h certificate is within 24h."""
    issued = ca.issue_workload("cluster.local", "shop", "cart")
    assert issued.cert.not_valid_after_utc - issued.cert.not_valid_before_utc == DAY + dt.timedelta(minutes=2)
    assert failing(ProxyIdentity.from_config_dump(config_dump(issued.chain_pem, ca.cert_pem))) == set()
