"""The reference mesh's admission refuses exactly what a real API server with Istio's CRDs refuses.

Every case below goes through (a) the project's validator
(:func:`meshproof.validation.validate`, which reads the schemas shipped in the
package) and (b) a reference built here, in the test, directly from Istio's
real CRDs in ``../shared/istio/crd-all.gen.yaml``: jsonschema on the served
version's ``openAPIV3Schema``, unknown fields refused as strict field
validation refuses them, and every ``x-kubernetes-validations`` rule
evaluated with CEL over ``self`` at its place.  Istio's own invalid inputs come
from istio/istio pkg/config/validation/testdata/crds/peerauth-invalid.yaml.
Cases refused by istiod's validating webhook only (not by the CRD) are marked
``webhook``: the CRD reference accepts them and the validator refuses them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import celpy
import jsonschema
import pytest
import yaml

from meshproof.errors import ConfigError
from meshproof.validation import schemas, validate

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((p / "shared" / "istio" for p in ROOT.parents if (p / "shared" / "istio" / "crd-all.gen.yaml").exists()),
              None)
pytestmark = pytest.mark.skipif(SHARED is None, reason="../shared/istio/ (Istio's real CRDs) is not next to the checkout")


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for path in ("crd-all.gen.yaml", "servicemeshmembers.crd.yaml")
            for d in yaml.safe_load_all((SHARED / path).read_text()) if d]
    return {(d["spec"]["group"], d["spec"]["names"]["kind"]): d for d in docs}


# ---------------------------------------------------------------- the reference: a real CRD, read here

def _walk(schema: dict[str, Any], value: Any, path: str) -> Iterator[str]:
    """Unknown fields and CEL rules, walked the way the API server walks a structural schema."""
    env = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations") or []:
        try:
            ok = env.program(env.compile(rule["rule"])).evaluate({"self": celpy.json_to_cel(value)})
        except celpy.CELEvalError:
            ok = False
        if ok is not True and ok != celpy.celtypes.BoolType(True):
            yield f"{path}: {rule.get('message', rule['rule'])}"
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                yield from _walk(props[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _walk(extra, item, f"{path}[{key}]")
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield f"{path}.{key}: unknown field"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _walk(schema["items"], item, f"{path}[{index}]")


def api_server_refuses(crds, manifest: dict[str, Any]) -> list[str]:
    group, version = manifest["apiVersion"].split("/")
    crd = crds.get((group, manifest["kind"]))
    served = {v["name"]: v for v in (crd or {}).get("spec", {}).get("versions", []) if v.get("served")}
    if version not in served:
        return [f"no matches for kind {manifest['kind']} in version {manifest['apiVersion']}"]
    schema = served[version]["schema"]["openAPIV3Schema"]
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    problems = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(body)]
    return problems + list(_walk(schema, body, "<root>"))


# ---------------------------------------------------------------- the cases

def pa(spec: dict, api: str = "security.istio.io/v1", name: str = "p") -> dict:
    return {"apiVersion": api, "kind": "PeerAuthentication", "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


SELECTOR = {"matchLabels": {"app": "details"}}
GATEWAY_SERVER = {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["a.example.com"],
                  "tls": {"mode": "SIMPLE", "credentialName": "cred"}}


def gw(*servers: dict, name: str = "gw") -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": list(servers)}}


def obj(api: str, kind: str, spec: dict) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, "spec": spec}


def dr(spec: dict) -> dict:
    return obj("networking.istio.io/v1", "DestinationRule", spec)


VS = {"hosts": ["a.example.com"], "gateways": ["gw"],
      "http": [{"route": [{"destination": {"host": "httpbin", "port": {"number": 8080}}}]}]}
SE = {"hosts": ["db.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
      "ports": [{"number": 3306, "name": "tcp-mysql", "protocol": "TCP"}]}

# (id, manifest, refused, field named in the one line, refused by the webhook only)
CASES = [
    ("namespace STRICT", pa({"mtls": {"mode": "STRICT"}}), False, None, False),
    ("workload port STRICT", pa({"selector": SELECTOR, "portLevelMtls": {"9080": {"mode": "STRICT"}}}), False, None, False),
    ("v1beta1 is served", pa({"mtls": {"mode": "DISABLE"}}, api="security.istio.io/v1beta1"), False, None, False),
    ("issue 10.1 port name", pa({"selector": SELECTOR, "portLevelMtls": {"http": {"mode": "STRICT"}}}), True,
     "spec.portLevelMtls", False),
    ("issue 10.1 empty portLevelMtls", pa({"selector": SELECTOR, "portLevelMtls": {}}), True, "spec.portLevelMtls", False),
    ("issue 10.1 port 0", pa({"selector": SELECTOR, "portLevelMtls": {"0": {"mode": "STRICT"}}}), True,
     "spec.portLevelMtls", False),
    ("port 42949672", pa({"selector": SELECTOR, "portLevelMtls": {"42949672": {"mode": "STRICT"}}}), True,
     "spec.portLevelMtls", False),
    ("portLevelMtls without selector", pa({"portLevelMtls": {"80": {"mode": "STRICT"}}}), True, "spec", False),
    ("issue 10.2 lower-case mode", pa({"mtls": {"mode": "strict"}}), True, "spec.mtls.mode", False),
    ("unknown mode", pa({"mtls": {"mode": "BLAH"}}), True, "spec.mtls.mode", False),
    ("unknown field", pa({"mtls": {"mode": "STRICT", "strict": True}}), True, "spec.mtls", False),
    ("wildcard label value", pa({"selector": {"matchLabels": {"app": "det*"}}}), True, "spec.selector.matchLabels", False),
    ("issue 10.3 security.istio.io/v2", pa({"mtls": {"mode": "STRICT"}}, api="security.istio.io/v2"), True,
     "no matches for kind", False),
    ("gateway as the suite writes it", gw(GATEWAY_SERVER), False, None, False),
    ("gateway tls mode lower case", gw({**GATEWAY_SERVER, "tls": {"mode": "simple", "credentialName": "c"}}), True,
     "spec.servers[0].tls.mode", False),
    ("gateway server without port", gw({"hosts": ["a"]}), True, "spec.servers[0]", False),
    ("gateway HTTPS without tls", gw({"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["a"]}),
     True, "spec.servers[0].tls", True),
    ("gateway duplicate port names", gw(GATEWAY_SERVER, {**GATEWAY_SERVER, "port": {**GATEWAY_SERVER["port"],
                                                                                      "number": 8443}}),
     True, "spec.servers[1].port.name", True),
    ("virtual service", obj("networking.istio.io/v1", "VirtualService", VS), False, None, False),
    ("virtual service destination without host",
     obj("networking.istio.io/v1", "VirtualService", {**VS, "http": [{"route": [{"destination": {"port": {"number": 1}}}]}]}),
     True, "spec.http[0].route[0].destination", False),
    ("service entry", obj("networking.istio.io/v1", "ServiceEntry", SE), False, None, False),
    ("service entry without hosts", obj("networking.istio.io/v1", "ServiceEntry", {"location": "MESH_EXTERNAL"}), True,
     "spec", False),
    ("service entry duplicate port number", obj("networking.istio.io/v1", "ServiceEntry", {
        **SE, "ports": [*SE["ports"], {"number": 3306, "name": "tcp-other", "protocol": "TCP"}]}), True,
     "spec.ports", False),
    ("service entry CIDR with DNS resolution", obj("networking.istio.io/v1", "ServiceEntry", {
        **SE, "addresses": ["10.0.0.0/24"]}), True, "spec", False),
    ("empty sidecar", obj("networking.istio.io/v1", "Sidecar", {}), True, "spec", True),
    ("sidecar REGISTRY_ONLY", obj("networking.istio.io/v1", "Sidecar", {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}),
     False, None, False),
    ("sidecar lower-case mode", obj("networking.istio.io/v1", "Sidecar", {"outboundTrafficPolicy": {"mode": "registry_only"}}),
     True, "spec.outboundTrafficPolicy.mode", False),
    ("destination rule DISABLE",
     obj("networking.istio.io/v1", "DestinationRule", {"host": "details", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}),
     False, None, False),
    ("destination rule wildcard host, port-level ISTIO_MUTUAL, exportTo", dr({
        "host": "*.ns.svc.cluster.local", "exportTo": [".", "other"], "trafficPolicy": {
            "portLevelSettings": [{"port": {"number": 8080}, "tls": {"mode": "ISTIO_MUTUAL"}}]}}), False, None, False),
    ("destination rule lower-case tls mode", dr({"host": "details", "trafficPolicy": {"tls": {"mode": "disable"}}}),
     True, "spec.trafficPolicy.tls.mode", False),
    ("destination rule wildcard inside the host", dr({"host": "details.*.svc.cluster.local"}), True, "spec.host", True),
    ("destination rule empty traffic policy", dr({"host": "details", "trafficPolicy": {}}), True,
     "spec.trafficPolicy", True),
    ("destination rule port-level entry without port",
     dr({"host": "details", "trafficPolicy": {"portLevelSettings": [{"tls": {"mode": "DISABLE"}}]}}), True,
     "spec.trafficPolicy.portLevelSettings[0].port", True),
    ("destination rule port-level entry setting nothing",
     dr({"host": "details", "trafficPolicy": {"portLevelSettings": [{"port": {"number": 80}}]}}), True,
     "spec.trafficPolicy.portLevelSettings[0]", True),
    ("destination rule exportTo . and its own namespace", dr({"host": "details", "exportTo": [".", "ns"]}), True,
     "spec.exportTo", True),
    ("destination rule exportTo * with another", dr({"host": "details", "exportTo": ["*", "other"]}), True,
     "spec.exportTo", True),
    ("destination rule exported to no one", dr({"host": "details", "exportTo": ["~"]}), True, "spec.exportTo", True),
    ("destination rule MUTUAL without certificates",
     dr({"host": "details", "trafficPolicy": {"tls": {"mode": "MUTUAL"}}}), True, "spec.trafficPolicy.tls", True),
    ("authorization policy ALLOW", obj("security.istio.io/v1", "AuthorizationPolicy", {
        "action": "ALLOW", "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b"]}}]}]}),
     False, None, False),
    ("OSSM 2 ServiceMeshMember as meshproof.kube.adapt writes it (left to Maistra's API server)",
     {"apiVersion": "maistra.io/v1", "kind": "ServiceMeshMember", "metadata": {"name": "default", "namespace": "ns"},
      "spec": {"controlPlaneRef": {"name": "basic", "namespace": "istio-system"}}}, False, None, False),
]


@pytest.mark.parametrize("manifest, refused, field, webhook_only", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_the_validator_refuses_exactly_what_the_api_server_refuses(crds, manifest, refused, field, webhook_only):
    reference = api_server_refuses(crds, json.loads(json.dumps(manifest)))
    assert bool(reference) == (refused and not webhook_only), reference
    if not refused:
        validate(manifest)
        return
    with pytest.raises(ConfigError) as caught:
        validate(manifest)
    line = str(caught.value)
    assert "\n" not in line and field in line and f"{manifest['kind']} ns/" in line, line


def test_the_shipped_schemas_are_istios_served_versions_without_descriptions(crds):
    """meshproof/validation/istio_schemas.json is scripts/extract_istio_schemas.py run on the real CRDs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("extract", ROOT / "scripts" / "extract_istio_schemas.py")
    extract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extract)
    istio = [crd for (group, _), crd in crds.items() if group.endswith("istio.io")]
    assert extract.extract(istio) == json.loads(json.dumps(dict(schemas.ISTIO_KINDS)))
    assert "86c9f01fd735fb01d8192f5bcaf0d424afb7f14c" in schemas.ISTIO_SOURCE


