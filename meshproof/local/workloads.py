"""The pods a workload object asks for: Deployment, StatefulSet and bare Pod.

Kubernetes rules followed here (kubernetes.io, "Deployments", "StatefulSets", "Pods"):

- a Deployment's pods get generated names (``<name>-<random>``) and are
  replaced on any change of its pod template (a rollout);
- a StatefulSet's pods are ``<name>-0`` .. ``<name>-<replicas-1>``, each with
  ``hostname`` its own name and ``subdomain`` the StatefulSet's
  ``serviceName``, so its governing headless Service gives each a stable DNS
  name ``<name>-<i>.<serviceName>.<ns>.svc.cluster.local``;
- a bare Pod is one pod of its own name; the API server refuses changes to its
  spec (the fields it lets change, image and a few more, are not modelled).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..ports import EXCLUDE_INBOUND_PORTS, excluded_inbound_ports
from .host import POD_NAME_MAX
from .probes import probes
from .rotation import secret_ttl

#: the kinds that make pods, in the kind table's terms
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Pod")


@dataclass(frozen=True)
class PodRequest:
    """One pod a workload asks for: its workload (:func:`owner_of`), name and template (``metadata`` and ``spec``)."""

    owner: tuple[str, str, str]
    name: str
    template: Mapping[str, Any]
    hostname: str = ""
    subdomain: str = ""

    def containers(self) -> list[dict[str, Any]]:
        """The template's containers; ConfigError when it has none (the API server requires one)."""
        found = list((self.template.get("spec") or {}).get("containers") or [])
        if not found:
            namespace, kind, name = self.owner
            raise ConfigError(f"{kind} {namespace}/{name} has no containers")
        return found


def owner_of(workload: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, kind, name): what the pods of a workload are kept under."""
    meta = workload["metadata"]
    return meta.get("namespace") or "", workload["kind"], meta["name"]


def needs_new_pods(workload: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
    """Whether applying ``workload`` over ``previous`` (None: new) replaces its pods.

    Raises ConfigError for a changed bare Pod spec, as the API server does.
    """
    if previous is None:
        return True
    if previous.get("spec") == workload.get("spec"):
        return False
    if workload["kind"] == "Pod":
        namespace, _, name = owner_of(workload)
        raise ConfigError(f"Pod {namespace}/{name}: spec is immutable once created (delete the Pod to change it)")
    return True


def validate_workload(workload: Mapping[str, Any]) -> None:
    """Refuse, in one line and before anything is stored, what the reference mesh could not start: a pod
    template without containers or with probes the API server refuses, a malformed
    ``proxy.istio.io/config``, a pod name too long for its sockets' paths (meshproof.local.host)."""
    requests = pod_requests(workload)
    for request in requests[:1]:
        probes(request.containers())
        annotations = (request.template.get("metadata") or {}).get("annotations")
        secret_ttl(annotations)
        _capture_annotations(annotations, request)
    longest = max((request.name for request in requests), key=len, default="")
    if len(longest) > POD_NAME_MAX:
        namespace, kind, name = requests[0].owner
        raise ConfigError(f"{kind} {namespace}/{name}: the reference mesh takes pod names of at most "
                          f"{POD_NAME_MAX} characters ({longest} is longer)")


#: the prefix of istio-iptables' pod annotations; of them the reference mesh models excludeInboundPorts only
TRAFFIC_ANNOTATIONS = "traffic.sidecar.istio.io/"


def _capture_annotations(annotations: Mapping[str, Any] | None, request: "PodRequest") -> None:
    """excludeInboundPorts must list ports; any other ``traffic.sidecar.istio.io/`` annotation is refused, not ignored."""
    namespace, kind, name = request.owner
    try:
        excluded_inbound_ports(annotations)
    except ConfigError as error:
        raise ConfigError(f"{kind} {namespace}/{name}: {error}") from None
    for key in annotations or {}:
        if key.startswith(TRAFFIC_ANNOTATIONS) and key != EXCLUDE_INBOUND_PORTS:
            raise ConfigError(f"{kind} {namespace}/{name}: annotation {key}: the reference mesh models only "
                              f"{EXCLUDE_INBOUND_PORTS} of the capture annotations; run on a cluster with --kube-context")


def pod_requests(workload: Mapping[str, Any]) -> list[PodRequest]:
    """The pods ``workload`` (a kind of :data:`WORKLOAD_KINDS`) asks for, in creation order."""
    kind, meta, spec = workload["kind"], workload["metadata"], workload.get("spec") or {}
    owner, name = owner_of(workload), meta["name"]
    if kind == "Pod":
        template = {"metadata": meta, "spec": spec}
        return [PodRequest(owner, name, template, spec.get("hostname", ""), spec.get("subdomain", ""))]
    template = spec.get("template") or {}
    replicas = int(spec.get("replicas", 1))
    if kind == "StatefulSet":
        return [PodRequest(owner, f"{name}-{i}", template, f"{name}-{i}", spec.get("serviceName", ""))
                for i in range(replicas)]
    if kind == "Deployment":
        pod_spec = template.get("spec") or {}
        return [PodRequest(owner, f"{name}-{secrets.token_hex(4)}", template, pod_spec.get("hostname", ""),
                           pod_spec.get("subdomain", "")) for _ in range(replicas)]
    raise ConfigError(f"{kind} {meta.get('namespace')}/{name} makes no pods in the reference mesh")
