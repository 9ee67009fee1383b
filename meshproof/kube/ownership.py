"""Never touch what the user owns: what a run may create, and the one change it may make by consent.

- A run applies an object only if it does not exist yet (or this run created
  it): an existing object of the same name is someone else's and the apply is
  refused in one line.  Every object a run creates carries
  ``meshproof.io/created-by-run: <run id>``; with the run label it is what
  ``make clean`` requires before it deletes anything.
- A mesh-wide policy (a PeerAuthentication without selector in the root
  namespace) governs every workload, so a second one would not be what the
  case tests: Istio applies the oldest (istio/istio
  ``pilot/pkg/security/authn/policy_applier.go`` composes the root namespace's
  policies by creation time).  When the cluster has its own, a mesh-wide case
  is not applicable, unless the user allows the change
  (``--allow-mesh-wide-changes``): the policy is saved to a ConfigMap beside it,
  deleted with its ``resourceVersion`` as precondition (a concurrent edit is
  never lost), and created again from the saved copy when the case ends, when
  the run is interrupted, or by ``make clean`` after a killed run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError

from ..cluster import Manifest
from ..errors import MeshproofError, NotApplicable
from ..run import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_LABEL
from .client import one_line
from .ledger import Ledger, Ref
from .resources import by_api_version, items
from .snapshot import ApiObject, labels, name, namespace

CREATED_BY = "meshproof.io/created-by-run"
#: on the ConfigMap that holds a saved copy of a user's object
SAVED_LABEL = "meshproof.io/saved-object"
SAVED_KEY = "object.json"
PEER_AUTHENTICATION = ("security.istio.io/v1", "PeerAuthentication")


class ForeignObjectError(MeshproofError):
    """The object exists and this run did not create it."""


def annotations(obj: ApiObject) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def mark_created(obj: Manifest) -> None:
    """Stamp the run that creates ``obj`` (from its run label) on it."""
    run = labels(obj).get(RUN_LABEL)
    if run:
        obj["metadata"].setdefault("annotations", {})[CREATED_BY] = run


def created_by_meshproof(obj: ApiObject) -> bool:
    """Labelled as the suite's and stamped at creation by the same run: a user's object never is both."""
    run = labels(obj).get(RUN_LABEL)
    return (labels(obj).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and bool(run)
            and annotations(obj).get(CREATED_BY) == run)


def run_of(obj: ApiObject) -> str:
    return labels(obj).get(RUN_LABEL, "")


def is_mesh_wide(obj: ApiObject, root_namespace: str) -> bool:
    return ((obj.get("apiVersion", "").split("/")[0], obj.get("kind")) == ("security.istio.io", "PeerAuthentication")
            and namespace(obj) == root_namespace and not (obj.get("spec") or {}).get("selector"))


def mode(policy: ApiObject) -> str:
    return str(((policy.get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET")


def clean_copy(obj: ApiObject) -> Manifest:
    """What the user wrote: no server-set fields, so it can be created again as it was."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "labels", "annotations", "finalizers") if meta.get(k)}
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": kept,
            **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}}


@dataclass(frozen=True)
class Saved:
    original: Manifest
    #: (namespace, name) of the ConfigMap holding it
    holder: tuple[str, str]


