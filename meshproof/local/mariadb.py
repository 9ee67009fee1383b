"""The external database of the reference mesh: a real MariaDB that only speaks TLS.

Each server gets its own directory under the caller's run directory (data,
configuration, certificates, socket, log) and its own database CA, whose
server certificate names the database's DNS name.  It has a password user, a
``REQUIRE X509`` user and a ``test`` database with :data:`ROWS`.  It runs
either on 127.0.0.1 with a free port (unit tests) or on 0.0.0.0:3306 inside a
network namespace (``ip netns exec``), and :meth:`MariaDB.stop` leaves neither
a process nor a file behind.

``require_secure_transport=False`` is the deliberate defect "a database that
does not require TLS": the checks that expect a plaintext client to be refused
must fail against it.
"""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pymysql

from ..errors import MeshproofError
from . import host, processes
from ..database import CLIENT_SUBJECT, DATABASE, Database, fresh_accounts, setup_script
from ..pki import CertificateAuthority, write_private

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = "mariadb-install-db"
DEBIAN_PACKAGE = "mariadb-server"

NETNS_PORT = 3306

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_POLL = 0.02


def ensure_installed() -> None:
    """Install the Debian package once if the server binary is missing."""
    if MARIADBD.exists():
        return
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise MeshproofError(f"cannot install {DEBIAN_PACKAGE}: {' '.join(argv)} failed: {done.stderr.strip()[-300:]}")


def free_port() -> int:
    """A port nobody listens on at the moment (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_config(directory: Path, *, bind: str, port: int, require_secure_transport: bool) -> str:
    """my.cnf of one server: everything under ``directory``, tuned to start fast, not to last.

    The temporary directory is private too: a starting server deletes every ``#sql*``
    file in its tmpdir, so servers sharing /tmp (parallel workers) delete the
    temporary tables of a bootstrap running next to them.
    """
    on_off = "ON" if require_secure_transport else "OFF"
    return f"""\
[mariadbd]
user = root
datadir = {directory / "data"}
socket = {directory / "mariadbd.sock"}
pid-file = {directory / "mariadbd.pid"}
log-error = {directory / "error.log"}
tmpdir = {directory / "tmp"}
init-file = {directory / "init.sql"}
bind-address = {bind}
port = {port}
skip-name-resolve
skip-log-bin
require_secure_transport = {on_off}
ssl_ca = {directory / "tls" / "ca.crt"}
ssl_cert = {directory / "tls" / "server.crt"}
ssl_key = {directory / "tls" / "server.key"}
innodb_buffer_pool_size = 16M
innodb_log_file_size = 4M
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
innodb_fast_shutdown = 2
"""


class MariaDB:
    """One MariaDB server process and its files; a context manager that starts and stops it."""

    def __init__(
        self,
        run_dir: Path,
        server_name: str,
        *,
        netns: str | None = None,
        require_secure_transport: bool = True,
        require_subject: bool = False,
    ) -> None:
        self.server_name = server_name
        self.netns = netns
        self.require_secure_transport = require_secure_transport
        self.require_subject = require_subject
        self.directory = Path(run_dir) / f"mariadb-{secrets.token_hex(3)}"
        self.ca = CertificateAuthority.create("meshproof database CA", "meshproof")
        self.process: subprocess.Popen | None = None
        self.database: Database | None = None
        self.startup_seconds: float | None = None

    def __enter__(self) -> Database:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Database:
        """Initialise the data directory, start the server and return once it answers."""
        ensure_installed()
        began = time.monotonic()
        self.directory.mkdir(parents=True)
        try:
            db = self._plan()
            self._write_files(db)
            self._install_system_tables()
            self._launch()
            self._wait_ready(db)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self.database = db
        return db

    def _plan(self) -> Database:
        """Where it will listen and who may log in, decided before anything is written."""
        tls = self.directory / "tls"
        in_netns = self.netns is not None
        password_user, x509_user = fresh_accounts()
        return Database(
            host=self.server_name if in_netns else "127.0.0.1",
            port=NETNS_PORT if in_netns else free_port(),
            server_name=self.server_name,
            password_user=password_user,
            x509_user=x509_user,
            ca_cert=tls / "ca.crt",
            client_cert=tls / "client.crt",
            client_key=tls / "client.key",
            requires_tls=self.require_secure_transport,
            netns=self.netns,
        )

    def _write_files(self, db: Database) -> None:
        tls = db.ca_cert.parent
        tls.mkdir()
        (self.directory / "tmp").mkdir(mode=0o700)
        db.ca_cert.write_bytes(self.ca.cert_pem)
        self.ca.issue(self.server_name, dns_names=(self.server_name,), client=False).write(tls, "server")
        self.ca.issue(CLIENT_SUBJECT, server=False).write(tls, "client")
        write_private(self.directory / "init.sql", setup_script(db.password_user, db.x509_user, require_subject=self.require_subject).encode())
        bind = "0.0.0.0" if self.netns else "127.0.0.1"
        config = server_config(
            self.directory, bind=bind, port=db.port, require_secure_transport=self.require_secure_transport
        )
        (self.directory / "my.cnf").write_text(config)

    @property
    def _defaults(self) -> str:
        return f"--defaults-file={self.directory / 'my.cnf'}"

    def _install_system_tables(self) -> None:
        done = subprocess.run(
            [INSTALL_DB, self._defaults, "--skip-test-db", "--auth-root-authentication-method=socket"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line.upper()]
            raise MeshproofError(f"{INSTALL_DB} failed: {' | '.join(errors[-3:]) or 'no error line'}; "
                                 f"error log: {self.error_log_tail()}")

    def _launch(self) -> None:
        argv = [str(MARIADBD), self._defaults]
        # the server dies with the run even when the run is killed
        argv = host.netns_exec(self.netns, argv) if self.netns else [*processes.PDEATHSIG, *argv]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_ready(self, db: Database) -> None:
        """Poll the unix socket (reachable from any namespace) until the set-up user gets in.

        The server listens on TCP and runs ``init_file`` before it accepts on
        either socket, so one login proves the TLS listener and the users exist.
        """
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise MeshproofError(f"mariadbd exited with {self.process.returncode}: {self.error_log_tail()}")
            try:
                pymysql.connect(
                    unix_socket=str(self.directory / "mariadbd.sock"),
                    user=db.password_user.name,
                    password=db.password_user.password,
                    database=DATABASE,
                    connect_timeout=1,
                ).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise MeshproofError(f"mariadbd not ready after {READY_TIMEOUT:g}s: {self.error_log_tail()}") from None
                time.sleep(_POLL)

    def error_log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join((self.directory / "error.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def stop(self) -> None:
        """Stop the server (TERM, then KILL) and remove its directory; safe to call twice."""
        if self.process is not None:
            processes.stop(self.process, STOP_TIMEOUT)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.database = None
