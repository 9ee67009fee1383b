"""What explains a failure in one namespace: pods, events, logs, Envoy's view, the applied YAML.

Diagnostics run while a test is already failing, so a piece that cannot be
read is reported as text and never raises.
"""
from __future__ import annotations

from typing import Callable

import yaml

from ..cluster import PROXY_CONTAINER, Manifest, Pod
from .client import one_line
from .pods import summary
from .snapshot import ApiObject

#: the sidecar's Envoy admin pages attached to a failure
ENVOY_PAGES = ("config_dump", "clusters")


def describe_pods(pods: list[ApiObject]) -> str:
    return "\n".join(summary(p) for p in pods) or "no pods"


def describe_events(events: list[ApiObject]) -> str:
    def when(e: ApiObject) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or "")

    lines = [f"{when(e)} {e.get('type', '')} {e.get('reason', '')} "
             f"{(e.get('involvedObject') or {}).get('kind', '')}/{(e.get('involvedObject') or {}).get('name', '')}: "
             f"{' '.join(str(e.get('message', '')).split())}" for e in sorted(events, key=when)]
    return "\n".join(lines) or "no events"


def applied_yaml(manifests: list[Manifest]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False) if manifests else "nothing applied"


def safely(read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure it explains
        return f"unavailable: {one_line(exc)}"


def proxied(pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if PROXY_CONTAINER in p.containers]
