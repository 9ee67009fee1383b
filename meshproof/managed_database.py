"""A database the user already runs (Aiven, Cloud SQL, Azure Flexible Server, Aurora, ...), named by options.

The suite then starts nothing: it checks the given files once, before any
test, and describes the database as every backend does
(:class:`~meshproof.database.ExternalDatabase`).  Passwords come from the
environment so they need not appear on a command line or in a CI log.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from cryptography import x509

from .database import MYSQL_PORT, PLAINTEXT_REFUSED, Account, Database, ExternalDatabase
from .errors import ConfigError
from .pki import load_certificates, load_private_key, public_der

PASSWORD_ENV = "MESHPROOF_DB_PASSWORD"
#: the REQUIRE X509 user's password; the password user's when unset
X509_PASSWORD_ENV = "MESHPROOF_DB_X509_PASSWORD"
DEFAULT_PRODUCT = "MySQL 8"


@dataclass(frozen=True)
class DatabaseOptions:
    """The ``--external-db-*`` options as given; ``None`` where absent."""

    host: str | None = None
    port: int = MYSQL_PORT
    user: str | None = None
    password: str | None = None
    x509_user: str | None = None
    ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    product: str = DEFAULT_PRODUCT
    unlisted_host: str | None = None

    def given(self) -> list[str]:
        """The options set apart from their defaults, by their command-line names."""
        defaults = DatabaseOptions()
        return [_flag(name) for name in self.__dataclass_fields__
                if name != "host" and getattr(self, name) != getattr(defaults, name)]


def _flag(field: str) -> str:
    return "--external-db-" + field.replace("_", "-")


def external_database(options: DatabaseOptions, environ: Mapping[str, str] = os.environ) -> ExternalDatabase | None:
    """The managed database the options describe, or ``None`` when no host is given; a bad set raises ConfigError."""
    if not options.host:
        if options.given():
            raise ConfigError(f"{options.given()[0]} needs --external-db-host")
        return None
    _check_pairs(options)
    missing = [_flag(f) for f in ("user", "x509_user", "ca", "client_cert") if getattr(options, f) is None]
    if missing:
        raise ConfigError(f"--external-db-host needs {', '.join(missing)}")
    if not 0 < options.port < 65536:
        raise ConfigError(f"--external-db-port {options.port}: not a TCP port")
    if options.product not in PLAINTEXT_REFUSED:
        raise ConfigError(f"--external-db-product {options.product!r}: choose one of {', '.join(PLAINTEXT_REFUSED)}")
    assert options.user and options.x509_user and options.ca and options.client_cert and options.client_key
    _check_files(options.ca, options.client_cert, options.client_key)
    password = options.password or environ.get(PASSWORD_ENV)
    if not password:
        raise ConfigError(f"no password for --external-db-user {options.user}: set {PASSWORD_ENV} "
                          "(or --external-db-password)")
    database = Database(
        host=options.host, port=options.port, server_name=options.host,
        password_user=Account(options.user, password),
        x509_user=Account(options.x509_user, environ.get(X509_PASSWORD_ENV) or password),
        ca_cert=options.ca, client_cert=options.client_cert, client_key=options.client_key, requires_tls=True,
    )
    return ExternalDatabase(database, options.product, options.unlisted_host or _address_of(options.host))


def _check_pairs(options: DatabaseOptions) -> None:
    if options.client_cert and not options.client_key:
        raise ConfigError("--external-db-client-cert needs --external-db-client-key")
    if options.client_key and not options.client_cert:
        raise ConfigError("--external-db-client-key needs --external-db-client-cert")


def _read(field: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{_flag(field)} {path}: {exc.strerror or exc}") from None


def _check_files(ca: Path, cert: Path, key: Path) -> None:
    """Every file is PEM, and the client key is the one of the client certificate."""
    for field, path in (("ca", ca), ("client_cert", cert)):
        for certificate in load_certificates(_read(field, path), f"{_flag(field)} {path}"):
            _check_validity(certificate, f"{_flag(field)} {path}")
    certificate = load_certificates(_read("client_cert", cert), f"{_flag('client_cert')} {cert}")[0]
    private = load_private_key(_read("client_key", key), f"{_flag('client_key')} {key}")
    if public_der(private) != public_der(certificate):
        raise ConfigError(f"{_flag('client_key')} {key} is not the key of {_flag('client_cert')} {cert}")


def _check_validity(certificate: x509.Certificate, what: str) -> None:
    """An expired or not yet valid certificate fails every verified connection: refuse it now, in one line."""
    now = datetime.now(timezone.utc)
    subject = certificate.subject.rfc4514_string()
    if certificate.not_valid_after_utc < now:
        raise ConfigError(f"{what}: certificate {subject} expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    if certificate.not_valid_before_utc > now:
        raise ConfigError(f"{what}: certificate {subject} is not valid before "
                          f"{certificate.not_valid_before_utc:%Y-%m-%d}")


def _address_of(host: str) -> str:
    """A name for verify-full that reaches the database but is not in its certificate: its IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ConfigError(f"--external-db-host {host} is an address: give --external-db-unlisted-host, a name that "
                          "reaches the database and is not in its certificate")
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as exc:
        raise ConfigError(f"cannot resolve --external-db-host {host} here ({exc.strerror or exc}); "
                          "give --external-db-unlisted-host") from None
