"""Everything a run applied, so ``close()`` removes exactly that and diagnostics can show it."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from ..cluster import Manifest


@dataclass(frozen=True)
class Ref:
    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, manifest: Manifest) -> "Ref":
        meta = manifest.get("metadata") or {}
        return cls(manifest["apiVersion"], manifest["kind"], meta.get("namespace") or "", meta["name"])

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


class Ledger:
    def __init__(self) -> None:
        self._applied: dict[Ref, Manifest] = {}

    def record(self, manifest: Manifest) -> None:
        """Remember the latest version; the first apply fixes the object's place in the order."""
        self._applied[Ref.of(manifest)] = copy.deepcopy(manifest)

    def forget(self, ref: Ref) -> None:
        self._applied.pop(ref, None)

    def find(self, kind: str, name: str, namespace: str | None) -> list[Ref]:
        return [r for r in self._applied if r.kind == kind and r.name == name and r.namespace == (namespace or "")]

    def get(self, ref: Ref) -> Manifest | None:
        return self._applied.get(ref)

    def in_namespace(self, namespace: str) -> list[Manifest]:
        return [m for r, m in self._applied.items() if r.namespace == namespace]

    def teardown_order(self) -> list[Ref]:
        """Newest first; objects inside a namespace of this run go with it, namespaces last."""
        namespaces = [r for r in self._applied if r.kind == "Namespace" and not r.namespace]
        owned = {r.name for r in namespaces}
        loose = [r for r in self._applied if r.kind != "Namespace" and r.namespace not in owned]
        return [*reversed(loose), *reversed(namespaces)]
