"""The external database as every backend describes it: where it is, its users, its rows.

Neutral ground between the suites, the fixtures and the backends that run a
database (the reference mesh's MariaDB, a MySQL 8 on a cluster, a managed one).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATABASE = "test"
TABLE = "items"
#: the rows of ``test.items`` (id, name), which ``GET /query`` must return
ROWS = ((1, "alpha"), (2, "beta"), (3, "gamma"))
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
