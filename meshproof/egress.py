"""Seed 000's /query app as data: its TLS setting, account and placeholders for one case.

Backend-neutral: the suite configures the app with :func:`app_values`; the
database it reaches and the reading of its answers are in :mod:`meshproof.database`.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from .database import MYSQL_PORT, Account, Database
from .sslmode import VALID, Artefact, MutualTls, SslMode, SslSetting

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
