"""Finding the API resource that serves a kind, through the dynamic client's discovery."""
from __future__ import annotations

from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError

from ..errors import ConfigError


def by_api_version(dyn: Any, api_version: str, kind: str) -> Any:
    try:
        return dyn.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ConfigError(f"the cluster does not serve {kind} in {api_version}") from None


def items(dyn: Any, api_version: str, kind: str, **query: str) -> list[dict]:
    """The objects of one listing (``namespace``, ``label_selector``, ...) as plain dicts."""
    return by_api_version(dyn, api_version, kind).get(**query).to_dict().get("items") or []
