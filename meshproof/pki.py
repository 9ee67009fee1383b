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
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ConfigError

KEY_MODE = 0o600
#: Istio's default workload certificate lifetime (pilot-agent ``SECRET_TTL``, 24h)
WORKLOAD_CERT_TTL = dt.timedelta(hours=24)
#: istiod's CA sets notBefore this far back against clock skew, notAfter = signing time + TTL
#: (istio/istio security/pkg/pki/util/generate_cert.go, ClockSkewGracePeriod)
CLOCK_SKEW_GRACE = dt.timedelta(minutes=2)


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

    def remaining(self) -> dt.timedelta:
        """How long the certificate is valid from now (the TTL it was asked for, right after signing)."""
        return self.cert.not_valid_after_utc - _now()

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

    def issue_workload(self, trust_domain: str, namespace: str, service_account: str,
                       lifetime: dt.timedelta = WORKLOAD_CERT_TTL) -> Issued:
        """An Istio-style workload certificate: no subject, SPIFFE URI SAN, valid until ``lifetime`` from now and
        backdated by ``CLOCK_SKEW_GRACE`` as istiod's CA does."""
        now = _now()
        return self.issue(
            "",
            uris=(spiffe_id(trust_domain, namespace, service_account),),
            not_before=now - CLOCK_SKEW_GRACE, not_after=now + lifetime,
        )


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """A pod's workload identity from its ServiceAccount: ``spiffe://<trust domain>/ns/<namespace>/sa/<name>``."""
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


def load_private_key(pem: bytes, what: str = "private key") -> PrivateKeyTypes:
    """Parse an unencrypted PEM private key, turning a malformed input into one clear error."""
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"malformed {what}: not an unencrypted PEM private key ({exc})") from None


def public_der(holder: PrivateKeyTypes | x509.Certificate) -> bytes:
    """The public key of a private key or a certificate, comparable between the two."""
    return holder.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------- seed 002: ingress gateway material


def trust_bundle(*authorities: CertificateAuthority) -> bytes:
    """Several CAs in one ``ca.crt``, as seed 002 concatenates acme.com.crt and pirate.com.crt."""
    return b"".join(ca.cert_pem for ca in authorities)


@dataclass
class GatewayMaterial:
    """Seed 002's certificates: the gateway's server identity and its partners' client identities.

    ``acme`` is the partner CA the gateway trusts, ``pirate`` one it must not.
    ``great_partner`` is the trusted client; ``bad_partner`` is signed by the
    pirate; ``expired_partner`` is acme's but no longer valid;
    ``other_san_partner`` is acme's but names a different partner in its SAN.
    """

    host: str
    server_ca: CertificateAuthority
    server: Issued
    acme: CertificateAuthority
    great_partner: Issued
    pirate: CertificateAuthority
    bad_partner: Issued
    expired_partner: Issued
    other_san_partner: Issued

    GREAT_PARTNER = "great-partner.apps.acme.com"
    OTHER_PARTNER = "other-partner.apps.acme.com"
    BAD_PARTNER = "bad-partner.apps.pirate.com"

    @classmethod
    def create(cls, host: str) -> "GatewayMaterial":
        server_ca = CertificateAuthority.create("example.com", "example Inc.")
        acme = CertificateAuthority.create("acme.com", "Acme Inc.")
        pirate = CertificateAuthority.create("pirate.com", "Pirate Inc.")
        long_ago = _now() - dt.timedelta(days=30)

        def partner(ca: CertificateAuthority, name: str, department: str, san: str | None = None, **validity) -> Issued:
            return ca.issue(name, organization=department, dns_names=(san or name,), server=False, **validity)

        return cls(
            host=host,
            server_ca=server_ca,
            server=server_ca.issue(host, organization="Great Department", dns_names=(host,), client=False),
            acme=acme,
            great_partner=partner(acme, cls.GREAT_PARTNER, "Great Department"),
            pirate=pirate,
            bad_partner=partner(pirate, cls.BAD_PARTNER, "Bad Department"),
            expired_partner=partner(acme, cls.GREAT_PARTNER, "Great Department",
                                    not_before=long_ago, not_after=long_ago + dt.timedelta(days=1)),
            other_san_partner=partner(acme, cls.GREAT_PARTNER, "Great Department", san=cls.OTHER_PARTNER),
        )

    def clients(self) -> dict[str, Issued]:
        return {"great-partner": self.great_partner, "bad-partner": self.bad_partner,
                "expired-partner": self.expired_partner, "other-san-partner": self.other_san_partner}

    def write(self, directory: Path) -> dict[str, tuple[Path, Path]]:
        """Client certificates and keys (0600) under ``directory``, plus the CAs' certificates."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for stem, ca in (("example.com", self.server_ca), ("acme.com", self.acme), ("pirate.com", self.pirate)):
            (directory / f"{stem}.crt").write_bytes(ca.cert_pem)
        return {name: issued.write(directory, name) for name, issued in self.clients().items()}

