"""A dynamic client over recorded objects: each resource lists a state, then replays watch batches."""
from __future__ import annotations

from types import SimpleNamespace


def matches(obj: dict, label_selector: str | None = None, field_selector: str | None = None, **_) -> bool:
    """Equality selectors only (``a=b,c=d`` and ``metadata.name=x``), as the backend writes them."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    wanted = dict(p.split("=", 1) for p in (label_selector or "").split(",") if p)
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    return not field_selector or field_selector == f"metadata.name={obj['metadata']['name']}"


class FakeResource:
    """Lists the current state; each watch call replays one batch of events and applies it to that state."""

    def __init__(self, items: list[dict], batches: list[list[tuple[str, dict]]] = (), kind: str = "Pod") -> None:
        self.kind = kind
        self.items = list(items)
        self.batches = list(batches)
        self.watched_from: list[str] = []
        self.deleted: list[str] = []

    def get(self, **query):
        listing = {"metadata": {"resourceVersion": "41"}, "items": [i for i in self.items if matches(i, **query)]}
        return SimpleNamespace(to_dict=lambda: listing)

    def watch(self, *, resource_version, timeout, **query):
        self.watched_from.append(resource_version)
        batch = self.batches.pop(0) if self.batches else []
        for kind, obj in batch:
            if kind != "ERROR":
                self.items = [i for i in self.items if i["metadata"]["name"] != obj["metadata"]["name"]]
                if kind != "DELETED":
                    self.items.append(obj)
            if kind == "ERROR" or matches(obj, **query):
                yield {"type": kind, "raw_object": obj}

    def delete(self, *, name, namespace, body):
        self.deleted.append(name)


class FakeDynamic:
    def __init__(self, resources: dict[str, FakeResource]) -> None:
        self.by_kind = resources
        self.resources = SimpleNamespace(get=lambda *, api_version, kind: self.by_kind[kind])
