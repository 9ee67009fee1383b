"""The mesh configuration of the cluster's istiod, read from its ConfigMap (see :mod:`meshproof.meshconfig`)."""
from __future__ import annotations

from typing import Any

from ..meshconfig import MeshConfig, configmap_name, from_configmap
from .resources import items


def read_mesh_config(dyn: Any, namespace: str, revision: str | None) -> MeshConfig:
    """istiod's MeshConfig: ConfigMap ``istio`` (``istio-<revision>``) in ``namespace``, istiod's defaults if absent.

    ``revision`` for OpenShift Service Mesh 2 is the ServiceMeshControlPlane's name (Maistra names the
    ConfigMap ``istio-<smcp>``).  Raises ConfigError if the ConfigMap's ``mesh`` is not MeshConfig YAML.
    """
    name = configmap_name(revision)
    found = items(dyn, "v1", "ConfigMap", namespace=namespace, field_selector=f"metadata.name={name}")
    return from_configmap(found[0] if found else None)
