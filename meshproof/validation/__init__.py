"""Admission like a cluster with Istio: an object is refused, in one line, for what its API server and istiod refuse.

:func:`validate` checks, in the API server's order: that the kind is served
at the ``apiVersion`` named, the object's ``metadata``, its schema (strict,
with the CRDs' CEL rules), then Istio's validating webhook.  Both backends
call it before anything is stored or sent, so a refused object changes
nothing.  Objects of groups this project has no schema for (CRDs of other
projects) pass: their own API server decides.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from ..manifests import CLUSTER_SCOPED
from . import objectmeta, schemas, webhook


def describe(manifest: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` (``Kind name`` when cluster-scoped) for messages."""
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), Mapping) else {}
    name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    return f"{manifest.get('kind')} {name}"


def field_path(parts: Iterable[Any]) -> str:
    """("spec", "servers", 0, "port") -> ``spec.servers[0].port``; the object itself is ``<root>``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _refuse(manifest: Mapping[str, Any], found: list[tuple[str, str]]) -> None:
    if found:
        path, problem = min(found)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ConfigError(f"{describe(manifest)} refused: {path}: {problem}{more}")


def validate(manifest: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the object and the first field path refused, or return.

    ``"PeerAuthentication ns/p refused: spec.mtls.mode: 'strict' is not one of [...]"``;
    a kind not served at its version: ``'no matches for kind "PeerAuthentication" in version "security.istio.io/v2"'``.
    """
    if not isinstance(manifest, Mapping) or not manifest.get("kind") or not manifest.get("apiVersion"):
        raise ConfigError(f"an object needs apiVersion and kind: {str(manifest)[:120]}")
    try:  # what the API server receives: JSON, so map keys are strings (portLevelMtls {9080: ...} -> "9080")
        manifest = json.loads(json.dumps(manifest))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{describe(manifest)} refused: not representable as JSON: {exc}") from None
    try:
        schema_errors = schemas.errors(manifest)
    except schemas.NotServed as exc:
        raise ConfigError(f"{describe(manifest)} refused: {exc}") from None
    namespaced = manifest.get("kind") not in CLUSTER_SCOPED
    _refuse(manifest, list(objectmeta.problems(manifest, namespaced=namespaced)))
    _refuse(manifest, [(field_path(e.absolute_path), e.message) for e in schema_errors or ()])
    group, _ = schemas.split_api_version(str(manifest["apiVersion"]))
    check = webhook.CHECKS.get((group, str(manifest["kind"])))
    if check is not None:
        _refuse(manifest, list(check(manifest)))
