"""Turning the suite's platform-neutral manifests into what this cluster's mesh expects.

- Gateways select the ingress gateway actually found (AKS names it differently).
- A Gateway's ``credentialName`` Secret must live in the gateway workload's
  namespace: the fixtures put it there; one applied beside the Gateway
  instead is mirrored there under a run-unique name.
- OpenShift Service Mesh 2 enrols namespaces with a ServiceMeshMember and
  injects pods annotated ``sidecar.istio.io/inject: "true"``.
- Images can be pulled from a private registry mirror.
"""
from __future__ import annotations

import copy
from typing import Iterator

from ..cluster import Manifest
from ..run import MANAGED_BY_LABEL, RUN_LABEL
from .ingress import IngressGateway
from .ledger import Ledger, Ref
from ..profiles import OSSM2_MEMBER_LABEL
from .profiles import Platform
from .snapshot import namespace as namespace_of

INJECT_ANNOTATION = "sidecar.istio.io/inject"
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class Adapter:
    def __init__(self, platform: Platform, ingress: IngressGateway | None, ledger: Ledger,
                 image_registry: str | None = None) -> None:
        self.platform = platform
        self.ingress = ingress
        self.ledger = ledger
        self.image_registry = image_registry.rstrip("/") if image_registry else None
        self._members: set[str] = set()
        #: (namespace, secret name) referenced by an applied Gateway
        self._credentials: set[tuple[str, str]] = set()

    def adapt(self, manifest: Manifest) -> list[Manifest]:
        """The objects to apply, in order, for one manifest of the suite."""
        m = copy.deepcopy(manifest)
        kind, group = m.get("kind"), m.get("apiVersion", "").split("/")[0]
        extra: list[Manifest] = []
        if kind == "Namespace" and self.platform.control_plane:
            extra = list(self._enrol(m))
        elif kind in _WORKLOAD_KINDS:
            self._adapt_workload(m)
        elif kind == "Gateway" and group == "networking.istio.io" and self.ingress:
            extra = list(self._adapt_gateway(m))
        elif kind == "Secret" and (namespace_of(m), m["metadata"]["name"]) in self._credentials:
            extra = [self._mirror(m)]
        return [m, *extra] if kind != "Gateway" else [*extra, m]

    def mirror_name(self, namespace: str, secret: str) -> str:
        return f"{namespace}-{secret}"[:253]

    def _enrol(self, ns: Manifest) -> Iterator[Manifest]:
        labels = ns["metadata"].get("labels") or {}
        if labels.get(OSSM2_MEMBER_LABEL) != "true":
            return
        name = ns["metadata"]["name"]
        self._members.add(name)
        cp_namespace, cp_name = self.platform.control_plane  # type: ignore[misc]
        yield {
            "apiVersion": "maistra.io/v1",
            "kind": "ServiceMeshMember",
            "metadata": {"name": "default", "namespace": name, "labels": _run_labels(ns)},
            "spec": {"controlPlaneRef": {"name": cp_name, "namespace": cp_namespace}},
        }

    def _adapt_workload(self, m: Manifest) -> None:
        template = m.get("spec", {}).get("template", {})
        if namespace_of(m) in self._members:
            annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
            annotations.setdefault(INJECT_ANNOTATION, "true")
        if self.image_registry:
            spec = template.get("spec", {})
            for container in (*spec.get("initContainers", []), *spec.get("containers", [])):
                container["image"] = self.rehost(container["image"])

    def rehost(self, image: str) -> str:
        """``docker.io/curlimages/curl:8`` or ``curlimages/curl:8`` -> ``<registry>/curlimages/curl:8``."""
        first, _, rest = image.partition("/")
        path = rest if rest and ("." in first or ":" in first or first == "localhost") else image
        return f"{self.image_registry}/{path}"

    def _adapt_gateway(self, gw: Manifest) -> Iterator[Manifest]:
        """Select the gateway found; a credential kept beside the Gateway is mirrored to the gateway's pods.

        Istio reads a plain ``credentialName`` from the namespace of the gateway
        *proxy* (istio.io docs, "Secure Gateways"; ``pilot/pkg/model/credentials``
        resolves it against the proxy's namespace), so a Secret already there is
        left as named; only one applied in the Gateway's own namespace is copied.
        """
        assert self.ingress is not None
        gw.setdefault("spec", {})["selector"] = dict(self.ingress.selector)
        namespace = namespace_of(gw)
        if namespace == self.ingress.namespace:
            return
        for server in gw["spec"].get("servers") or []:
            tls = server.get("tls") or {}
            secret = tls.get("credentialName")
            source = self.ledger.get(Ref("v1", "Secret", namespace, secret)) if secret else None
            if source is None:
                continue
            self._credentials.add((namespace, secret))
            tls["credentialName"] = self.mirror_name(namespace, secret)
            yield self._mirror(source)

    def mirrors_of(self, namespace: str, secret: str) -> list[Ref]:
        """The copy made of a credential Secret, to delete with it."""
        if (namespace, secret) not in self._credentials or self.ingress is None:
            return []
        return [Ref("v1", "Secret", self.ingress.namespace, self.mirror_name(namespace, secret))]

    def _mirror(self, secret: Manifest) -> Manifest:
        assert self.ingress is not None
        copy_ = {k: copy.deepcopy(v) for k, v in secret.items() if k in ("apiVersion", "kind", "type", "data", "stringData")}
        copy_["metadata"] = {
            "name": self.mirror_name(namespace_of(secret), secret["metadata"]["name"]),
            "namespace": self.ingress.namespace,
            "labels": _run_labels(secret),
        }
        return copy_


def _run_labels(m: Manifest) -> dict[str, str]:
    labels = (m.get("metadata") or {}).get("labels") or {}
    return {k: v for k, v in labels.items() if k in (MANAGED_BY_LABEL, RUN_LABEL)}
