"""A KubeCluster over fakes: no API server, the run's timeouts given explicitly."""
from __future__ import annotations

import dataclasses

from kubernetes import client

from meshproof.kube.cluster import KubeCluster
from meshproof.kube.ingress import find_ingress
from meshproof.kube.profiles import detect
from meshproof.timeouts import DEFAULT

from .recorded import load


def kube_cluster(dyn, platform: str = "upstream", *, run_id: str = "abc123", allow_mesh_wide_changes: bool = False,
                 **timeouts: float) -> KubeCluster:
    """The backend of a recorded platform; ``client.ApiClient()`` is never called over the network here."""
    snap, _ = load(platform)
    detected = detect(snap)
    return KubeCluster(client.ApiClient(), dyn, detected, find_ingress(snap, detected.mesh),
                       timeouts=dataclasses.replace(DEFAULT, **timeouts), run_id=run_id,
                       allow_mesh_wide_changes=allow_mesh_wide_changes)
