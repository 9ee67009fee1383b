"""Certificate authorities, leaf certificates and keystores, made with ``cryptography``.

Private keys are written with mode 0600 and never returned as text for a report:
:class:`Issued` keeps the key as an object and only :meth:`Issued.write` puts it on disk.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ConfigError

KEY_MODE = 0o600


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = []
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_private(path: Path, data: bytes) -> Path:
    """Write secret bytes so that no other user can read them, ever (created 0600, not chmod'ed later)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, KEY_MODE)
    return path


@dataclass
class Issued:
    """A certificate, its private key and the chain up to (excluding) the root."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return self.cert_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM; hand it to a file with :func:`write_private` or to an in-memory Secret."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self.cert.issuer.rfc4514_string()

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` (chain) and ``<stem>.key`` (0600); return both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        crt = directory / f"{stem}.crt"
        crt.write_bytes(self.chain_pem)
        key = write_private(directory / f"{stem}.key", self.key_pem())
        return crt, key


@dataclass
class CertificateAuthority:
    """A self-signed root that issues server, client and SPIFFE workload certificates."""

    name: x509.Name
    issued: Issued

    @classmethod
    def create(cls, common_name: str, organization: str | None = None, days: int = 365) -> "CertificateAuthority":
        key = _new_key()
        name = _name(common_name, organization)
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(name=name, issued=Issued(cert=cert, key=key))

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.cert

    @property
    def cert_pem(self) -> bytes:
        return self.issued.cert_pem

    def issue(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        uris: tuple[str, ...] = (),
        client: bool = True,
        server: bool = True,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        days: int = 30,
    ) -> Issued:
        key = _new_key()
        now = _now()
        start = not_before or now - dt.timedelta(minutes=5)
        end = not_after or now + dt.timedelta(days=days)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization) if common_name else x509.Name([]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issued.key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not common_name)
        cert = builder.sign(self.issued.key, hashes.SHA256())
        return Issued(cert=cert, key=key)

    def issue_workload(self, trust_domain: str, namespace: str, service_account: str, days: int = 1) -> Issued:
        """An Istio-style workload certificate: no subject, SPIFFE URI SAN."""
        return self.issue(
            "",
            uris=(spiffe_id(trust_domain, namespace, service_account),),
            days=days,
        )


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def load_certificates(pem: bytes, what: str = "certificate") -> list[x509.Certificate]:
    """Parse PEM certificates, turning a malformed input into one clear error."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"malformed {what}: not a PEM certificate ({exc})") from None
    if not certs:
        raise ConfigError(f"malformed {what}: no certificate found")
    return certs
