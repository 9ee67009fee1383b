"""The reference mesh's API server: a store of applied objects, keyed like Kubernetes keys them."""
from __future__ import annotations

import copy
import itertools
from typing import Any, Iterator, Mapping

from ..errors import ConfigError
from ..manifests import CLUSTER_SCOPED

Key = tuple[str, str, str]  # kind, namespace ("" if cluster-scoped), name

_clock = itertools.count(1)


def key_of(manifest: Mapping[str, Any]) -> Key:
    try:
        kind = manifest["kind"]
        meta = manifest["metadata"]
        name = meta["name"]
    except (KeyError, TypeError):
        raise ConfigError(f"manifest without kind or metadata.name: {str(manifest)[:120]}") from None
    namespace = "" if kind in CLUSTER_SCOPED else meta.get("namespace")
    if namespace is None:
        raise ConfigError(f"{kind}/{name} has no metadata.namespace")
    return kind, namespace, name


class Store:
    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}
        #: the same objects by kind, in the same order: a push reads a few kinds for every proxy
        self._kinds: dict[str, dict[Key, dict[str, Any]]] = {}

    def put(self, manifest: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Store a copy; keep the creation stamp of an object that already existed."""
        key = key_of(manifest)
        previous = self._objects.get(key)
        stored = copy.deepcopy(dict(manifest))
        meta = stored.setdefault("metadata", {})
        meta["creationTimestamp"] = (
            previous["metadata"]["creationTimestamp"] if previous else f"{next(_clock):012d}"
        )
        self._objects[key] = self._kinds.setdefault(key[0], {})[key] = stored
        return stored, previous

    def remove(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        key = (kind, "" if kind in CLUSTER_SCOPED else namespace, name)
        self._kinds.get(kind, {}).pop(key, None)
        return self._objects.pop(key, None)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((kind, "" if kind in CLUSTER_SCOPED else namespace, name))

    def of_kind(self, kind: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        for (_, ns, _), obj in list(self._kinds.get(kind, {}).items()):
            if namespace is None or ns == namespace:
                yield obj

    def in_namespace(self, namespace: str) -> list[tuple[str, str]]:
        """(kind, name) of every object in ``namespace``, for a Namespace deletion's cascade."""
        return [(kind, name) for kind, ns, name in self._objects if ns == namespace]

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.get("Namespace", "", namespace)
        return dict(((ns or {}).get("metadata") or {}).get("labels") or {})
