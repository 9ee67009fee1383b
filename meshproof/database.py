"""The external database as every backend describes it: where it is, its users, its rows.

Neutral ground between the suites, the fixtures and the backends that run a
database (the reference mesh's MariaDB, a MySQL 8 on a cluster, a managed one).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

DATABASE = "test"
TABLE = "items"
#: the rows of ``test.items`` (id, name), which ``GET /query`` must return
ROWS = ((1, "alpha"), (2, "beta"), (3, "gamma"))
#: the same rows as the /query app returns them in its JSON
ROWS_AS_JSON = [{"id": i, "name": name} for i, name in ROWS]
#: the subject of the client certificate the X509 user presents
CLIENT_SUBJECT = "mariadbclient"


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
