"""The schemas a cluster with Istio admits objects by: Kubernetes built-in kinds and Istio's CRDs.

- Built-in kinds (groups without a dot, and ``*.k8s.io`` kinds that
  kubernetes-validate knows): the Kubernetes OpenAPI schemas of
  :data:`KUBERNETES_VERSION` shipped by kubernetes-validate, strict (unknown
  fields refused, as ``kubectl apply`` with ``--validate=strict`` and
  server-side field validation refuse them).
- Istio kinds: the ``openAPIV3Schema`` of every *served* version of Istio's
  CRDs, shipped as ``istio_schemas.json`` (its ``source`` names the Istio
  commit; ``scripts/extract_istio_schemas.py`` writes it), checked by
  jsonschema as a *structural* schema (unknown fields refused where the schema
  does not preserve them, ``nullable`` honoured) with the CEL rules of
  :mod:`.cel` as the ``x-kubernetes-validations`` keyword.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema
import kubernetes_validate
from jsonschema import ValidationError
from referencing import Registry, Resource

from . import cel

#: the oldest Kubernetes minor the suite supports: what passes here passes on every supported cluster
KUBERNETES_VERSION = "1.29"
_ISTIO = json.loads((Path(__file__).parent / "istio_schemas.json").read_text())
#: Istio CRD key "group/Kind" -> {"group", "kind", "namespaced", "versions": {version: openAPIV3Schema}}
ISTIO_KINDS: Mapping[str, Mapping[str, Any]] = _ISTIO["kinds"]
ISTIO_SOURCE: str = _ISTIO["source"]
ISTIO_GROUPS = frozenset(k["group"] for k in ISTIO_KINDS.values())

_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-kubernetes-validations": cel.keyword})


class NotServed(Exception):
    """The cluster serves no such kind at that apiVersion; ``str()`` is kubectl's sentence."""


def split_api_version(api_version: str) -> tuple[str, str]:
    """``security.istio.io/v1`` -> (``security.istio.io``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = str(api_version).rpartition("/")
    return group, version


def structural(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema with the API server's reading of it.

    Objects with ``properties`` and no ``additionalProperties`` refuse unknown
    fields unless ``x-kubernetes-preserve-unknown-fields``; ``nullable: true``
    admits null.
    """
    if isinstance(schema, list):
        return [structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (structural(v) if k != "properties" else {name: structural(s) for name, s in v.items()})
           for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _root(openapi: Mapping[str, Any]) -> dict[str, Any]:
    """A custom resource: the API server adds apiVersion, kind and metadata to the CRD's schema."""
    schema = structural(dict(openapi))
    schema["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"type": "object"}, **schema.get("properties", {})}
    return schema


@functools.lru_cache(maxsize=None)
def _istio_validator(key: str, version: str) -> Any:
    return _Validator(_root(ISTIO_KINDS[key]["versions"][version]))


def istio_served(group: str, kind: str) -> tuple[str, ...]:
    """The versions a cluster with this Istio serves ``kind`` of ``group`` at; () if it has no such CRD."""
    return tuple((ISTIO_KINDS.get(f"{group}/{kind}") or {}).get("versions") or ())


def is_istio_group(group: str) -> bool:
    return group in ISTIO_GROUPS or group.endswith(".istio.io")


def is_builtin_group(group: str) -> bool:
    """Kubernetes' own API groups: the core group, dotless groups (apps, batch, ...) and ``*.k8s.io``."""
    return "." not in group or group.endswith(".k8s.io")


def errors(manifest: Mapping[str, Any]) -> Iterator[ValidationError] | None:
    """The schema errors of ``manifest``; None when no schema here covers its group (a CRD this project does not know).

    Raises :class:`NotServed` for an Istio or built-in kind at a version a cluster does not serve.
    """
    api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
    group, version = split_api_version(api_version)
    if is_istio_group(group):
        if version not in istio_served(group, kind):
            raise NotServed(f'no matches for kind "{kind}" in version "{api_version}"')
        return _istio_validator(f"{group}/{kind}", version).iter_errors(dict(manifest))
    if not is_builtin_group(group):
        return None
    validator = _builtin_validator(api_version, kind)
    if validator is None:
        if "." not in group:  # every dotless group is Kubernetes' own: it has no such kind/version
            raise NotServed(f'no matches for kind "{kind}" in version "{api_version}"')
        return None  # a *.k8s.io CRD group, such as the Gateway API's
    error = next(iter(validator.iter_errors(dict(manifest))), None)  # the library raises the first one
    return iter(()) if error is None else iter([kubernetes_validate.ValidationError(error, version=KUBERNETES_VERSION)])


@functools.lru_cache(maxsize=None)
def _builtin_validator(api_version: str, kind: str) -> Any | None:
    """kubernetes-validate's strict schema of ``kind`` at ``api_version`` for :data:`KUBERNETES_VERSION`, loaded once.

    The same files and the same validator as ``kubernetes_validate.validate(..., strict=True)``,
    which reads and parses them again on every call (about 60 ms an object, most of an apply);
    None when the library has no schema for the kind.
    """
    from kubernetes_validate import utils

    version = [v for v in utils.all_versions() if utils.major_minor(v) <= KUBERNETES_VERSION][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    # the library's file naming: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{api}.json", KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    definitions = utils.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)
