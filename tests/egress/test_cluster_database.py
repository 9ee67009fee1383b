"""The external database on a cluster, proven without one: the deployed MySQL 8's objects, and the options.

The set-up script the MySQL 8 pod runs is run here against a real MariaDB:
both products share every statement of it.
"""
from __future__ import annotations

import base64

import pymysql
import pytest
from cryptography import x509

from meshproof.database import CLIENT_SUBJECT, ROWS, TABLE
from meshproof.errors import ConfigError
from meshproof.kube.database import ClusterDatabases, plan
from meshproof.local.mariadb import MariaDB
from meshproof.managed_database import DatabaseOptions, external_database
from meshproof.pki import CertificateAuthority

from tests.kube.schemas import problems
from tests.suite_runner import run_pytest

NAMESPACE = "egress-db-abc123"
LABELS = {"app.kubernetes.io/managed-by": "meshproof", "meshproof.io/run": "abc123"}
SERVICE_DNS = f"mysql.{NAMESPACE}.svc.cluster.local"


@pytest.fixture
def planned(scratch):
    objects, external = plan(NAMESPACE, LABELS, scratch)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}, external


def test_every_object_filled_for_a_run_is_valid_and_placed_in_its_namespace(planned):
    objects, _ = planned
    assert sorted(objects) == ["Deployment/mysql", "Secret/mysql-init", "Secret/mysql-tls", "Service/mysql"]
    for obj in objects.values():
        assert problems(obj) == []
        assert obj["metadata"]["namespace"] == NAMESPACE
        assert LABELS.items() <= obj["metadata"]["labels"].items()


class _NeverReady:
    """A cluster on which the database pod never turns ready; it records the deletes it is asked for."""

    def __init__(self) -> None:
        self.deleted: list[tuple[str, float]] = []

    def apply_all(self, objects) -> None:
        pass

    def wait_ready(self, namespace, selector, *, timeout):
        raise TimeoutError(f"{selector} in {namespace} not ready after {timeout}s")

    def delete(self, kind, name, namespace, *, timeout) -> None:
        self.deleted.append((f"{kind}/{name}", timeout))


def test_a_database_that_never_turns_ready_is_deleted_within_the_runs_delete_timeout():
    cluster = _NeverReady()
    with pytest.raises(TimeoutError):
        ClusterDatabases(cluster, delete_timeout=7).start(NAMESPACE, LABELS, timeout=1)
    assert sorted(cluster.deleted) == [(obj, 7) for obj in
                                       ("Deployment/mysql", "Secret/mysql-init", "Secret/mysql-tls", "Service/mysql")]


