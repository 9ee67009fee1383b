"""A workload's certificate as its proxy holds it, read from Envoy's SDS state, and the checks on it.

Source: the ``/config_dump?resource=dynamic_active_secrets`` admin output
(``envoy.admin.v3.SecretsConfigDump``), where Envoy redacts private keys
(``[redacted]``), so nothing secret passes through here.  Istio's agent serves
the workload certificate as the SDS secret ``default`` and the mesh roots as
``ROOTCA`` (istio/istio ``pkg/security``: ``WorkloadKeyCertResourceName``,
``RootCertReqResourceName``).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import MeshproofError
from .pki import CLOCK_SKEW_GRACE
from .tlspolicy import TLSPolicy

WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"
#: the admin path that shows the SDS secrets a proxy holds
SECRETS_PATH = "/config_dump?resource=dynamic_active_secrets"

#: the pod annotation whose ``proxyMetadata`` become pilot-agent's environment (Istio ProxyConfig)
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
#: pilot-agent's setting of the workload certificate lifetime it asks for (default 24h)
SECRET_TTL = "SECRET_TTL"
#: the agent renews once less than this fraction of the lifetime remains (pilot-agent SECRET_GRACE_PERIOD_RATIO)
GRACE_PERIOD_RATIO = 0.5


def renewal_after(lifetime: dt.timedelta) -> dt.timedelta:
    """How long after issuance pilot-agent renews a certificate of ``lifetime``."""
    return lifetime * (1 - GRACE_PERIOD_RATIO)


def short_ttl_annotation(seconds: int) -> dict[str, str]:
    """The pod annotation that makes the agent ask for ``seconds``-long workload certificates."""
    return {PROXY_CONFIG_ANNOTATION: json.dumps({"proxyMetadata": {SECRET_TTL: f"{seconds}s"}})}


def _data_source(source: Mapping[str, Any]) -> bytes:
    """An Envoy ``DataSource`` given inline (``inline_bytes`` is base64 in JSON); files are refused."""
    if "inline_bytes" in source:
        return base64.b64decode(source["inline_bytes"])
    if "inline_string" in source:
        return source["inline_string"].encode()
    raise MeshproofError(f"SDS secret data is not inline ({sorted(source)}): not read from the proxy's own state")


def sds_secrets(config_dump: str) -> dict[str, dict[str, Any]]:
    """SDS secret name -> its ``Secret`` (tls_certificate or validation_context) from a config_dump's JSON."""
    try:
        dump = json.loads(config_dump)
    except json.JSONDecodeError as exc:
        raise MeshproofError(f"config_dump is not JSON: {exc}") from None
    found = {}
    for entry in dump.get("configs", []):
        secret = entry.get("secret") or {}
        found[entry.get("name") or secret.get("name", "")] = secret
    return found


@dataclass(frozen=True)
class ProxyIdentity:
    """``chain``: the workload certificate first, then intermediates; ``roots``: the trusted mesh roots."""

    chain: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @classmethod
    def from_config_dump(cls, config_dump: str) -> "ProxyIdentity":
        secrets = sds_secrets(config_dump)
        missing = [n for n in (WORKLOAD_SECRET, ROOT_SECRET) if n not in secrets]
        if missing:
            raise MeshproofError(f"the proxy holds no SDS secret {', '.join(missing)} (has {', '.join(secrets) or 'none'})")
        chain_pem = _data_source(secrets[WORKLOAD_SECRET]["tls_certificate"]["certificate_chain"])
        root_pem = _data_source(secrets[ROOT_SECRET]["validation_context"]["trusted_ca"])
        return cls(tuple(x509.load_pem_x509_certificates(chain_pem)), tuple(x509.load_pem_x509_certificates(root_pem)))


def uri_sans(certificate: x509.Certificate) -> list[str]:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        return []


def lifetime(certificate: x509.Certificate) -> dt.timedelta:
    """notAfter - notBefore; Istio's include CLOCK_SKEW_GRACE before the signing time."""
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


def key_text(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    return type(key).__name__


def signature_text(certificate: x509.Certificate) -> str:
    digest = certificate.signature_hash_algorithm
    return digest.name if digest else "no digest"


def chain_problem(identity: ProxyIdentity, now: dt.datetime) -> str:
    """Why the chain does not verify to one of the roots at ``now``, or "" when it does.

    Each certificate must be signed by the next one and be valid at ``now``; the last
    must be signed by a root (signature and issuer name, cryptography's
    ``verify_directly_issued_by``).
    """
    for certificate in identity.chain:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return f"{certificate.subject.rfc4514_string() or 'the workload certificate'} is not valid at {now:%Y-%m-%dT%H:%M:%SZ}"
    for child, parent in zip(identity.chain, identity.chain[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            return f"{child.subject.rfc4514_string() or 'the workload certificate'} is not issued by the next in the chain ({exc})"
    last = identity.chain[-1]
    for root in identity.roots:
        try:
            last.verify_directly_issued_by(root)
            return ""
        except (ValueError, TypeError, InvalidSignature):
            continue
    return f"the chain ends at issuer {last.issuer.rfc4514_string()!r}, which no mesh root ({len(identity.roots)}) signed"


def describe(identity: ProxyIdentity) -> str:
    """The report attachment of one workload: subject, SAN, issuer, serial, validity, key; never a private key."""
    leaf = identity.leaf
    lines = [
        f"subject: {leaf.subject.rfc4514_string() or '(empty)'}",
        f"URI SAN: {', '.join(uri_sans(leaf)) or '(none)'}",
        f"issuer: {leaf.issuer.rfc4514_string()}",
        f"serial: {leaf.serial_number:x}",
        f"not before: {leaf.not_valid_before_utc.isoformat()}",
        f"not after: {leaf.not_valid_after_utc.isoformat()}",
        f"lifetime: {lifetime(leaf)}",
        f"key: {key_text(leaf)}; signed with {signature_text(leaf)}",
        f"chain: {len(identity.chain)} certificate(s); mesh roots: "
        + "; ".join(r.subject.rfc4514_string() for r in identity.roots),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Finding:
    """One property of a workload certificate: what was required, whether it holds, what was seen."""

    aspect: str
    what: str
    holds: bool
    seen: str


#: the aspects :func:`findings` judges
IDENTITY, CHAIN, LIFETIME, KEY = "identity", "chain", "lifetime", "key"


def findings(identity: ProxyIdentity, *, expected_spiffe: str, policy: TLSPolicy, max_lifetime: dt.timedelta,
             now: dt.datetime) -> list[Finding]:
    """Identity (the URI SAN is exactly ``expected_spiffe``), chain (to a root at ``now``), lifetime (at most
    ``max_lifetime``) and key (``policy.key_problem``) of the workload certificate."""
    leaf = identity.leaf
    sans = uri_sans(leaf)
    chain = chain_problem(identity, now)
    key = policy.key_problem(leaf)
    return [
        Finding(IDENTITY, f"the URI SAN is {expected_spiffe}", sans == [expected_spiffe], f"URI SAN {sans}"),
        Finding(CHAIN, "the chain verifies to the mesh root", not chain, chain or "verified"),
        Finding(LIFETIME, f"the lifetime is at most {max_lifetime} (+ {CLOCK_SKEW_GRACE} backdated against clock skew)",
                lifetime(leaf) <= max_lifetime + CLOCK_SKEW_GRACE, f"lifetime {lifetime(leaf)}"),
        Finding(KEY, f"the key meets {policy.name}", not key, key or key_text(leaf)),
    ]
