"""Probes as the kubelet reads them, and Istio's injector rewrite of them.

Under STRICT the sidecar resets the kubelet's plaintext probe of an app port
(an HTTP GET or a gRPC Health/Check alike); and a TCP probe of a captured port
always connects, to the sidecar.  So the injector (unless
``sidecar.istio.io/rewriteAppHTTPProbers: "false"``) points each httpGet,
tcpSocket and grpc probe, readiness, liveness and startup alike, at the
agent's status port, ``:15020/app-health/<container>/readyz|livez|startupz``
(an httpGet), which capture leaves alone, and hands the agent the original
probes in ``ISTIO_KUBE_APP_PROBERS``; the agent then runs them against
localhost and answers 200 or 500.  exec probes run inside the container and
are left as they are.  Sources: istio/istio ``pkg/kube/inject/app_probe.go``
(convertProbe, convertAppProber, convertAppProberGRPC, DumpAppProbers) and
``pilot/cmd/pilot-agent/status/server.go`` (handleAppProbeHTTPGet,
handleAppProbeTCPSocket, handleAppProbeGRPC).

The kubelet's rules (kubernetes.io, "Configure Liveness, Readiness and Startup
Probes"; the API server's validation): one handler per probe; a grpc probe's
port is a number (``GRPCAction.port`` is an int32, never a port name) and its
``service`` is optional; a liveness or startup probe's ``successThreshold``
must be 1.
"""
from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from ..cluster import REWRITE_PROBES
from ..errors import ConfigError
from .status_port import STATUS_PORT

READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"
#: probe field of a container -> (kind, the agent's path suffix: status.FormatProberURL)
PROBE_FIELDS = {"readinessProbe": (READINESS, "readyz"), "livenessProbe": (LIVENESS, "livez"),
                "startupProbe": (STARTUP, "startupz")}
HTTP_GET, TCP_SOCKET, EXEC, GRPC = "httpGet", "tcpSocket", "exec", "grpc"
#: the probe handlers the kubelet stand-in runs; Istio rewrites all but exec
ACTIONS = (HTTP_GET, TCP_SOCKET, EXEC, GRPC)
REWRITTEN = (HTTP_GET, TCP_SOCKET, GRPC)


@dataclass(frozen=True)
class Probe:
    """One probe with the kubelet's defaults filled in; times in seconds.

    ``action`` is one of :data:`ACTIONS`: httpGet uses ``port`` and ``path``,
    tcpSocket ``port``, exec ``command``, grpc ``port`` and ``service`` (the
    health service asked for, "" when the probe names none).
    """

    container: str
    kind: str  # READINESS, LIVENESS or STARTUP
    action: str
    port: int = 0
    path: str = ""
    command: tuple[str, ...] = ()
    service: str = ""
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    failure_threshold: int = 3
    success_threshold: int = 1

    def __str__(self) -> str:
        if self.action == EXEC:
            return f"{self.kind} {self.container} exec {shlex.join(self.command)}"
        if self.action == TCP_SOCKET:
            return f"{self.kind} {self.container} TCP :{self.port}"
        if self.action == GRPC:
            named = f" service {self.service!r}" if self.service else ""
            return f"{self.kind} {self.container} gRPC :{self.port}{named}"
        return f"{self.kind} {self.container} GET :{self.port}{self.path}"


def resolve_port(container: Mapping[str, Any], port: int | str) -> int:
    """A probe's port as the kubelet resolves it: a number, or the name of a container port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ConfigError(f"container {container.get('name')}: probe port {port!r} names no container port")


def action_of(container: Mapping[str, Any], field: str) -> str | None:
    """The handler of ``container``'s probe ``field`` (None without that probe).

    Raises ConfigError, as the API server refuses them, for a probe without a
    handler or with more than one, a grpc probe whose port is not a number, and
    a liveness or startup probe whose successThreshold is not 1.
    """
    spec = container.get(field)
    if not spec:
        return None
    where = f"container {container.get('name')}: {field}"
    found = [a for a in ACTIONS if spec.get(a) is not None]
    if not found:
        raise ConfigError(f"{where} must specify a handler type ({', '.join(ACTIONS)})")
    if len(found) > 1:
        raise ConfigError(f"{where} may not specify more than 1 handler type (it has {', '.join(found)})")
    if found[0] == GRPC and not isinstance(spec[GRPC].get("port"), int):
        raise ConfigError(f"{where}.grpc.port must be a number (gRPC probes take no port names), "
                          f"not {spec[GRPC].get('port')!r}")
    if PROBE_FIELDS[field][0] != READINESS and spec.get("successThreshold", 1) != 1:
        raise ConfigError(f"{where}.successThreshold must be 1, not {spec['successThreshold']!r}")
    return found[0]


def probes(containers: list[Mapping[str, Any]]) -> list[Probe]:
    """The readiness, liveness and startup probes of ``containers``; ConfigError for a probe the API server refuses."""
    found = []
    for container in containers:
        for field, (kind, _) in PROBE_FIELDS.items():
            action = action_of(container, field)
            if action is None:
                continue
            spec = container[field]
            handler = spec[action]
            found.append(Probe(
                container=container["name"], kind=kind, action=action,
                port=resolve_port(container, handler["port"]) if action != EXEC else 0,
                path=handler.get("path", "/") if action == HTTP_GET else "",
                command=tuple(handler.get("command") or ()) if action == EXEC else (),
                service=(handler.get("service") or "") if action == GRPC else "",
                initial_delay=spec.get("initialDelaySeconds", 0), period=spec.get("periodSeconds", 10),
                timeout=spec.get("timeoutSeconds", 1), failure_threshold=spec.get("failureThreshold", 3),
                success_threshold=spec.get("successThreshold", 1),
            ))
    return found


def rewrite_requested(annotations: Mapping[str, str] | None) -> bool:
    """Istio rewrites by default; only the annotation set to "false" opts a pod out."""
    return (annotations or {}).get(REWRITE_PROBES, "true").lower() != "false"


def rewrite(containers: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The containers with their httpGet, tcpSocket and grpc probes pointed at the status port, and the agent's
    app probers.

    The app probers map each ``/app-health/...`` path to the original handler
    (an httpGet or tcpSocket port resolved to a number; a grpc port is one
    already) and its timeout, as the injector writes ``ISTIO_KUBE_APP_PROBERS``
    (DumpAppProbers).  exec probes are left alone.
    """
    rewritten, app_probers = [], {}
    for original in containers:
        container = copy.deepcopy(dict(original))
        for field, (_, suffix) in PROBE_FIELDS.items():
            action = action_of(container, field)
            if action not in REWRITTEN:
                continue
            spec = container[field]
            path = f"/app-health/{container['name']}/{suffix}"
            handler = spec.pop(action)
            app_probers[path] = {action: {**handler, "port": resolve_port(container, handler["port"])},
                                 "timeoutSeconds": spec.get("timeoutSeconds", 1)}
            spec[HTTP_GET] = {"path": path, "port": STATUS_PORT, "scheme": "HTTP"}
        rewritten.append(container)
    return rewritten, app_probers
