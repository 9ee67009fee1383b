"""`make clean` finds the suite's objects by label and removes them in a safe order."""
from __future__ import annotations

from types import SimpleNamespace

from kubernetes.dynamic.exceptions import ResourceNotFoundError

from meshproof.kube.sweep import leftovers
from meshproof.run import MANAGED_BY_LABEL

FOUND = {
    "Namespace": [{"metadata": {"name": "mp-abc123-a"}}],
    "Secret": [{"metadata": {"name": "mp-abc123-a-cred", "namespace": "istio-ingress"}},
               {"metadata": {"name": "cred", "namespace": "mp-abc123-a"}}],
    "PeerAuthentication": [{"metadata": {"name": "default", "namespace": "istio-system"}}],
}


class FakeDynamic:
    def __init__(self) -> None:
        self.selectors: set[str] = set()
        self.resources = SimpleNamespace(get=self._resource)

    def _resource(self, *, api_version, kind):
        if kind == "ServiceMeshMember":
            raise ResourceNotFoundError(kind)

        def get(label_selector):
            self.selectors.add(label_selector)
            return SimpleNamespace(to_dict=lambda: {"items": FOUND.get(kind, [])})
        return SimpleNamespace(get=get)


def test_leftovers_are_found_by_label_and_torn_down_namespaces_last():
    dyn = FakeDynamic()
    order = [r.describe() for r in leftovers(dyn).teardown_order()]
    assert dyn.selectors == {f"{MANAGED_BY_LABEL}=meshproof"}
    assert order == ["PeerAuthentication istio-system/default", "Secret istio-ingress/mp-abc123-a-cred",
                     "Namespace mp-abc123-a"]
