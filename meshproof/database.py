"""The external database as every backend describes it: where it is, its users, its rows, its errors.

Neutral ground between the suites, the fixtures and the backends that run a
database (the reference mesh's MariaDB, a MySQL 8 on a cluster, a managed one).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from .outcome import Outcome, classify_database_error

DATABASE = "test"
TABLE = "items"
#: the rows of ``test.items`` (id, name), which ``GET /query`` must return
ROWS = ((1, "alpha"), (2, "beta"), (3, "gamma"))
#: the same rows as the /query app returns them in its JSON
ROWS_AS_JSON = [{"id": i, "name": name} for i, name in ROWS]
#: the subject of the client certificate the X509 user presents
CLIENT_SUBJECT = "mariadbclient"

#: what a TLS-only server answers a client that did not start TLS, per server product
PLAINTEXT_REFUSED = {"MariaDB": 1045, "MySQL 8": 3159}
#: a REQUIRE X509 user without a client certificate, on both products
ACCESS_DENIED = 1045
#: the client's error when the connection closes before the server's greeting (a proxy dropped it)
LOST_CONNECTION = 2013

#: MySQL's port, where a database does not say otherwise (managed ones may)
MYSQL_PORT = 3306


@dataclass(frozen=True)
class Account:
    name: str
    password: str


@dataclass(frozen=True)
class Database:
    """Where a running database is and what a client needs to reach it."""

    host: str  # where clients connect: 127.0.0.1, or the DNS name inside the mesh
    port: int
    server_name: str  # the DNS name in the server certificate's SAN
    password_user: Account
    x509_user: Account  # REQUIRE X509: needs the client certificate below
    ca_cert: Path  # the database CA, for verify-ca / verify-full
    client_cert: Path  # issued by the database CA to CLIENT_SUBJECT
    client_key: Path
    requires_tls: bool
    netns: str | None = None
    name: str = DATABASE


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


def fresh_accounts() -> tuple[Account, Account]:
    """The password user and the REQUIRE X509 user of a database the suite creates, with new passwords."""
    return Account("app", secrets.token_urlsafe(12)), Account("x509app", secrets.token_urlsafe(12))


def service_names(namespace: str) -> tuple[str, str]:
    """The database Service's DNS names in ``namespace``: the full one its certificate names, and a shorter one.

    The short name resolves to the same Service through the pods' DNS search
    path but is not in the certificate, so verify-full to it must fail.
    """
    return f"mysql.{namespace}.svc.cluster.local", f"mysql.{namespace}"


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def setup_script(password_user: Account, x509_user: Account, *, require_subject: bool = False) -> str:
    """SQL that creates the ``test`` rows and both users, on MariaDB and on MySQL 8 alike.

    Only statements both products share (no ``CREATE OR REPLACE``), and it
    may run again on a server that already has them.
    """
    x509 = f"SUBJECT {_sql_string('/CN=' + CLIENT_SUBJECT)}" if require_subject else "X509"
    values = ", ".join(f"({i}, {_sql_string(name)})" for i, name in ROWS)
    lines = [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE};",
        f"DROP TABLE IF EXISTS {DATABASE}.{TABLE};",
        f"CREATE TABLE {DATABASE}.{TABLE} (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL);",
        f"INSERT INTO {DATABASE}.{TABLE} VALUES {values};",
    ]
    for account, requirement in ((password_user, ""), (x509_user, f" REQUIRE {x509}")):
        user = f"{_sql_string(account.name)}@'%'"
        lines += [
            f"DROP USER IF EXISTS {user};",
            f"CREATE USER {user} IDENTIFIED BY {_sql_string(account.password)}{requirement};",
            f"GRANT SELECT ON {DATABASE}.* TO {user};",
        ]
    return "\n".join(lines) + "\n"


def query_outcome(outcome: Outcome, body: str) -> Outcome:
    """What the /query app answered, read as the database outcome it reports.

    A 502 with ``{"error": {"code", "message"}}`` is the database's error (a TLS
    failure wrapped in it is a TLS rejection); any other answer is ``outcome``.
    """
    if outcome.status != 502:
        return outcome
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return outcome
    return classify_database_error(error.get("code"), str(error.get("message", "")))
