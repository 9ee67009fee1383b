"""The external database on a cluster: MySQL 8 outside the mesh, from manifests/egress/mysql-external.yaml.

Per run, a database CA made here issues the server certificate (its SAN is
the Service's DNS name) and the X509 user's client certificate.  The
client's files stay on this machine in a private directory, from which the
app's Secret is made; the server gets its certificate and the set-up script
(users and rows) in the manifest's Secrets.
"""
from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .. import manifests
from ..cluster import Cluster, Manifest
from ..database import CLIENT_SUBJECT, Database, fresh_accounts, service_names, setup_script
from ..database import MYSQL_PORT, ExternalDatabase
from ..pki import CertificateAuthority

MANIFEST = "egress/mysql-external.yaml"
SELECTOR = {"app": "mysql"}
#: the manifest's image; it refuses a plaintext client with 3159
PRODUCT = "MySQL 8"


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def plan(namespace: str, labels: Mapping[str, str], directory: Path) -> tuple[list[Manifest], ExternalDatabase]:
    """The objects to apply in ``namespace`` and the database they make; the client's files go to ``directory``."""
    server_name, unlisted_name = service_names(namespace)
    # common names stay short (64 characters at most); clients check the DNS name in the SAN
    ca = CertificateAuthority.create("meshproof database CA", "meshproof")
    server = ca.issue("mysql", dns_names=(server_name,), client=False)
    ca_cert = directory / "ca.crt"
    ca_cert.write_bytes(ca.cert_pem)
    client_cert, client_key = ca.issue(CLIENT_SUBJECT, server=False).write(directory, "client")
    password_user, x509_user = fresh_accounts()
    database = Database(host=server_name, port=MYSQL_PORT, server_name=server_name,
                        password_user=password_user, x509_user=x509_user, ca_cert=ca_cert,
                        client_cert=client_cert, client_key=client_key, requires_tls=True)
    values = {
        "DB_CA_PEM_BASE64": _base64(ca.cert_pem),
        "DB_SERVER_CERT_BASE64": _base64(server.cert_pem),
        "DB_SERVER_KEY_BASE64": _base64(server.key_pem()),
        "DB_ROOT_PASSWORD": secrets.token_urlsafe(12),
        "DB_INIT_SQL": setup_script(password_user, x509_user),
    }
    objects = manifests.placed(manifests.filled(manifests.load(MANIFEST), values), namespace, labels)
    return objects, ExternalDatabase(database, PRODUCT, unlisted_name)


@dataclass
class _Running:
    objects: list[Manifest]
    directory: Path


class ClusterDatabases:
    """The databases one cluster backend started, by namespace; applied, waited for and deleted through it."""

    def __init__(self, cluster: Cluster, *, delete_timeout: float) -> None:
        self.cluster = cluster
        self.delete_timeout = delete_timeout
        self._running: dict[str, _Running] = {}

    def start(self, namespace: str, labels: Mapping[str, str], *, timeout: float) -> ExternalDatabase:
        directory = Path(tempfile.mkdtemp(prefix="meshproof-db-"))  # 0700: the client key lives here
        objects, external = plan(namespace, labels, directory)
        self._running[namespace] = _Running(objects, directory)
        try:
            self.cluster.apply_all(objects)
            self.cluster.wait_ready(namespace, SELECTOR, timeout=timeout)
        except BaseException:
            self.stop(namespace)
            raise
        return external

    def stop(self, namespace: str) -> None:
        """Delete the database's objects (its data dies with the pod) and the client's files."""
        running = self._running.pop(namespace)
        try:
            for obj in reversed(running.objects):
                self.cluster.delete(obj["kind"], obj["metadata"]["name"], namespace, timeout=self.delete_timeout)
        finally:
            shutil.rmtree(running.directory, ignore_errors=True)
