"""The app of seed 000, run as the mesh runs it: ``python -m meshproof.apps.mysql_query --port N``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from meshproof.apps.mysql_query import bundle
from meshproof.database import ROWS_AS_JSON, TABLE
from meshproof.database import PLAINTEXT_REFUSED
from meshproof.local.mariadb import free_port
from meshproof.sslmode import RULE_COMBINATION, MutualTls, SslMode, SslSetting

READY_TIMEOUT = 10.0


def app_env(database, setting: SslSetting, account, host: str) -> dict[str, str]:
    return {
        "DB_HOST": host, "DB_PORT": str(database.port), "DB_USER": account.name,
        "DB_PASSWORD": account.password, **setting.as_env(),
    }


APP = ["-m", "meshproof.apps.mysql_query"]


@contextmanager
def running_app(env: dict[str, str], scratch: Path, python: tuple[str, ...] = (sys.executable,), cwd: Path | None = None) -> Iterator[str]:
    """Start the app, wait for its ready file (no fixed sleep), yield its URL, and stop it."""
    ready, port = scratch / "app.ready", free_port()
    process = subprocess.Popen(
        [*python, *APP, "--port", str(port), "--bind", "127.0.0.1"],
        env={**os.environ, **env, "MESHPROOF_READY_FILE": str(ready)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.exists():
            assert process.poll() is None, f"app exited: {process.stderr.read()}"
            assert time.monotonic() < deadline, "app not ready"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_query_returns_the_rows_and_the_tls_the_server_reports(database, setting_for, scratch):
    setting = setting_for((SslMode.VERIFY_FULL, MutualTls.ENABLE))
    with running_app(app_env(database, setting, database.x509_user, database.server_name), scratch) as url:
        assert get(f"{url}/healthz") == (200, {"status": "ok"})
        status, body = get(f"{url}/query")
    assert status == 200, body
    assert body["database"] == "test"
    assert body["tables"] == {TABLE: ROWS_AS_JSON}
    assert body["tls"]["version"].startswith("TLSv") and body["tls"]["cipher"]


def test_a_database_error_is_a_502_carrying_the_mysql_code(database, scratch):
    env = app_env(database, SslSetting(SslMode.DISABLE), database.password_user, database.host)
    with running_app(env, scratch) as url:
        status, body = get(f"{url}/query")
    assert status == 502
    assert body["error"]["code"] == PLAINTEXT_REFUSED["MariaDB"]
    assert "Access denied" in body["error"]["message"]


def test_a_tls_failure_is_a_502_whose_message_names_it(database, scratch):
    env = app_env(database, SslSetting(SslMode.VERIFY_FULL, ca=database.ca_cert), database.password_user, database.host)
    with running_app(env, scratch) as url:
        status, body = get(f"{url}/query")
    assert status == 502
    assert "IP address mismatch" in body["error"]["message"]


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"DB_SSL_MODE": "trust", "DB_MUTUAL_TLS": "enable"}, RULE_COMBINATION),
        ({"DB_SSL_MODE": "verify-ca"}, "DB_CA"),
        ({"DB_HOST": ""}, "DB_HOST"),
    ],
    ids=["trust-with-mutual-tls", "verify-ca-without-ca", "no-host"],
)
def test_an_invalid_configuration_stops_the_app_before_it_listens(env, expected):
    base = {"DB_HOST": "db.invalid", "DB_USER": "app", "DB_PASSWORD": "x"}
    done = subprocess.run(
        [sys.executable, *APP, "--port", str(free_port())],
        env={**os.environ, **base, **env}, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert expected in line


def test_the_bundle_runs_the_app_on_a_bare_python(database, setting_for, scratch):
    """What a cluster runs from the ConfigMap: no site-packages (-S), no checkout (cwd elsewhere), only the zip."""
    archive = scratch / "app.zip"
    archive.write_bytes(bundle())
    setting = setting_for((SslMode.VERIFY_FULL, MutualTls.DISABLE))
    env = {**app_env(database, setting, database.password_user, database.server_name), "PYTHONPATH": str(archive)}
    with running_app(env, scratch, python=(sys.executable, "-S"), cwd=scratch) as url:
        status, body = get(f"{url}/query")
    assert status == 200, body
    assert body["tls"]["version"].startswith("TLSv")
