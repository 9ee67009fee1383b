"""The egress manifests: every placeholder documented, and the YAML agrees with the code it deploys."""
from __future__ import annotations

import base64
import string
from pathlib import Path

import pytest
import yaml

from meshproof.apps.mysql_query import bundle
from meshproof.sslmode import ENV

MANIFESTS = Path(__file__).parents[2] / "manifests" / "egress"
FILES = sorted(p.name for p in MANIFESTS.glob("*.yaml"))
CONFIGMAP_LIMIT = 1024 * 1024


def placeholders(text: str) -> set[str]:
    return {m.group("braced") for m in string.Template.pattern.finditer(text) if m.group("braced")}


def header(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))


def body(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))


def load(name: str) -> dict[str, dict]:
    """The manifest with every placeholder filled, by kind/name."""
    text = (MANIFESTS / name).read_text()
    filled = string.Template(text).substitute({p: f"filled-{p}" for p in placeholders(text)})
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(filled) if d}


def test_the_egress_manifests_are_there():
    assert FILES == ["mysql-external.yaml", "mysql-query-ingress.yaml", "mysql-query.yaml", "service-entry.yaml"]


@pytest.mark.parametrize("name", FILES)
def test_every_placeholder_is_documented_in_the_header(name):
    text = (MANIFESTS / name).read_text()
    assert placeholders(body(text)) <= placeholders(header(text))


def test_the_service_entry_registers_the_database_as_external_tcp():
    entry = load("service-entry.yaml")["ServiceEntry/external-mysql"]["spec"]
    assert entry["location"] == "MESH_EXTERNAL"
    assert entry["hosts"] == ["filled-DB_HOST"]
    assert entry["ports"] == [{"number": "filled-DB_PORT_NUMBER", "name": "tcp-mysql", "protocol": "TCP"}]


def test_the_app_is_configured_with_the_variables_of_the_ssl_model():
    objects = load("mysql-query.yaml")
    pod = objects["Deployment/mysql-query"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "meshproof.apps.mysql_query", "--port", "8080"]
    names = {e["name"] for e in container["env"]} | set(objects["Secret/mysql-query-db-credentials"]["stringData"])
    assert set(ENV.values()) <= names
    assert {"DB_HOST", "DB_USER", "DB_PASSWORD"} <= names


def test_the_app_bundle_fits_in_a_configmap():
    assert len(base64.b64encode(bundle())) < CONFIGMAP_LIMIT


def test_the_ingress_route_serves_query_on_plain_http():
    objects = load("mysql-query-ingress.yaml")
    (server,) = objects["Gateway/mysql-query"]["spec"]["servers"]
    assert server["port"]["protocol"] == "HTTP"
    (route,) = objects["VirtualService/mysql-query"]["spec"]["http"]
    assert route["match"] == [{"uri": {"exact": "/query"}}]
    assert route["route"][0]["destination"]["host"] == "mysql-query"


def test_the_database_is_outside_the_mesh_and_requires_tls_with_the_same_rows():
    objects = load("mysql-external.yaml")
    template = objects["Deployment/mysql"]["spec"]["template"]
    assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    (container,) = template["spec"]["containers"]
    assert container["image"] == "docker.io/library/mysql:8.0"
    assert "--require-secure-transport=ON" in container["args"]
    # the users and rows come from meshproof.database.setup_script (tests/egress/test_cluster_database.py)
    assert objects["Secret/mysql-init"]["stringData"]["init.sql"] == "filled-DB_INIT_SQL"
    init_volume, = (v for v in template["spec"]["volumes"] if v["name"] == "init")
    assert init_volume["secret"] == {"secretName": "mysql-init", "items": [{"key": "init.sql", "path": "init.sql"}]}
    assert objects["Service/mysql"]["spec"]["ports"][0]["name"] == "tcp-mysql"
