"""Seed 000's egress scene as data: the external database, and what the /query app answered.

Backend-neutral: a backend starts the database and returns an
:class:`ExternalDatabase`; the suite configures the app with
:func:`app_values` and reads its answers with :func:`query_outcome`.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from .database import Account, Database
from .outcome import classify_database_error
from .probe import ProbeResult
from .sslmode import VALID, Artefact, MutualTls, SslMode, SslSetting

#: what a TLS-only server answers a client that did not start TLS, per server product
PLAINTEXT_REFUSED = {"MariaDB": 1045, "MySQL 8": 3159}
#: a REQUIRE X509 user without a client certificate, on both products
ACCESS_DENIED = 1045
#: the client's error when the connection closes before the server's greeting (a proxy dropped it)
LOST_CONNECTION = 2013

#: MySQL's port, where a database does not say otherwise (managed ones may)
MYSQL_PORT = 3306
#: where the app's Secret ``mysql-query-db-tls`` is mounted, and the file of each artefact (seed 001's names)
TLS_MOUNT = "/etc/mysql-query/tls"
ARTEFACT_FILES = {
    Artefact.CA: ("db-ca.pem", "DB_CA_PEM_BASE64"),
    Artefact.CLIENT_CERT: ("db-client-cert.pem", "DB_CLIENT_CERT_BASE64"),
    Artefact.CLIENT_KEY: ("db-client-key.pem", "DB_CLIENT_KEY_BASE64"),
    Artefact.CLIENT_KEYSTORE: ("db-client-keystore.jks", "DB_CLIENT_KEYSTORE_BASE64"),
}
#: pod template annotation carrying a digest of the app's settings: a change rolls the pod, as Helm's checksum does
CONFIG_DIGEST = "meshproof.io/db-settings-digest"


@dataclass(frozen=True)
class ExternalDatabase:
    """A running TLS-only database outside the mesh, and the facts the checks need about it."""

    database: Database
    product: str  # a key of PLAINTEXT_REFUSED
    #: a DNS name that reaches the database but is not in its certificate (for verify-full)
    unlisted_name: str

    @property
    def refuses_plaintext_with(self) -> int:
        return PLAINTEXT_REFUSED[self.product]


def setting_with(combination: tuple[SslMode, MutualTls], available: Mapping[Artefact, Path],
                 keystore_password: str) -> SslSetting:
    """The valid setting of ``combination`` carrying exactly the artefacts its row of seed 001's table needs."""
    needed = VALID[combination]
    password = keystore_password if Artefact.CLIENT_KEYSTORE in needed else None
    return SslSetting(*combination, keystore_password=password, **{a.value: available[a] for a in needed})


def account_for(database: Database, setting: SslSetting) -> Account:
    """Mutual TLS is proven with the REQUIRE X509 user, every other mode with the password user."""
    return database.x509_user if setting.mutual_tls is MutualTls.ENABLE else database.password_user


def _base64(path: Path | None) -> str:
    return base64.b64encode(path.read_bytes()).decode() if path else ""


def app_values(setting: SslSetting, account: Account, host: str, bundle: bytes, *,
               port: int = MYSQL_PORT) -> dict[str, str]:
    """The placeholders of manifests/egress/mysql-query.yaml for one case.

    ``setting`` names local files; the app gets their bytes in its Secret and
    the in-pod path of each one in its environment.
    """
    env = replace(setting, **{a.value: Path(TLS_MOUNT, ARTEFACT_FILES[a][0]) for a in setting.given()}).as_env()
    values = {
        "APP_BUNDLE_BASE64": base64.b64encode(bundle).decode(),
        "DB_HOST": host, "DB_PORT": str(port), "DB_USER": account.name, "DB_PASSWORD": account.password,
        "DB_SSL_MODE": setting.mode.value, "DB_MUTUAL_TLS": setting.mutual_tls.value,
        "DB_CLIENT_KEYSTORE_PASSWORD": setting.keystore_password or "",
    }
    for artefact, (_, data_key) in ARTEFACT_FILES.items():
        values[artefact.env] = env.get(artefact.env, "")
        values[data_key] = _base64(getattr(setting, artefact.value))
    return values


def digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def query_outcome(result: ProbeResult) -> ProbeResult:
    """Read the app's 502 ``{"error": {"code", "message"}}`` as the database outcome it reports."""
    if result.outcome.status != 502:
        return result
    try:
        error = json.loads(result.body)["error"]
    except (ValueError, KeyError, TypeError):
        return result
    return replace(result, outcome=classify_database_error(error.get("code"), str(error.get("message", ""))))
