"""Fixtures of the egress unit tests: a scratch directory and real MariaDB servers on loopback.

Everything a test starts or writes is gone when it ends: the scratch
directory is deleted (pytest's ``tmp_path`` would be kept for later runs)
and every server is stopped and its directory removed.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from meshproof.keystores import build_jks
from meshproof.local.apps.mysql_query import AppConfig, query
from meshproof.database import Account, Database
from meshproof.local.mariadb import MariaDB
from meshproof.pki import write_private
from meshproof.probe import ProbeResult, python_call
from meshproof.egress import setting_with
from meshproof.sslmode import Artefact, MutualTls, SslMode, SslSetting

#: the name in the loopback servers' certificates; it resolves to 127.0.0.1, the address does not match it
LOOPBACK_NAME = "localhost"


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mp-egress-") as directory:
        yield Path(directory)


def _running(scratch: Path, **options) -> Iterator[Database]:
    with MariaDB(scratch, LOOPBACK_NAME, **options) as database:
        yield database


@pytest.fixture
def database(scratch: Path) -> Iterator[Database]:
    """A TLS-only MariaDB (require_secure_transport=ON) on 127.0.0.1."""
    yield from _running(scratch)


@pytest.fixture
def database_without_required_tls(scratch: Path) -> Iterator[Database]:
    """The deliberate defect: a MariaDB that also accepts plaintext clients."""
    yield from _running(scratch, require_secure_transport=False)


KEYSTORE_PASSWORD = "changeme"


@pytest.fixture
def client_keystore(database: Database, scratch: Path) -> Path:
    """The X509 user's certificate and key as the JKS keystore seed 001 ships."""
    keystore = build_jks(database.client_cert.read_bytes(), database.client_key.read_bytes(), KEYSTORE_PASSWORD)
    return write_private(scratch / "db-client-keystore.jks", keystore)


@pytest.fixture
def setting_for(database: Database, client_keystore: Path) -> Callable[[tuple[SslMode, MutualTls]], SslSetting]:
    """A valid setting carrying exactly the artefacts its row of the table needs, from this database."""
    available = {
        Artefact.CA: database.ca_cert,
        Artefact.CLIENT_CERT: database.client_cert,
        Artefact.CLIENT_KEY: database.client_key,
        Artefact.CLIENT_KEYSTORE: client_keystore,
    }

    return lambda combination: setting_with(combination, available, KEYSTORE_PASSWORD)


@pytest.fixture
def query_database() -> Callable[..., ProbeResult]:
    """Run the app's own query with the app's own connect arguments, classified like any probe."""

    def run(database: Database, setting: SslSetting, account: Account, host: str = LOOPBACK_NAME) -> ProbeResult:
        config = AppConfig(host, database.port, account.name, account.password, database.name, setting)
        kwargs = config.connect_kwargs()
        return python_call(
            f"pymysql ssl-mode {setting.mode.value}, mutual TLS {setting.mutual_tls.value} -> {host}:{database.port}",
            f"pymysql.connect(host={host!r}, port={database.port}, user={account.name!r}, {setting.as_env()})",
            lambda: (0, json.dumps(query(kwargs), default=str)),
        )

    return run
