"""HTTP probes as the kubelet reads them, and Istio's injector rewrite of them.

Under STRICT the sidecar resets the kubelet's plaintext probe of an app port.
So the injector (unless ``sidecar.istio.io/rewriteAppHTTPProbers: "false"``)
points each HTTP probe at the agent's status port, ``:15020/app-health/<container>/readyz|livez``,
which capture leaves alone, and hands the agent the original probes in
``ISTIO_KUBE_APP_PROBERS``; the agent then calls the app on localhost.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

from ..cluster import REWRITE_PROBES
from ..errors import ConfigError

STATUS_PORT = 15020
APP_PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"

#: probe field of a container -> (kind, the agent's path suffix)
PROBE_FIELDS = {"readinessProbe": ("readiness", "readyz"), "livenessProbe": ("liveness", "livez")}


@dataclass(frozen=True)
class HttpProbe:
    """One httpGet probe with the kubelet's defaults filled in."""

    container: str
    kind: str  # "readiness" or "liveness"
    path: str
    port: int
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    failure_threshold: int = 3
    success_threshold: int = 1

    def __str__(self) -> str:
        return f"{self.kind} {self.container} GET :{self.port}{self.path}"


def resolve_port(container: Mapping[str, Any], port: int | str) -> int:
    """A probe's port as the kubelet resolves it: a number, or the name of a container port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ConfigError(f"container {container.get('name')}: probe port {port!r} names no container port")


def http_probes(containers: list[Mapping[str, Any]]) -> list[HttpProbe]:
    """The readiness and liveness httpGet probes of ``containers`` (other probe types are not run)."""
    found = []
    for container in containers:
        for field, (kind, _) in PROBE_FIELDS.items():
            spec = container.get(field) or {}
            get = spec.get("httpGet")
            if not get:
                continue
            found.append(HttpProbe(
                container=container["name"], kind=kind, path=get.get("path", "/"),
                port=resolve_port(container, get["port"]),
                initial_delay=spec.get("initialDelaySeconds", 0), period=spec.get("periodSeconds", 10),
                timeout=spec.get("timeoutSeconds", 1), failure_threshold=spec.get("failureThreshold", 3),
                success_threshold=spec.get("successThreshold", 1),
            ))
    return found


def rewrite_requested(annotations: Mapping[str, str] | None) -> bool:
    """Istio rewrites by default; only the annotation set to "false" opts a pod out."""
    return (annotations or {}).get(REWRITE_PROBES, "true").lower() != "false"


def rewrite(containers: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The containers with their HTTP probes pointed at the status port, and the agent's app probers.

    The app probers map each ``/app-health/...`` path to the original probe
    (port resolved to a number), as the injector writes ``ISTIO_KUBE_APP_PROBERS``.
    """
    rewritten, app_probers = [], {}
    for original in containers:
        container = copy.deepcopy(dict(original))
        for field, (_, suffix) in PROBE_FIELDS.items():
            get = (container.get(field) or {}).get("httpGet")
            if not get:
                continue
            path = f"/app-health/{container['name']}/{suffix}"
            app_probers[path] = {
                "httpGet": {**get, "port": resolve_port(container, get["port"])},
                "timeoutSeconds": container[field].get("timeoutSeconds", 1),
            }
            container[field]["httpGet"] = {"path": path, "port": STATUS_PORT, "scheme": "HTTP"}
        rewritten.append(container)
    return rewritten, app_probers