class Guard:
    """Checks each object before this run first applies it; saves and restores the mesh-wide policy it may replace."""

    def __init__(self, dyn: Any, root_namespace: str, run_labels: Mapping[str, str], *,
                 allow_mesh_wide_changes: bool = False) -> None:
        self.dyn, self.root, self.run_labels = dyn, root_namespace, dict(run_labels)
        self.allow = allow_mesh_wide_changes
        self.saved: list[Saved] = []

    def check_new(self, resource: Any, obj: Manifest, ledger: Ledger) -> None:
        """Raise unless ``obj`` may be created: NotApplicable or ForeignObjectError, one line each."""
        ref = Ref.of(obj)
        if is_mesh_wide(obj, self.root):
            self._clear_mesh_wide(ledger)
        try:
            existing = resource.get(name=ref.name, namespace=ref.namespace or None).to_dict()
        except NotFoundError:
            return
        if created_by_meshproof(existing) and run_of(existing) == run_of(obj):
            return
        if created_by_meshproof(existing):
            raise ForeignObjectError(f"{ref.describe()} was left by meshproof run {run_of(existing)}; "
                                     "`make clean` removes it once that run is over")
        raise ForeignObjectError(f"{ref.describe()} already exists and this run did not create it; "
                                 "meshproof does not change it")

    def _clear_mesh_wide(self, ledger: Ledger) -> None:
        theirs = [p for p in items(self.dyn, *PEER_AUTHENTICATION, namespace=self.root)
                  if is_mesh_wide({**p, "apiVersion": PEER_AUTHENTICATION[0], "kind": "PeerAuthentication"}, self.root)
                  and not ledger.find("PeerAuthentication", name(p), self.root)]
        for policy in theirs:
            if not self.allow:
                raise NotApplicable(f"this cluster's mesh-wide policy {name(policy)} ({mode(policy)}) is in force; "
                                    "meshproof does not change it (--allow-mesh-wide-changes saves, replaces and "
                                    "restores it)")
            self._save_and_remove(policy)

    def _save_and_remove(self, policy: ApiObject) -> None:
        original = clean_copy({**policy, "apiVersion": PEER_AUTHENTICATION[0]})
        holder = (self.root, f"meshproof-saved-{self.run_labels.get(RUN_LABEL, '')}-{name(policy)}"[:253])
        config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": holder[1], "namespace": holder[0],
                                   "labels": {**self.run_labels, SAVED_LABEL: "true"}},
                      "data": {SAVED_KEY: json.dumps(original, sort_keys=True)}}
        mark_created(config_map)
        maps = by_api_version(self.dyn, "v1", "ConfigMap")
        maps.create(body=config_map, namespace=holder[0])
        self.saved.append(Saved(original, holder))
        try:
            by_api_version(self.dyn, *PEER_AUTHENTICATION).delete(
                name=name(policy), namespace=self.root,
                body={"preconditions": {"resourceVersion": (policy.get("metadata") or {}).get("resourceVersion")}})
        except DynamicApiError as exc:  # the user's policy is still in place: nothing to restore, drop the copy
            self.saved.pop()
            maps.delete(name=holder[1], namespace=holder[0])
            if isinstance(exc, ConflictError):
                raise MeshproofError(f"PeerAuthentication {self.root}/{name(policy)} changed while meshproof saved "
                                     f"it ({one_line(exc)}); it was left in place") from None
            raise MeshproofError(f"PeerAuthentication {self.root}/{name(policy)} could not be set aside "
                                 f"({one_line(exc)}); it was left in place") from None

    def restore(self) -> list[str]:
        """Create every saved object again (newest save first); returns one line per object that could not be."""
        failures = []
        while self.saved:
            saved = self.saved.pop()
            failure = restore_one(self.dyn, saved.original, saved.holder)
            if failure:
                failures.append(failure)
        return failures


def restore_one(dyn: Any, original: Manifest, holder: tuple[str, str]) -> str:
    """Create ``original`` again and drop its saved copy; '' on success, else why not (the copy is kept)."""
    ref = Ref.of(original)
    try:
        by_api_version(dyn, ref.api_version, ref.kind).create(body=original, namespace=ref.namespace)
    except ConflictError:
        return (f"{ref.describe()} was not restored: one of that name exists again (someone recreated it); "
                f"the saved copy stays in ConfigMap {holder[0]}/{holder[1]}")
    except DynamicApiError as exc:
        return f"{ref.describe()} was not restored: {one_line(exc)}; the saved copy stays in ConfigMap {holder[0]}/{holder[1]}"
    try:
        by_api_version(dyn, "v1", "ConfigMap").delete(name=holder[1], namespace=holder[0])
    except NotFoundError:
        pass
    return ""


def saved_copies(dyn: Any) -> list[tuple[ApiObject, Manifest]]:
    """(ConfigMap, original) of every saved object on the cluster."""
    found = []
    for config_map in items(dyn, "v1", "ConfigMap", label_selector=f"{SAVED_LABEL}=true"):
        if created_by_meshproof(config_map):
            found.append((config_map, json.loads((config_map.get("data") or {})[SAVED_KEY])))
    return found