def test_no_crd_rule_needs_the_old_object(crds):
    """Transition rules (oldSelf) are not evaluated by meshproof.validation.cel; Istio's CRDs have none."""
    assert "oldSelf" not in json.dumps(list(crds.values()))


@pytest.mark.parametrize("manifest, line", [
    ({"apiVersion": "authentication.istio.io/v1alpha1", "kind": "Policy", "metadata": {"name": "p", "namespace": "n"},
      "spec": {}}, 'no matches for kind "Policy" in version "authentication.istio.io/v1alpha1"'),
    ({"apiVersion": "authentication.istio.io/v1alpha1", "kind": "MeshPolicy", "metadata": {"name": "default"}, "spec": {}},
     'no matches for kind "MeshPolicy" in version "authentication.istio.io/v1alpha1"'),
    ({"apiVersion": "apps/v1beta1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "spec": {}},
     'no matches for kind "Deployment" in version "apps/v1beta1"'),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
      "spec": {"ports": [{"port": 80, "targetport": 8080}]}}, "spec.ports[0]"),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "S_1", "namespace": "n"}, "spec": {}}, "metadata.name"),
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"a": "b c"}}}, "metadata.labels[a]"),
])
def test_removed_versions_unknown_fields_and_bad_metadata_are_refused_in_one_line(manifest, line):
    """Issue 10.3: authentication.istio.io was removed in Istio 1.6; a cluster has no such kind (kubectl's sentence)."""
    with pytest.raises(ConfigError, match="^[^\n]*$") as caught:
        validate(manifest)
    assert line in str(caught.value)


def test_objects_of_groups_without_a_schema_here_are_left_to_their_api_server():
    validate({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
              "metadata": {"name": "r", "namespace": "n"}, "spec": {}})


@pytest.mark.parametrize("spec, problem", [
    ({"selector": SELECTOR, "portLevelMtls": {"http": {"mode": "STRICT"}}}, "type conversion error"),
    ({"selector": SELECTOR, "portLevelMtls": {}}, "must have at least one element"),
    ({"selector": SELECTOR, "portLevelMtls": {"0": {}}}, "port must be in range 1..65535"),
    ({"portLevelMtls": {"80": {}}}, "mesh/namespace peer authentication cannot have port level mTLS"),
    ({"selector": {"matchLabels": {"": "x"}}}, "empty key is not supported in selector"),
])
def test_istiods_webhook_refuses_on_its_own_what_older_crds_without_cel_let_through(spec, problem):
    """istio/istio pkg/config/validation/validation.go ValidatePeerAuthentication and validateWorkloadSelector."""
    from meshproof.validation import webhook

    assert any(problem in text for _, text in webhook.peer_authentication(pa(spec)))
