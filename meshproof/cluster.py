"""The backend contract: what the fixtures need from a mesh, whatever runs it.

Two implementations: ``meshproof.local`` (the embedded reference mesh) and
``meshproof.kube`` (a real cluster through the official client).  Nothing in
``suites/`` imports either; fixtures hand tests a :class:`Cluster`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import MeshproofError
from .labels import parse_selector  # noqa: F401 - the inverse of selector_text, one parser for every selector

if TYPE_CHECKING:
    from .database import ExternalDatabase
    from .ports import ListeningSocket
    from .evidence import AcceptedConnection
    from .wire import Capture

Manifest = dict[str, Any]

#: container name of the sidecar, as Istio's injector names it
PROXY_CONTAINER = "istio-proxy"
#: pod annotation by which a workload opts out of (``"false"``) Istio's rewrite of its HTTP probes
REWRITE_PROBES = "sidecar.istio.io/rewriteAppHTTPProbers"


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[str, ...] = ()
    ip: str = ""
    #: ``spec.serviceAccountName`` ("default" when the pod names none)
    service_account: str = "default"
    #: ``metadata.annotations`` (e.g. traffic.sidecar.istio.io/excludeInboundPorts)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_sidecar(self) -> bool:
        return PROXY_CONTAINER in self.containers

    @property
    def app_container(self) -> str:
        return next(c for c in self.containers if c != PROXY_CONTAINER)


def labels_match(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Every label of ``selector`` is among ``labels``; an empty selector matches everything."""
    return all(labels.get(k) == v for k, v in selector.items())


def selector_text(selector: Mapping[str, str]) -> str:
    """Labels as ``kubectl -l`` and the API's ``label_selector`` take them."""
    return ",".join(f"{k}={v}" for k, v in selector.items())


@dataclass(frozen=True)
class ExecResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Endpoint:
    """An address reachable from the machine running pytest (outside the mesh)."""

    host: str
    port: int


@dataclass(frozen=True)
class MeshInfo:
    """What the suite knows about the mesh under test; drives labels, skips and the report."""

    profile: str
    version: str
    platform: str
    root_namespace: str = "istio-system"
    injection_labels: Mapping[str, str] = field(default_factory=lambda: {"istio-injection": "enabled"})
    features: frozenset[str] = frozenset()
    #: why this mesh lacks a feature, where it is the cluster's rule rather than the profile's (feature -> reason)
    unsupported: Mapping[str, str] = field(default_factory=dict)
    trust_domain: str = "cluster.local"
    #: where the ingress gateway's pods run (its credentialName Secrets go there); "" means the root namespace
    ingress_namespace: str = ""
    #: the ingress gateway pods' labels; empty means Istio's default ``istio=ingressgateway``
    ingress_selector: Mapping[str, str] = field(default_factory=dict)


