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

from fixtures.database import Artefacts, artefacts_for
from meshproof.apps.mysql_query import AppConfig, query
from meshproof.database import Account, Database
from meshproof.local.mariadb import MariaDB
from meshproof.probe import ProbeResult, python_call
from meshproof.sslmode import MutualTls, SslMode, SslSetting

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


@pytest.fixture
def artefacts(database: Database, scratch: Path) -> Artefacts:
    """Seed 001's client-side files for this database, made as the conformance run makes them."""
    return artefacts_for(database, scratch)


@pytest.fixture
def setting_for(artefacts: Artefacts) -> Callable[[tuple[SslMode, MutualTls]], SslSetting]:
    """A valid setting carrying exactly the artefacts its row of the table needs, from this database."""
    return lambda combination: artefacts.setting(*combination)


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
