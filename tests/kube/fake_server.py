"""An in-memory API server behind the dynamic client's interface, strict where a real one is.

What a real API server does and the kinder fakes did not:
- server-side apply records a field manager per field; applying a field another
  manager owns with a different value is a 409 conflict unless ``force_conflicts``
  (then the field changes owner), as in Kubernetes' structured-merge-diff;
- ``create`` of an existing object is 409, ``delete`` with a stale
  ``preconditions.resourceVersion`` is 409, a missing object is 404;
- every write bumps ``metadata.resourceVersion``; ``managedFields`` is filled.
The audit list records every write (verb, kind, namespace/name, manager, force).
"""
from __future__ import annotations

import copy
import itertools
import json
from types import SimpleNamespace
from typing import Any

from kubernetes.client import ApiException
from kubernetes.dynamic.exceptions import api_exception

from .fake_dynamic import matches

_versions = itertools.count(100)
#: kinds served cluster-wide
CLUSTER_SCOPED = {"Namespace", "Node", "CustomResourceDefinition", "MutatingWebhookConfiguration"}


def error(status: int, message: str) -> Exception:
    exc = ApiException(status=status, reason={404: "Not Found", 409: "Conflict"}.get(status, "Error"))
    exc.body = json.dumps({"kind": "Status", "message": message})
    return api_exception(exc)


