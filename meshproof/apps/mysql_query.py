"""The app of seed 000: an HTTP service that reads every row of a MySQL database over TLS.

``GET /query`` opens one database connection (so every call shows the mesh
as it is now), returns the rows of each table of the database as JSON,
together with the TLS version and cipher *the server* reports for the session
(the client saying "connected" proves nothing: pymysql falls back silently).
A database error answers 502 with ``{"error": {"code": <mysql code>,
"message": ...}}`` so a probe can classify it; ``GET /healthz`` answers
without touching the database, for readiness probes.

Its TLS settings come from the ``DB_*`` environment (see
:data:`meshproof.sslmode.ENV`) and are validated before it listens: an
invalid setting stops it with one line naming the rule.  It needs only the
standard library, pymysql and :mod:`meshproof.sslmode`, so a cluster can run
it from a ConfigMap on a stock Python image.

    python -m meshproof.apps.mysql_query --port 8080
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping

import pymysql
import pymysql.cursors

from meshproof.errors import ConfigError
from meshproof.sslmode import SslSetting, connect_kwargs

TLS_STATUS = "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')"


@dataclass(frozen=True)
class AppConfig:
    """Where the database is and how to reach it, read from the environment once at start."""

    host: str
    port: int
    user: str
    password: str
    database: str
    ssl: SslSetting
    connect_timeout: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AppConfig":
        missing = [name for name in ("DB_HOST", "DB_USER") if not env.get(name)]
        if missing:
            raise ConfigError(f"mysql-query needs {', '.join(missing)} in its environment")
        try:
            port, timeout = int(env.get("DB_PORT", "3306")), int(env.get("DB_CONNECT_TIMEOUT", "5"))
        except ValueError as exc:
            raise ConfigError(f"mysql-query: DB_PORT and DB_CONNECT_TIMEOUT must be integers ({exc})") from None
        return cls(
            host=env["DB_HOST"],
            port=port,
            user=env["DB_USER"],
            password=env.get("DB_PASSWORD", ""),
            database=env.get("DB_NAME", "test"),
            ssl=SslSetting.from_env(env),
            connect_timeout=timeout,
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Everything ``pymysql.connect`` needs; raises :class:`ConfigError` for an invalid TLS setting."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "connect_timeout": self.connect_timeout,
            "cursorclass": pymysql.cursors.DictCursor,
            **connect_kwargs(self.ssl),
        }


def _quoted(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def query(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """All rows of all tables of the database, and the session's TLS as the server sees it."""
    connection = pymysql.connect(**kwargs)
    try:
        with connection.cursor() as cursor:
            cursor.execute(TLS_STATUS)
            status = {row["Variable_name"]: row["Value"] for row in cursor.fetchall()}
            cursor.execute("SHOW TABLES")
            tables = [next(iter(row.values())) for row in cursor.fetchall()]
            rows = {}
            for table in tables:
                cursor.execute(f"SELECT * FROM {_quoted(table)}")
                rows[table] = cursor.fetchall()
    finally:
        connection.close()
    return {
        "database": kwargs["database"],
        "tables": rows,
        "tls": {"version": status.get("Ssl_version", ""), "cipher": status.get("Ssl_cipher", "")},
    }


def error_body(exc: Exception) -> dict[str, Any]:
    """The JSON a probe classifies: the MySQL error code (if any) and the driver's message."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = exc.args[1] if code is not None and len(exc.args) > 1 else str(exc)
    return {"error": {"code": code, "message": str(message)}}


class QueryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: pymysql connect arguments, set by :func:`make_server`
    kwargs: Mapping[str, Any] = {}

    def log_message(self, format: str, *args) -> None:  # one short line per request, on stdout
        print(f"{self.address_string()} {format % args}", flush=True)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path.split("?", 1)[0] == "/query":
            try:
                self._send(200, query(self.kwargs))
            except pymysql.err.MySQLError as exc:
                self._send(502, error_body(exc))
        else:
            self._send(404, {"error": {"code": None, "message": f"no such path {self.path}"}})

    def _send(self, status: int, payload: object) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(config: AppConfig, port: int, bind: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Validate the configuration, then listen: an invalid TLS setting never reaches the network."""
    handler = type("ConfiguredQueryHandler", (QueryHandler,), {"kwargs": config.connect_kwargs()})
    return ThreadingHTTPServer((bind, port), handler)


#: packages whose ``__init__`` goes into the bundle empty, so the embedded mesh does not come along
_BUNDLE_PACKAGES = ("meshproof", "meshproof/apps")


def bundle() -> bytes:
    """This app, the two meshproof modules it uses and the pinned pymysql, as one zip.

    With ``PYTHONPATH=<zip>`` a stock ``python`` image runs
    ``python -m meshproof.apps.mysql_query`` with nothing to install:
    no egress to a package index from inside the mesh, and on a cluster the
    very code (and pymysql version) the reference mesh ran.
    """
    import meshproof.errors
    import meshproof.sslmode

    files = {f"{package}/__init__.py": b"" for package in _BUNDLE_PACKAGES}
    for module in (meshproof.errors, meshproof.sslmode):
        files[module.__name__.replace(".", "/") + ".py"] = Path(module.__file__).read_bytes()
    files["meshproof/apps/mysql_query.py"] = Path(__file__).read_bytes()
    pymysql_root = Path(pymysql.__file__).parent
    for source in sorted(pymysql_root.rglob("*.py")):
        files[f"pymysql/{source.relative_to(pymysql_root).as_posix()}"] = source.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args(argv)
    try:
        server = make_server(AppConfig.from_env(os.environ), args.port, args.bind)
    except ConfigError as exc:
        print(f"mysql-query: {exc}", file=sys.stderr)
        return 2
    ready = os.environ.get("MESHPROOF_READY_FILE")  # the reference mesh's readiness signal
    if ready:
        Path(ready).touch()
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
