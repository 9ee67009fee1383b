"""The ``kube`` backend: the suite against a real cluster running an Istio-family mesh.

:func:`connect` runs the preflight and returns a :class:`KubeCluster`;
:func:`sweep` removes what interrupted runs left behind (``make clean``).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from kubernetes.dynamic import DynamicClient

from ..cluster import Cluster, parse_selector
from ..errors import PreflightError
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS, Timeouts
from . import preflight, targets
from .client import api_client, one_line
from .cluster import KubeCluster
from .ingress import describe_search, find_ingress
from .meshconfig import read_mesh_config
from .profiles import detect
from .resources import by_api_version
from .survey import take_snapshot
from .lease import live_runs
from .sweep import sweep_all

__all__ = ["KubeCluster", "connect", "sweep", "sweep_remembered"]


def connect(*, run_id: str, context: str | None, kubeconfig: str | None, profile: str | None = None,
            revision: str | None = None, ingress_namespace: str | None = None,
            ingress_selector: str | None = None, keep: bool = False,
            image_registry: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS,
            allow_mesh_wide_changes: bool = False, use_namespaces: Mapping[str, bool] | None = None,
            capture_image: str | None = None) -> Cluster:
    """Check that the cluster can run the suite, detect its mesh, and return the backend.

    ``run_id`` is carried by the fixtures' labels and names; the backend stamps it
    on what it creates and holds the run's Lease under it (meshproof.kube.lease).
    ``timeouts`` are the run's: cleanup at ``close()`` and diagnostics use them.
    ``use_namespaces`` maps each namespace prepared for ``--use-namespace`` to
    whether its pods must be in the mesh: then access is asked where the run
    will use it (:func:`preflight.use_namespace_required`) and the mesh ones
    must carry the profile's injection label.
    """
    selector = parse_selector(ingress_selector) if ingress_selector else None
    api = api_client(context, kubeconfig)
    kubernetes_version = preflight.check_reachable(api)
    preflight.check_access(api, preflight.DISCOVERY if use_namespaces else preflight.REQUIRED)
    dyn = _dynamic(api)
    snap = _survey(api, dyn)
    preflight.check_istio(snap)
    platform = detect(snap, profile=profile, revision=revision)
    # root namespace and trust domain as istiod reads them (its namespace is where detect found it)
    mesh_config = read_mesh_config(dyn, platform.mesh.root_namespace,
                                   platform.control_plane[1] if platform.control_plane else platform.revision)
    platform = dataclasses.replace(platform, mesh=dataclasses.replace(
        platform.mesh, root_namespace=mesh_config.root_namespace, trust_domain=mesh_config.trust_domain))
    if use_namespaces:
        preflight.check_access(api, preflight.use_namespace_required(use_namespaces, platform.mesh.root_namespace),
                               hint="meshproof-use-namespace.yaml")
        _check_prepared(dyn, use_namespaces, platform)
    extra = preflight.profile_required(platform.mesh.profile)
    if extra:
        preflight.check_access(api, extra)
    mesh_namespaces = [ns for ns, in_mesh in use_namespaces.items() if in_mesh] if use_namespaces else None
    refused = preflight.unsupported_features(api, mesh_namespaces)
    if refused:
        platform = dataclasses.replace(platform, mesh=dataclasses.replace(
            platform.mesh, features=platform.mesh.features - set(refused), unsupported=refused))
    ingress = find_ingress(snap, platform.mesh, in_namespace=ingress_namespace, selector=selector)
    if ingress is None:
        raise PreflightError(f"no ingress gateway found: {describe_search(platform.mesh, ingress_namespace, selector)}"
                             "; pass --ingress-namespace / --ingress-selector")
    mesh = KubeCluster(api, dyn, platform, ingress, keep=keep, image_registry=image_registry, timeouts=timeouts,
                       run_id=run_id, allow_mesh_wide_changes=allow_mesh_wide_changes, capture_image=capture_image)
    mesh.kubernetes_version = kubernetes_version
    targets.remember(targets.Target(run_id, context, kubeconfig))
    return mesh.start()


def _swept(context: str | None, kubeconfig: str | None, run_id: str | None) -> tuple[list[str], set[str]]:
    """What sweeping the cluster did, and the runs still alive on it (their Leases held)."""
    api = api_client(context, kubeconfig)
    preflight.check_reachable(api)
    dyn = _dynamic(api)
    live = set() if run_id else live_runs(dyn)
    return sweep_all(dyn, run_id=run_id, live=live), live


def sweep(context: str | None, kubeconfig: str | None, run_id: str | None = None) -> list[str]:
    """Delete what meshproof created for ``run_id``, or for every run that is no longer alive; returns what was done."""
    return _swept(context, kubeconfig, run_id)[0]


def sweep_remembered() -> list[str]:
    """``make clean`` with no cluster named: sweep each cluster an earlier run recorded (meshproof.kube.targets).

    The records of runs still alive there are kept, so a later ``make clean`` finds the cluster again
    once they are over.
    """
    done: list[str] = []
    for target in targets.remembered():
        swept, alive = _swept(target.context, target.kubeconfig, None)
        done += [f"{item} ({target.describe()})" for item in swept]
        targets.forget_cluster(target, keep=alive)
    return done


def _check_prepared(dyn, use_namespaces: Mapping[str, bool], platform) -> None:
    """Each prepared namespace exists; the mesh ones carry the profile's injection label (one line if not)."""
    from kubernetes.dynamic.exceptions import NotFoundError

    for name, in_mesh in use_namespaces.items():
        try:
            namespace = by_api_version(dyn, "v1", "Namespace").get(name=name).to_dict()
        except NotFoundError:
            raise PreflightError(f"namespace {name} given with --use-namespace does not exist") from None
        if in_mesh and not platform.control_plane:  # OSSM 2 enrols by ServiceMeshMember, not by label
            problem = preflight.missing_injection(namespace, platform.mesh.injection_labels, platform.mesh.profile)
            if problem:
                raise PreflightError(problem)


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