def _leaves(obj: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[tuple, Any] = {}
        for k, v in obj.items():
            out.update(_leaves(v, (*prefix, k)))
        return out
    return {prefix: obj}


def _owned_paths(body: dict) -> dict[tuple, Any]:
    return {p: v for p, v in _leaves(body).items()
            if p[:2] not in (("metadata", "name"), ("metadata", "namespace")) and p[:1] not in (("apiVersion",), ("kind",))}


class FakeKind:
    def __init__(self, server: "FakeServer", api_version: str, kind: str) -> None:
        self.server, self.api_version, self.kind = server, api_version, kind
        self.namespaced = kind not in CLUSTER_SCOPED

    def _key(self, name, namespace):
        return (self.kind, namespace or "" if self.namespaced else "", name)

    # -- reads --------------------------------------------------------------
    def get(self, name=None, namespace=None, label_selector=None, field_selector=None, **_):
        for hook in self.server.on_read:
            hook(self.kind)
        if name is not None:
            obj = self.server.objects.get(self._key(name, namespace))
            if obj is None:
                raise error(404, f'{self.kind} "{name}" not found')
            return SimpleNamespace(to_dict=lambda: copy.deepcopy(obj))
        listed = [copy.deepcopy(o) for (k, ns, _), o in sorted(self.server.objects.items())
                  if k == self.kind and (namespace in (None, "") or ns == namespace)
                  and matches(o, label_selector=label_selector, field_selector=field_selector)]
        listing = {"metadata": {"resourceVersion": str(next(_versions))}, "items": listed}
        return SimpleNamespace(to_dict=lambda: listing)

    def watch(self, **_):
        for hook in self.server.on_watch:
            hook()
        return iter(())

    @property
    def subresources(self) -> dict:
        """Pods serve ``ephemeralcontainers`` (Kubernetes 1.23+) unless the server is older."""
        if self.kind == "Pod" and self.server.ephemeral_containers is not None:
            return {"ephemeralcontainers": self.server.ephemeral_containers}
        return {}

    # -- writes -------------------------------------------------------------
    def server_side_apply(self, body, namespace=None, field_manager=None, force_conflicts=None, **_):
        key = self._key(body["metadata"]["name"], namespace or body["metadata"].get("namespace"))
        self.server.audit.append(("apply", self.kind, key[1], key[2], field_manager, bool(force_conflicts)))
        self.server.sent.append(copy.deepcopy(body))
        current = self.server.objects.get(key)
        owners = self.server.owners.setdefault(key, {})
        wanted = _owned_paths(body)
        if current is not None:
            have = _leaves(current)
            conflicts = [p for p, v in wanted.items() if owners.get(p, field_manager) != field_manager
                         and have.get(p, v) != v]
            if conflicts and not force_conflicts:
                who = sorted({owners[p] for p in conflicts})
                raise error(409, f"Apply failed with {len(conflicts)} conflicts: conflicts with "
                                 f"{', '.join(repr(w) for w in who)}: .{'.'.join(map(str, conflicts[0]))}")
        merged = copy.deepcopy(current) if current is not None else {"apiVersion": self.api_version, "kind": self.kind}
        for path, value in wanted.items():
            node = merged
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = copy.deepcopy(value)
            owners[path] = field_manager
        merged.setdefault("metadata", {}).update(name=key[2], **({"namespace": key[1]} if key[1] else {}))
        return self._store(key, merged, created=current is None)

    def create(self, body, namespace=None, field_manager="kubectl-create", **_):
        key = self._key(body["metadata"]["name"], namespace or body["metadata"].get("namespace"))
        self.server.audit.append(("create", self.kind, key[1], key[2], field_manager, False))
        if key in self.server.objects:
            raise error(409, f'{self.kind} "{key[2]}" already exists')
        owners = self.server.owners.setdefault(key, {})
        for path in _owned_paths(body):
            owners[path] = field_manager
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        if key[1]:
            obj["metadata"]["namespace"] = key[1]
        return self._store(key, obj, created=True)

    def replace(self, body, name=None, namespace=None, **_):
        key = self._key(name or body["metadata"]["name"], namespace or body["metadata"].get("namespace"))
        self.server.audit.append(("replace", self.kind, key[1], key[2], None, False))
        current = self.server.objects.get(key)
        if current is None:
            raise error(404, f'{self.kind} "{key[2]}" not found')
        given = body["metadata"].get("resourceVersion")
        if given and given != current["metadata"]["resourceVersion"]:
            raise error(409, "the object has been modified; please apply your changes to the latest version")
        return self._store(key, copy.deepcopy(body), created=False)

    def delete(self, name=None, namespace=None, body=None, **_):
        key = self._key(name, namespace)
        self.server.audit.append(("delete", self.kind, key[1], key[2], None, False))
        current = self.server.objects.get(key)
        if current is None:
            raise error(404, f'{self.kind} "{name}" not found')
        wanted = ((body or {}).get("preconditions") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise error(409, "Precondition failed: resourceVersion")
        del self.server.objects[key]
        self.server.owners.pop(key, None)
        return SimpleNamespace(to_dict=lambda: current)

    def _store(self, key, obj, *, created: bool):
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(_versions))
        if created:
            meta["uid"] = f"uid-{meta['resourceVersion']}"
            meta["creationTimestamp"] = "2026-11-29T12:00:00Z"
        managers = sorted(set(self.server.owners.get(key, {}).values()))
        meta["managedFields"] = [{"manager": m, "operation": "Apply"} for m in managers]
        self.server.objects[key] = obj
        return SimpleNamespace(to_dict=lambda: copy.deepcopy(obj))


class FakeServer:
    """``resources.get(api_version=..., kind=...)`` like ``DynamicClient``; objects keyed (kind, namespace, name)."""

    def __init__(self, objects: list[dict] = ()) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.owners: dict[tuple, dict[tuple, str]] = {}
        self.audit: list[tuple] = []
        #: every body applied, as sent
        self.sent: list[dict] = []
        #: called with the kind before each read: a controller acting between reads
        self.on_read: list = []
        #: called when a client watches (a watch blocks until something changes; the fakes return at once)
        self.on_watch: list = []
        #: the pods/ephemeralcontainers subresource (tests/kube/fake_kubelet.py), None for a server without it
        self.ephemeral_containers = None
        self.resources = SimpleNamespace(get=self._resource)
        for obj in objects:
            self._resource(obj["apiVersion"], obj["kind"]).create(copy.deepcopy(obj), field_manager="kubectl-client-side-apply")
        self.audit.clear()
        self.sent.clear()

    def _resource(self, api_version=None, kind=None):
        return FakeKind(self, api_version, kind)

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((kind, namespace if kind not in CLUSTER_SCOPED else "", name))

    def writes_by(self, predicate) -> list[tuple]:
        return [a for a in self.audit if predicate(a)]
