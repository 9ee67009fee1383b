"""The ``kube`` backend: the suite against a real cluster running an Istio-family mesh.

:func:`connect` runs the preflight and returns a :class:`KubeCluster`;
:func:`sweep` removes what interrupted runs left behind (``make clean``).
"""
from __future__ import annotations

import dataclasses

from kubernetes.dynamic import DynamicClient

from ..cluster import Cluster
from ..errors import PreflightError
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS, Timeouts
from . import preflight
from .client import api_client, one_line
from .cluster import KubeCluster
from .ingress import describe_search, find_ingress, parse_selector
from .meshconfig import read_mesh_config
from .profiles import detect
from .survey import take_snapshot
from .sweep import sweep_all

__all__ = ["KubeCluster", "connect", "sweep"]


def connect(*, run_id: str, context: str | None, kubeconfig: str | None, profile: str | None = None,
            revision: str | None = None, ingress_namespace: str | None = None,
            ingress_selector: str | None = None, keep: bool = False,
            image_registry: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> Cluster:
    """Check that the cluster can run the suite, detect its mesh, and return the backend.

    ``run_id`` is carried by the fixtures' labels and names; the backend tracks
    what it applies, so it needs no run id of its own beyond error messages.
    ``timeouts`` are the run's: cleanup at ``close()`` and diagnostics use them.
    """
    selector = parse_selector(ingress_selector) if ingress_selector else None
    api = api_client(context, kubeconfig)
    preflight.check_reachable(api)
    preflight.check_access(api, preflight.REQUIRED)
    dyn = _dynamic(api)
    snap = _survey(api, dyn)
    preflight.check_istio(snap)
    platform = detect(snap, profile=profile, revision=revision)
    # root namespace and trust domain as istiod reads them (its namespace is where detect found it)
    mesh_config = read_mesh_config(dyn, platform.mesh.root_namespace,
                                   platform.control_plane[1] if platform.control_plane else platform.revision)
    platform = dataclasses.replace(platform, mesh=dataclasses.replace(
        platform.mesh, root_namespace=mesh_config.root_namespace, trust_domain=mesh_config.trust_domain))
    if platform.control_plane:
        preflight.check_access(api, preflight.OSSM2_REQUIRED)
    if platform.mesh.platform == "openshift":
        preflight.check_access(api, preflight.OPENSHIFT_REQUIRED)
    ingress = find_ingress(snap, platform.mesh, in_namespace=ingress_namespace, selector=selector)
    if ingress is None:
        raise PreflightError(f"no ingress gateway found: {describe_search(platform.mesh, ingress_namespace, selector)}"
                             "; pass --ingress-namespace / --ingress-selector")
    return KubeCluster(api, dyn, platform, ingress, keep=keep, image_registry=image_registry, timeouts=timeouts)


def sweep(context: str | None, kubeconfig: str | None) -> list[str]:
    """Delete every object labelled as the suite's, of any run; returns what was deleted."""
    api = api_client(context, kubeconfig)
    preflight.check_reachable(api)
    return sweep_all(_dynamic(api))


def _dynamic(api):
    try:
        return DynamicClient(api)
    except Exception as exc:  # noqa: BLE001 - discovery failing is a preflight failure, in one line
        raise PreflightError(f"cannot read the API's discovery documents: {one_line(exc)}") from None


def _survey(api, dyn):
    try:
        return take_snapshot(api, dyn)
    except Exception as exc:  # noqa: BLE001
        raise PreflightError(f"cannot read the mesh's objects: {one_line(exc)}") from None
