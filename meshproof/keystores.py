"""Client keystores for the database, built from PEM the way seed 001 builds them with openssl and keytool.

Java clients want the client certificate and key in a password-protected
keystore (PKCS#12 or JKS) under the alias ``mariadbclient``.  The builders
return bytes: write them with :func:`meshproof.pki.write_private` (mode 0600).
The readers let tests and :mod:`meshproof.sslmode` check that a keystore holds
the chain and key it should.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import ConfigError
from .pki import load_certificates, load_private_key, public_der

#: the alias seed 001 gives the client entry (openssl -name, keytool -alias)
ALIAS = "mariadbclient"

_JKS_MAGIC = b"\xfe\xed\xfe\xed"


@dataclass(frozen=True)
class KeystoreEntry:
    """The private-key entry of a keystore: its alias, certificate chain (leaf first) and key."""

    alias: str
    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def key_matches(self) -> bool:
        """The key is the private half of the leaf certificate's public key."""
        return public_der(self.key) == public_der(self.certificate)

    def holds(self, cert_pem: bytes, key_pem: bytes) -> bool:
        """The entry is exactly this PEM certificate and key."""
        leaf = load_certificates(cert_pem, "client certificate")[0]
        key = load_private_key(key_pem, "client key")
        return self.certificate == leaf and public_der(key) == public_der(self.key)


def _inputs(cert_pem: bytes, key_pem: bytes) -> tuple[list[x509.Certificate], PrivateKeyTypes]:
    """The chain (leaf first, as in a PEM bundle) and key, refused if they do not belong together."""
    chain = load_certificates(cert_pem, "client certificate")
    key = load_private_key(key_pem, "client key")
    if public_der(key) != public_der(chain[0]):
        raise ConfigError("client key does not match the client certificate")
    return chain, key


def build_pkcs12(cert_pem: bytes, key_pem: bytes, password: str, alias: str = ALIAS) -> bytes:
    """``openssl pkcs12 -export -in cert -inkey key -name alias -passout pass:password``."""
    chain, key = _inputs(cert_pem, key_pem)
    return pkcs12.serialize_key_and_certificates(
        alias.encode(),
        key,
        chain[0],
        chain[1:] or None,
        serialization.BestAvailableEncryption(password.encode()),
    )


def build_jks(cert_pem: bytes, key_pem: bytes, password: str, alias: str = ALIAS) -> bytes:
    """``keytool -importkeystore`` of that PKCS#12: store and key protected by the same password."""
    chain, key = _inputs(cert_pem, key_pem)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certs = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    entry = jks.PrivateKeyEntry.new(alias, certs, pkcs8, "pkcs8")
    return jks.KeyStore.new("jks", [entry]).saves(password)


def read_pkcs12(data: bytes, password: str) -> KeystoreEntry:
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode())
    except ValueError as exc:
        raise ConfigError(f"PKCS#12 keystore cannot be opened: wrong password or corrupt ({exc})") from None
    if loaded.key is None or loaded.cert is None:
        raise ConfigError("PKCS#12 keystore holds no private-key entry")
    alias = (loaded.cert.friendly_name or b"").decode()
    chain = (loaded.cert.certificate, *(c.certificate for c in loaded.additional_certs))
    return KeystoreEntry(alias, chain, loaded.key)


def read_jks(data: bytes, password: str) -> KeystoreEntry:
    try:
        store = jks.KeyStore.loads(data, password)
    except (jks.util.KeystoreSignatureException, jks.util.DecryptionFailureException) as exc:
        raise ConfigError(f"JKS keystore cannot be opened: wrong password or corrupt ({exc})") from None
    entries = list(store.private_keys.values())
    if len(entries) != 1:
        raise ConfigError(f"JKS keystore holds {len(entries)} private-key entries, expected one")
    entry = entries[0]
    chain = tuple(x509.load_der_x509_certificate(der) for _kind, der in entry.cert_chain)
    key = serialization.load_der_private_key(entry.pkey_pkcs8, password=None)
    return KeystoreEntry(entry.alias, chain, key)


def read_keystore(path: Path, password: str) -> KeystoreEntry:
    """Read a JKS or PKCS#12 keystore, telling them apart by JKS's magic number."""
    data = Path(path).read_bytes()
    return read_jks(data, password) if data.startswith(_JKS_MAGIC) else read_pkcs12(data, password)
