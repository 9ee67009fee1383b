"""Named TLS policies the posture checks compare a mesh against (``--tls-policy NAME``).

A policy gives the TLS versions and cipher suites allowed, the key-exchange
groups (curves) and the smallest keys a certificate may have.  Cipher suites
use their IANA names (RFC 8446 section B.4 for TLS 1.3, the IANA TLS Cipher
Suites registry for 1.2), which is how Envoy's ``cipher_suites`` list and TLS
scanners name them once translated from OpenSSL's spelling.

The named policies follow Mozilla's Server Side TLS recommendations, version
5.7 of https://ssl-config.mozilla.org/guidelines/5.7.json ("intermediate" and
"modern" configurations); the facts are restated here, not copied.
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .errors import ConfigError

TLS13_CIPHERS = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")

#: TLS versions in ascending order, as Envoy's ``tls_minimum_protocol_version`` names them (TLSv1_0 ...)
VERSIONS = ("1.0", "1.1", "1.2", "1.3")


@dataclass(frozen=True)
class TLSPolicy:
    """``versions``: allowed TLS versions ("1.2", "1.3"); ``ciphers``: IANA cipher suite names;
    ``curves``: key-exchange groups / ECDSA curves (OpenSSL names); ``min_rsa_bits``: smallest RSA
    key a certificate may carry (0: RSA not allowed); ``min_ec_bits``: smallest ECDSA curve size."""

    name: str
    source: str
    versions: tuple[str, ...]
    ciphers: tuple[str, ...]
    curves: tuple[str, ...]
    min_rsa_bits: int
    min_ec_bits: int

    @property
    def minimum_version(self) -> str:
        return min(self.versions, key=VERSIONS.index)

    def describe(self) -> str:
        rsa_text = f"RSA >= {self.min_rsa_bits}" if self.min_rsa_bits else "no RSA"
        return (f"{self.name}: TLS {', '.join(self.versions)}; {len(self.ciphers)} cipher suites; curves "
                f"{', '.join(self.curves)}; keys {rsa_text} or ECDSA >= P-{self.min_ec_bits} ({self.source})")

    def key_problem(self, certificate: x509.Certificate) -> str:
        """Why the certificate's public key falls short of the policy, or "" when it meets it."""
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if not self.min_rsa_bits:
                return f"an RSA {key.key_size}-bit key, and {self.name} allows no RSA certificates"
            if key.key_size < self.min_rsa_bits:
                return f"an RSA {key.key_size}-bit key, below {self.name}'s {self.min_rsa_bits}"
            return ""
        if isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.key_size < self.min_ec_bits:
                return f"an ECDSA {key.curve.name} key, below {self.name}'s P-{self.min_ec_bits}"
            return ""
        if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            return ""
        return f"a {type(key).__name__} key, which {self.name} does not allow"


#: OpenSSL (BoringSSL, Envoy's stats) names of TLS 1.2 suites -> IANA names; TLS 1.3 suites keep their IANA names
OPENSSL_TO_IANA = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "DHE-RSA-AES128-GCM-SHA256": "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "DHE-RSA-AES256-GCM-SHA384": "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "DHE-RSA-CHACHA20-POLY1305": "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-SHA": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE-RSA-AES128-SHA": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "AES128-SHA": "TLS_RSA_WITH_AES_128_CBC_SHA",
}


#: Envoy's (BoringSSL's) and TLS scanners' (SECG) names of key-exchange groups -> OpenSSL's, as the policies name them
CURVE_NAMES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1", "secp256r1": "prime256v1"}


def curve_name(name: str) -> str:
    return CURVE_NAMES.get(name, name)


def iana_cipher(name: str) -> str:
    """The IANA name of a cipher suite named either way; an unknown OpenSSL name is returned as it is."""
    return OPENSSL_TO_IANA.get(name, name)


#: post-quantum hybrid key exchange (X25519 combined with ML-KEM-768, draft-ietf-tls-ecdhe-mlkem) that Envoy's
#: BoringSSL offers first by default: meshproof's addition to Mozilla's curves, as it contains X25519 itself
HYBRID_GROUPS = ("X25519MLKEM768",)

MOZILLA = "Mozilla Server Side TLS 5.7, https://ssl-config.mozilla.org/guidelines/5.7.json"

POLICIES: dict[str, TLSPolicy] = {
    p.name: p
    for p in (
        TLSPolicy(
            "mozilla-intermediate", f"{MOZILLA} (intermediate)",
            versions=("1.2", "1.3"),
            ciphers=TLS13_CIPHERS + (
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            curves=("X25519", "prime256v1", "secp384r1") + HYBRID_GROUPS,
            min_rsa_bits=2048, min_ec_bits=256,
        ),
        TLSPolicy(
            "mozilla-modern", f"{MOZILLA} (modern)",
            versions=("1.3",),
            ciphers=TLS13_CIPHERS,
            curves=("X25519", "prime256v1", "secp384r1") + HYBRID_GROUPS,
            min_rsa_bits=0, min_ec_bits=256,
        ),
    )
}

DEFAULT_POLICY = "mozilla-intermediate"


def policy(name: str) -> TLSPolicy:
    """The named policy; ConfigError naming the known ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ConfigError(f"unknown TLS policy {name!r}; known: {', '.join(sorted(POLICIES))}") from None


def policy_help() -> str:
    return "TLS policy the posture checks compare against (default %s): %s" % (
        DEFAULT_POLICY, "; ".join(p.describe() for p in POLICIES.values()))
