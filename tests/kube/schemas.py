"""Validating a manifest against the Kubernetes schemas or our Istio schemas; returns the problems."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

#: the oldest Kubernetes minor the suite supports; its schemas are the strictest test
K8S_VERSION = "1.29"
ISTIO_GROUPS = {"networking.istio.io": ("v1", "v1beta1", "v1alpha3"), "security.istio.io": ("v1", "v1beta1")}
_ISTIO = yaml.safe_load((Path(__file__).parent / "istio-schemas.yaml").read_text())


def problems(doc: dict[str, Any]) -> list[str]:
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    if group in ISTIO_GROUPS:
        return _istio_problems(doc, group, version)
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path)) or '<root>'}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def _istio_problems(doc: dict[str, Any], group: str, version: str) -> list[str]:
    kind = doc.get("kind")
    if version not in ISTIO_GROUPS[group]:
        return [f"{group} has no version {version}"]
    if kind not in _ISTIO["kinds"]:
        return [f"no schema for Istio kind {kind}: add one to tests/kube/istio-schemas.yaml"]
    schema = {
        "definitions": _ISTIO["definitions"],
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/metadata"},
            "spec": _ISTIO["kinds"][kind],
        },
    }
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]