class Cluster(abc.ABC):
    """A mesh the suite can deploy to, probe and clean up."""

    #: short name of the backend ("local", "kube")
    backend: str

    @abc.abstractmethod
    def mesh(self) -> MeshInfo:
        """Profile, version and features of the mesh."""

    @abc.abstractmethod
    def apply(self, manifest: Manifest) -> None:
        """Create or update one object (any kind, Istio CRDs and Secrets included)."""

    @abc.abstractmethod
    def delete(self, kind: str, name: str, namespace: str | None = None, *, timeout: float) -> None:
        """Delete one object and wait until it is gone; absent objects are not an error."""

    @abc.abstractmethod
    def wait_ready(self, namespace: str, selector: Mapping[str, str], *, timeout: float) -> list[Pod]:
        """Wait until the pods matching ``selector`` are ready and return them."""

    @abc.abstractmethod
    def pod_ready(self, namespace: str, selector: Mapping[str, str]) -> bool:
        """Whether the pods matching ``selector`` are ready right now, as the kubelet's probes say.

        True only when at least one pod matches and every one (terminating ones aside)
        is ready.  It does not wait, and missing or failing pods are an answer
        (False), not an error: a check can watch a pod that must *not* turn ready.
        """

    @abc.abstractmethod
    def exec(self, pod: Pod, container: str, argv: Iterable[str], *, timeout: float,
             stdin: bytes | None = None) -> ExecResult:
        """Run a command in a pod's container (``stdin`` fed to it) and return its exit code and output."""

    @abc.abstractmethod
    def logs(self, pod: Pod, container: str) -> str:
        """Logs of a pod's container, for diagnostics."""

    @abc.abstractmethod
    def proxy_admin(self, pod: Pod, path: str) -> str:
        """GET ``path`` (e.g. /config_dump) from the sidecar's Envoy admin interface."""

    @abc.abstractmethod
    def ingress_endpoint(self, port: int) -> Endpoint:
        """Where the ingress gateway's ``port`` is reached from outside the mesh."""

    @abc.abstractmethod
    def close(self) -> None:
        """Remove everything this run created; safe to call twice."""

    def kept(self) -> str:
        """What a run that skips :meth:`close` (--no-cleanup, --keep-on-failure) leaves, and how to remove it."""
        return ("its objects stay, labelled with the run id; remove them with "
                "`python -m meshproof.sweep --kube-context CONTEXT`")

    def start_external_database(self, namespace: str, *, labels: Mapping[str, str],
                                timeout: float) -> "ExternalDatabase":
        """A TLS-only MySQL-compatible database outside the mesh (feature external-database).

        It lives in ``namespace``, which the caller created without injection,
        its objects carry ``labels``, and pods reach it by the names of
        :func:`meshproof.database.service_names`.
        """
        raise MeshproofError(f"the {self.backend} backend cannot start an external database")

    def stop_external_database(self, namespace: str) -> None:
        """Stop what :meth:`start_external_database` started in ``namespace``."""

    def inbound_connections(self, pod: Pod) -> list["AcceptedConnection"]:
        """What ``pod``'s sidecar recorded of the connections (TCP) and requests (HTTP) it accepted, counted per
        port, security policy and peer (meshproof.evidence); cumulative, so callers compare two readings.

        MeshproofError when the backend cannot read them.
        """
        raise MeshproofError(f"the {self.backend} backend reports no server-side evidence")

    def start_capture(self, pod: Pod, port: int) -> "Capture":
        """Capture TCP to or from ``port`` in ``pod``'s network namespace until ``stop()`` (feature wire-capture).

        MeshproofError when the backend cannot capture.
        """
        raise MeshproofError(f"the {self.backend} backend cannot capture packets")

    def list_pods(self, namespace: str) -> list[Pod]:
        """Every pod of ``namespace`` that is not terminating, ready or not; [] for an empty namespace.

        MeshproofError (one line) when the user may not list them.
        """
        raise MeshproofError(f"the {self.backend} backend cannot list pods")

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Manifest]:
        """The objects of ``kind`` as the API server stores them, in ``namespace`` or (None) in every namespace;
        [] when the cluster serves the kind but holds none.  MeshproofError when the user may not list them."""
        raise MeshproofError(f"the {self.backend} backend cannot list objects")

    def namespace(self, name: str) -> Manifest | None:
        """The Namespace object ``name``, or None when it does not exist; MeshproofError when the user may not
        read it."""
        raise MeshproofError(f"the {self.backend} backend cannot read namespaces")

    def listening_sockets(self, pod: Pod) -> list["ListeningSocket"]:
        """The TCP sockets listening in ``pod``'s network namespace (meshproof.ports), as its kernel lists them.

        MeshproofError when the backend cannot read them (e.g. no container of the pod can print a file).
        """
        raise MeshproofError(f"the {self.backend} backend cannot read a pod's listening sockets")

    def machinery_faults(self) -> list[str]:
        """What is broken in the machinery the suite stands on, right now; cheap, never raises.

        One sentence per fault, naming it: a process of the reference mesh that
        exited on its own (an Envoy, the kubelet stand-in, MariaDB), or an API
        server that no longer answers.  Empty when all is well.  A check that
        fails while this is not empty is an infrastructure error, never
        "not conformant" (meshproof.verdict).
        """
        return []

    def diagnostics(self, namespace: str) -> dict[str, str]:
        """Text attachments that explain a failure in ``namespace`` (name -> content)."""
        return {}

    def apply_all(self, manifests: Iterable[Manifest]) -> None:
        for manifest in manifests:
            self.apply(manifest)
