"""The mesh configuration, read the way istiod reads it: the ``mesh`` key of the ``istio`` ConfigMap.

istiod reads MeshConfig from the ConfigMap ``istio`` (``istio-<revision>``
for a revision other than ``default``) in its own namespace, key ``mesh``,
a YAML document laid over the defaults (rootNamespace ``istio-system``,
trustDomain ``cluster.local``).  Sources: istio/istio
pilot/pkg/bootstrap/mesh.go (getMeshConfigMapName, getConfigurationSources),
pkg/config/mesh/kubemesh/watcher.go (MeshConfigKey) and
pkg/config/mesh/mesh.go (DefaultMeshConfig); the istio-discovery chart
writes ``rootNamespace`` as the install namespace unless meshConfig sets it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from .errors import ConfigError

CONFIGMAP, MESH_KEY = "istio", "mesh"
DEFAULT_ROOT_NAMESPACE, DEFAULT_TRUST_DOMAIN = "istio-system", "cluster.local"


@dataclass(frozen=True)
class MeshConfig:
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    trust_domain: str = DEFAULT_TRUST_DOMAIN


def configmap_name(revision: str | None) -> str:
    """``istio``, or ``istio-<revision>`` for a revision other than ``default``."""
    return CONFIGMAP if not revision or revision == "default" else f"{CONFIGMAP}-{revision}"


def from_configmap(configmap: Mapping[str, Any] | None) -> MeshConfig:
    """The MeshConfig of a ConfigMap (None: istiod's defaults); ConfigError, naming it, if ``mesh`` is not YAML."""
    meta = (configmap or {}).get("metadata") or {}
    return _parsed(str(((configmap or {}).get("data") or {}).get(MESH_KEY) or ""),
                   f"ConfigMap {meta.get('namespace')}/{meta.get('name')}: data.{MESH_KEY}")


@functools.lru_cache(maxsize=64)
def _parsed(text: str, where: str) -> MeshConfig:
    """Parsed once per text: the control plane reads the configuration at every computation."""
    try:
        mesh = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(mesh, Mapping):
        raise ConfigError(f"{where}: a mapping of MeshConfig fields is expected")
    for key in ("rootNamespace", "trustDomain"):
        if key in mesh and not isinstance(mesh[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    return MeshConfig(root_namespace=mesh.get("rootNamespace") or DEFAULT_ROOT_NAMESPACE,
                      trust_domain=mesh.get("trustDomain") or DEFAULT_TRUST_DOMAIN)


def configmap(namespace: str, revision: str | None, config: MeshConfig) -> dict[str, Any]:
    """The ConfigMap an installation writes for ``config`` (as the istio-discovery chart does)."""
    mesh = yaml.safe_dump({"rootNamespace": config.root_namespace, "trustDomain": config.trust_domain})
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": configmap_name(revision), "namespace": namespace}, "data": {MESH_KEY: mesh}}