def test_the_server_certificate_names_the_service_and_the_client_trusts_its_ca(planned):
    objects, external = planned
    tls = {k: base64.b64decode(v) for k, v in objects["Secret/mysql-tls"]["data"].items()}
    server = x509.load_pem_x509_certificate(tls["server-cert.pem"])
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [SERVICE_DNS]
    ca = x509.load_pem_x509_certificate(external.database.ca_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert tls["ca.pem"] == external.database.ca_cert.read_bytes()
    client = x509.load_pem_x509_certificate(external.database.client_cert.read_bytes())
    client.verify_directly_issued_by(ca)
    assert client.subject.rfc4514_string() == f"CN={CLIENT_SUBJECT}"


def test_the_database_is_mysql_8_reached_by_its_service_name(planned):
    _, external = planned
    db = external.database
    assert (db.host, db.server_name, db.port, db.requires_tls) == (SERVICE_DNS, SERVICE_DNS, 3306, True)
    assert (external.product, external.refuses_plaintext_with) == ("MySQL 8", 3159)
    assert external.unlisted_name == f"mysql.{NAMESPACE}"
    assert (db.password_user.name, db.x509_user.name) == ("app", "x509app")
    assert db.password_user.password != db.x509_user.password


def _rows(server, account, **tls):
    """The rows ``account`` reads over TLS verified against the server's CA (and ``tls``: a client certificate)."""
    with pymysql.connect(host="127.0.0.1", port=server.port, user=account.name, password=account.password,
                         ssl_ca=str(server.ca_cert), ssl_verify_cert=True, **tls) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT id, name FROM test.{TABLE} ORDER BY id")
        return tuple(cursor.fetchall())


def test_the_init_script_creates_the_users_and_rows_the_suite_expects(planned, scratch):
    objects, external = planned
    script = objects["Secret/mysql-init"]["stringData"]["init.sql"]
    server = MariaDB(scratch, "localhost")
    with server as local:
        with pymysql.connect(unix_socket=str(server.directory / "mariadbd.sock"), user="root") as root:
            with root.cursor() as cursor:
                for statement in filter(None, map(str.strip, script.split(";\n"))):
                    cursor.execute(statement)
        app, x509_user = external.database.password_user, external.database.x509_user
        assert _rows(local, app) == ROWS
        assert _rows(local, x509_user, ssl_cert=str(local.client_cert), ssl_key=str(local.client_key)) == ROWS
        with pytest.raises(pymysql.err.OperationalError) as denied:
            _rows(local, x509_user)
        assert denied.value.args[0] == 1045


# ------------------------------------------------------------------- a managed database named by options

@pytest.fixture
def client_files(scratch):
    ca = CertificateAuthority.create("managed database CA")
    (scratch / "ca.pem").write_bytes(ca.cert_pem)
    ca.issue(CLIENT_SUBJECT, server=False).write(scratch, "client")
    ca.issue("someone else", server=False).write(scratch, "other")
    return {"ca": scratch / "ca.pem", "client_cert": scratch / "client.crt", "client_key": scratch / "client.key"}


def options(files, **changes) -> DatabaseOptions:
    given = dict(host="db.example.net", user="app", x509_user="x509app", unlisted_host="10.1.2.3", **files)
    return DatabaseOptions(**{**given, **changes})


def test_no_host_means_no_managed_database():
    assert external_database(DatabaseOptions(), environ={}) is None


def test_the_options_describe_the_managed_database(client_files):
    given = external_database(options(client_files, port=24306, product="MariaDB"),
                              environ={"MESHPROOF_DB_PASSWORD": "pw", "MESHPROOF_DB_X509_PASSWORD": "xpw"})
    db = given.database
    assert (db.host, db.server_name, db.port) == ("db.example.net", "db.example.net", 24306)
    assert (db.password_user.name, db.password_user.password, db.x509_user.name, db.x509_user.password) == (
        "app", "pw", "x509app", "xpw")
    assert (db.ca_cert, db.client_cert, db.client_key) == (
        client_files["ca"], client_files["client_cert"], client_files["client_key"])
    assert (given.refuses_plaintext_with, given.unlisted_name) == (1045, "10.1.2.3")


def test_the_x509_user_shares_the_password_and_the_unlisted_name_is_the_address(client_files):
    given = external_database(options(client_files, host="localhost", unlisted_host=None, password="pw"), environ={})
    assert given.database.x509_user.password == "pw"
    assert given.unlisted_name in ("127.0.0.1", "::1")


@pytest.mark.parametrize("changes, message", [
    (dict(client_key=None), "--external-db-client-cert needs --external-db-client-key"),
    (dict(ca=None, x509_user=None), "--external-db-host needs --external-db-x509-user, --external-db-ca"),
    (dict(port=0), "--external-db-port 0: not a TCP port"),
    (dict(product="Postgres"), "--external-db-product 'Postgres': choose one of MariaDB, MySQL 8"),
    (dict(password=None), "no password for --external-db-user app: set MESHPROOF_DB_PASSWORD"),
    (dict(host="10.0.0.7", unlisted_host=None), "--external-db-host 10.0.0.7 is an address"),
], ids=["cert-without-key", "missing-options", "bad-port", "unknown-product", "no-password", "address-as-host"])
def test_a_bad_combination_is_refused_naming_the_rule(client_files, changes, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        external_database(options(client_files, **{"password": "pw", **changes}), environ={})


def test_a_client_key_of_another_certificate_is_refused(client_files, scratch):
    with pytest.raises(ConfigError, match=r"--external-db-client-key .*other.key is not the key of"):
        external_database(options(client_files, password="pw", client_key=scratch / "other.key"), environ={})


def _child(*argv: str):
    return run_pytest(["suites", "-m", "egress-tls", "--collect-only", "-q", *argv],
                      env={"MESHPROOF_DB_PASSWORD": "pw"}, timeout=120)


@pytest.mark.parametrize("case, argv, line", [
    ("malformed CA", ["--external-db-ca", "{scratch}/client.key"],
     "ERROR: malformed --external-db-ca {scratch}/client.key: not a PEM certificate"),
    ("missing file", ["--external-db-ca", "{scratch}/nothing.pem"],
     "ERROR: --external-db-ca {scratch}/nothing.pem: No such file or directory"),
    ("option without host", ["--external-db-user", "app"], "ERROR: --external-db-user needs --external-db-host"),
    ("reference mesh", ["--backend", "local", "--external-db-host", "db.example.net"],
     "ERROR: --external-db-host needs --backend kube"),
])
def test_the_run_ends_at_once_with_one_line_and_exit_4(client_files, scratch, case, argv, line):
    complete = ["--backend", "kube", "--external-db-host", "db.example.net", "--external-db-user", "app",
                "--external-db-x509-user", "x509app", "--external-db-unlisted-host", "10.1.2.3",
                *(f"--external-db-{f.replace('_', '-')}={p}" for f, p in client_files.items())]
    if case == "option without host":
        complete = []
    done = _child(*complete, *(a.format(scratch=scratch) for a in argv))
    errors = [l for l in (done.stdout + done.stderr).splitlines() if l.strip()]
    assert done.returncode == 4, done.stdout + done.stderr
    assert len(errors) == 1 and errors[0].startswith(line.format(scratch=scratch)), errors
