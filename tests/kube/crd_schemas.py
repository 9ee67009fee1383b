"""Validating objects against the real CRD schemas in ``../shared/istio/`` (Istio's 15, Maistra's 3).

The OpenAPI v3 schema of the served version becomes a JSON schema; an object
with properties and neither ``additionalProperties`` nor
``x-kubernetes-preserve-unknown-fields`` rejects unknown fields, as an API
server does under ``fieldValidation=Strict``.  CEL rules
(``x-kubernetes-validations``) are not evaluated here.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_ROOT = Path(__file__).resolve().parents[2]


def shared_istio() -> Path | None:
    """``../shared/istio`` beside the main checkout (worktrees live one level deeper)."""
    for base in (_ROOT.parent, _ROOT.parent.parent):
        if (base / "shared" / "istio" / "crd-all.gen.yaml").exists():
            return base / "shared" / "istio"
    return None


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-validations")}
        if out.pop("x-kubernetes-int-or-string", False):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
        if out.get("nullable"):
            out.pop("nullable")
            if "type" in out:
                out["type"] = [out["type"], "null"]
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out and not preserve:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    return schema


@lru_cache(maxsize=1)
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> a JSON schema of the whole object."""
    folder = shared_istio()
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(folder.glob("*.yaml")) if folder else ():
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                schema = copy.deepcopy((version.get("schema") or {}).get("openAPIV3Schema") or {})
                props = schema.setdefault("properties", {})
                props.update(metadata={"type": "object"}, apiVersion={"type": "string"}, kind={"type": "string"})
                props.pop("status", None)
                found[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return found


def crd_problems(obj: dict) -> list[str]:
    schema = crd_schemas().get((obj.get("apiVersion"), obj.get("kind")))
    if schema is None:
        return [f"no CRD serves {obj.get('kind')} in {obj.get('apiVersion')}"]
    return [f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
