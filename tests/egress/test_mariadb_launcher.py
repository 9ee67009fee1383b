"""The MariaDB launcher: a TLS-only server that starts fast and leaves nothing behind."""
from __future__ import annotations

import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pymysql
import pytest
from cryptography import x509

from fixtures.database import artefacts_for
from meshproof.errors import MeshproofError
from meshproof.local import mariadb
from meshproof.database import CLIENT_SUBJECT
from meshproof.local.mariadb import NETNS_PORT, MariaDB
from meshproof.sslmode import MutualTls, SslMode, SslSetting, connect_kwargs

#: generous bound on a start measured at about 0.7 s, so a slow CI machine does not flake
START_BUDGET_SECONDS = 10.0
DB_NAME = "mysql.external.example"


def ask(database, sql: str, setting: SslSetting | None = None, account=None) -> str:
    """One value from the server, over a verified TLS session unless told otherwise."""
    setting = setting or SslSetting(SslMode.VERIFY_CA, ca=database.ca_cert)
    account = account or database.password_user
    kwargs = connect_kwargs(setting)
    with pymysql.connect(host=database.host, port=database.port, user=account.name, password=account.password, **kwargs) as conn:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return str(cursor.fetchone()[0])


def test_the_server_requires_tls_and_presents_a_certificate_for_its_name(scratch):
    server = MariaDB(scratch, DB_NAME)
    with server as database:
        assert server.startup_seconds < START_BUDGET_SECONDS
        assert ask(database, "SELECT @@require_secure_transport") == "1"
        certificate = x509.load_pem_x509_certificate((server.directory / "tls" / "server.crt").read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [DB_NAME]
        certificate.verify_directly_issued_by(server.ca.cert)
        assert database.ca_cert.read_bytes() == server.ca.cert_pem


def test_secrets_on_disk_are_private(database, scratch):
    (directory,) = scratch.glob("mariadb-*")
    for secret in (directory / "tls" / "server.key", database.client_key, directory / "init.sql"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret


def test_the_defect_switch_turns_required_tls_off(database_without_required_tls):
    assert database_without_required_tls.requires_tls is False
    assert ask(database_without_required_tls, "SELECT @@require_secure_transport") == "0"


def test_stop_leaves_no_process_and_no_file(scratch):
    server = MariaDB(scratch, DB_NAME)
    server.start()
    pid = server.process.pid
    server.stop()
    assert not Path(f"/proc/{pid}").exists()
    assert list(scratch.iterdir()) == []
    server.stop()  # twice is harmless


def test_a_starting_server_spares_the_temporary_tables_of_its_neighbours(scratch):
    """Parallel workers each start servers; one must not delete another's ``#sql*`` files."""
    neighbour = Path(tempfile.gettempdir()) / f"#sql-temptable-meshproof-{uuid.uuid4().hex[:8]}.MAD"
    neighbour.touch()
    try:
        with MariaDB(scratch, DB_NAME) as database:
            assert ask(database, "SELECT @@tmpdir").startswith(str(scratch))
        assert neighbour.exists()
    finally:
        neighbour.unlink(missing_ok=True)


def test_a_server_that_cannot_start_is_reported_and_cleaned_up(scratch, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(mariadb, "free_port", lambda: taken.getsockname()[1])
        server = MariaDB(scratch, DB_NAME)
        with pytest.raises(MeshproofError, match="mariadbd exited"):
            server.start()
    assert server.process.poll() is not None
    assert list(scratch.iterdir()) == []


def test_require_subject_admits_the_issued_client_certificate(scratch):
    with MariaDB(scratch, DB_NAME, require_subject=True) as database:
        client = x509.load_pem_x509_certificate(database.client_cert.read_bytes())
        assert client.subject.rfc4514_string() == f"CN={CLIENT_SUBJECT}"
        setting = artefacts_for(database, scratch).setting(SslMode.VERIFY_CA, MutualTls.ENABLE)
        user = database.x509_user
        assert ask(database, "SELECT CURRENT_USER()", setting, user).startswith(f"{user.name}@")


@pytest.fixture
def netns():
    """A network namespace of our own (prefix mp-), whose hosts file maps the database name to itself."""
    name = f"mp-egress-{uuid.uuid4().hex[:6]}"
    hosts = Path("/etc/netns") / name / "hosts"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        hosts.parent.mkdir(parents=True)
        hosts.write_text(f"127.0.0.1 localhost {DB_NAME}\n")
        yield name
    finally:
        left = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        subprocess.run(["ip", "netns", "delete", name], check=True)
        if hosts.parent.exists():
            hosts.unlink(missing_ok=True)
            hosts.parent.rmdir()
        assert left == [], f"processes left in {name}: {left}"


CLIENT = textwrap.dedent(
    """
    import json, os, pymysql
    from meshproof.sslmode import SslSetting, connect_kwargs
    kwargs = connect_kwargs(SslSetting.from_env(os.environ))
    with pymysql.connect(host=os.environ["DB_HOST"], port=int(os.environ["DB_PORT"]), user=os.environ["DB_USER"],
                         password=os.environ["DB_PASSWORD"], **kwargs) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        print(cursor.fetchone()[1])
    """
)


def test_inside_a_namespace_it_listens_on_3306_for_its_dns_name(scratch, netns):
    with MariaDB(scratch, DB_NAME, netns=netns) as database:
        assert (database.host, database.port, database.netns) == (DB_NAME, NETNS_PORT, netns)
        setting = SslSetting(SslMode.VERIFY_FULL, ca=database.ca_cert)
        env = {
            **setting.as_env(), "DB_HOST": database.host, "DB_PORT": str(database.port),
            "DB_USER": database.password_user.name, "DB_PASSWORD": database.password_user.password,
            "PYTHONPATH": str(Path(mariadb.__file__).parents[2]),
        }
        done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CLIENT],
                              env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().startswith("TLSv")
