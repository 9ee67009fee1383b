"""Reading ``manifests/`` and placing its objects in a run's namespaces with the run's labels."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .cluster import Manifest
from .errors import ConfigError

ROOT = Path(__file__).resolve().parents[1] / "manifests"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def load(relative: str) -> list[Manifest]:
    path = ROOT / relative
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(f"manifest {relative} not found under {ROOT}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"manifest {relative} is not valid YAML: {exc}") from None
    return [d for d in documents if d]


def placed(manifests: Iterable[Mapping[str, Any]], namespace: str, labels: Mapping[str, str]) -> list[Manifest]:
    """Copies of ``manifests`` in ``namespace`` carrying ``labels`` (the run's managed-by labels)."""
    result = []
    for manifest in manifests:
        obj = copy.deepcopy(dict(manifest))
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        result.append(obj)
    return result


def with_pod_annotations(manifests: Iterable[Mapping[str, Any]], annotations: Mapping[str, str]) -> list[Manifest]:
    """Copies where every Deployment's pod template carries ``annotations``, as ``oc patch deployment`` adds them."""
    result = []
    for manifest in manifests:
        obj = copy.deepcopy(dict(manifest))
        if obj.get("kind") == "Deployment" and annotations:
            meta = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        result.append(obj)
    return result


def namespace(name: str, labels: Mapping[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def filled(manifests: Iterable[Mapping[str, Any]], values: Mapping[str, Any]) -> list[Manifest]:
    """Copies where every value written as exactly ``${NAME}`` becomes ``values[NAME]``.

    Whole values only, substituted after parsing: a number stays a number, a
    mapping stays a mapping, and no value can inject YAML.
    """
    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str) and node.startswith("${") and node.endswith("}"):
            name = node[2:-1]
            if name not in values:
                raise ConfigError(f"manifest placeholder {node} has no value (given: {', '.join(sorted(values))})")
            return copy.deepcopy(values[name])
        return node

    return [fill(dict(m)) for m in manifests]
