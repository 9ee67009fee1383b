"""The reference mesh's pieces for seed 000: volumes, the python image, the egress defect, the app's answers."""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from meshproof import egress
from meshproof.database import query_outcome
from meshproof.errors import ConfigError
from meshproof.local.envoy.files import ConfigFiles
from meshproof.local.envoy.model import SidecarBehaviour, SidecarConfig
from meshproof.local.envoy.sidecar import sidecar_listeners
from meshproof.local.images import command_for
from meshproof.database import Account
from meshproof.local.objects import Store
from meshproof.local.volumes import environment, mount, translate
from meshproof.outcome import DB_ERROR, OK, TLS_REJECTED, VERIFY_FAILED
from meshproof.probe import ProbeResult
from meshproof.sslmode import MutualTls, SslMode, SslSetting

NS = "egress"


def store_with(*objects: dict) -> Store:
    store = Store()
    for obj in objects:
        store.put({**obj, "metadata": {**obj["metadata"], "namespace": NS}})
    return store


SECRET = {"kind": "Secret", "metadata": {"name": "tls"}, "data": {"db-ca.pem": base64.b64encode(b"CA").decode()},
          "stringData": {"DB_USER": "app"}}
CONFIG_MAP = {"kind": "ConfigMap", "metadata": {"name": "app"}, "binaryData": {"app.zip": base64.b64encode(b"PK").decode()}}
VOLUMES = [{"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o440}},
           {"name": "app", "configMap": {"name": "app"}}]
CONTAINER = {
    "name": "mysql-query",
    "volumeMounts": [{"name": "tls", "mountPath": "/etc/mysql-query/tls"}, {"name": "app", "mountPath": "/opt/app"}],
    "envFrom": [{"secretRef": {"name": "tls"}}],
    "env": [{"name": "DB_CA", "value": "/etc/mysql-query/tls/db-ca.pem"}, {"name": "PYTHONPATH", "value": "/opt/app/app.zip"}],
}


def test_secret_and_config_map_volumes_become_files_and_their_paths_are_translated(tmp_path):
    store = store_with(SECRET, CONFIG_MAP)
    mounts = mount(store, NS, VOLUMES, CONTAINER, tmp_path)
    env = environment(store, NS, CONTAINER, mounts)
    assert Path(env["DB_CA"]).read_bytes() == b"CA"
    assert Path(env["DB_CA"]).stat().st_mode & 0o777 == 0o440
    assert Path(env["PYTHONPATH"]).read_bytes() == b"PK"
    assert env["DB_USER"] == "app"  # envFrom secretRef
    assert translate("/etc/mysql-query/tlsx", mounts) == "/etc/mysql-query/tlsx"  # a prefix, not a path under it


def test_a_missing_secret_is_named(tmp_path):
    with pytest.raises(ConfigError, match="Secret egress/tls not found"):
        mount(store_with(CONFIG_MAP), NS, VOLUMES, CONTAINER, tmp_path)


def test_the_python_image_runs_its_command_with_this_interpreter():
    argv = command_for("docker.io/library/python:3.11-slim", {"command": ["python", "-m", "x"]}, 8080)
    assert argv == [sys.executable, "-m", "x"]


def _outbound(tmp_path, behaviour: SidecarBehaviour) -> dict:
    config = SidecarConfig("PERMISSIVE", {}, [], [], behaviour=behaviour)
    files = ConfigFiles(tmp_path / "proxy", owner_uid=0)
    return next(lst for lst in sidecar_listeners(files, config) if lst["name"] == "virtualOutbound")


def _inspects(listener: dict) -> bool:
    return any(f["name"] == "envoy.filters.listener.tls_inspector" for f in listener["listener_filters"])


def test_only_the_defective_sidecar_inspects_outbound_tcp(tmp_path):
    healthy = _outbound(tmp_path, SidecarBehaviour())
    defective = _outbound(tmp_path, SidecarBehaviour(inspect_server_first=True))
    assert not _inspects(healthy) and _inspects(defective)
    assert defective["listener_filters_timeout"] == "1s"  # under the suite's 5 s request timeout


def test_the_app_gets_the_artefacts_bytes_in_its_secret_and_their_in_pod_paths(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"CA PEM")
    values = egress.app_values(SslSetting(SslMode.VERIFY_CA, MutualTls.DISABLE, ca=ca), Account("app", "pw"),
                               "mysql.external.example", b"zip")
    assert values["DB_CA"] == "/etc/mysql-query/tls/db-ca.pem"
    assert base64.b64decode(values["DB_CA_PEM_BASE64"]) == b"CA PEM"
    assert values["DB_CLIENT_KEY"] == values["DB_CLIENT_KEY_BASE64"] == ""
    assert (values["DB_SSL_MODE"], values["DB_USER"], values["DB_HOST"]) == ("verify-ca", "app", "mysql.external.example")


def _answer(status: int, body: dict) -> ProbeResult:
    return ProbeResult("outside -> /query", "curl", "", OK(status), json.dumps(body))


@pytest.mark.parametrize("status, body, expected", [
    (200, {"tables": {}}, OK(200)),
    (502, {"error": {"code": 1045, "message": "Access denied for user 'app'"}}, DB_ERROR(1045)),
    (502, {"error": {"code": 2003, "message": "Can't connect ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                              "failed: unable to get local issuer certificate)"}},
     TLS_REJECTED(VERIFY_FAILED)),
    (502, {"no": "error"}, OK(502)),
])
def test_the_apps_answer_is_read_as_the_database_outcome(status, body, expected):
    answer = _answer(status, body)
    assert query_outcome(answer.outcome, answer.body) == expected
