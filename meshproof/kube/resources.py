"""Finding the API resource that serves a kind, through the dynamic client's discovery."""
from __future__ import annotations

from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import ResourceList

from ..errors import ConfigError

#: where a bare kind is looked for first (``Gateway`` is both Istio's and the Gateway API's)
GROUP_PREFERENCE = ("", "apps", "security.istio.io", "networking.istio.io")


def by_api_version(dyn: Any, api_version: str, kind: str) -> Any:
    try:
        return dyn.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ConfigError(f"the cluster does not serve {kind} in {api_version}") from None


def items(dyn: Any, api_version: str, kind: str, **query: str) -> list[dict]:
    """The objects of one listing (``namespace``, ``label_selector``, ...) as plain dicts."""
    return by_api_version(dyn, api_version, kind).get(**query).to_dict().get("items") or []


def by_kind(dyn: Any, kind: str) -> Any:
    """The preferred version of ``kind``, preferring core and Istio groups over others."""
    found = [r for r in dyn.resources.search(kind=kind)
             if not isinstance(r, ResourceList) and getattr(r, "preferred", True)]
    if not found:
        raise ConfigError(f"the cluster does not serve a kind named {kind}")
    rank = {g: i for i, g in enumerate(GROUP_PREFERENCE)}
    return min(found, key=lambda r: rank.get(r.group, len(rank)))
