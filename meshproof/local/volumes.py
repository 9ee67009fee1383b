"""Secret and ConfigMap volumes, and ``envFrom``, for reference-mesh containers.

A reference-mesh pod is a network namespace only: its processes see the
host's file system, so nothing can be mounted at a container's
``mountPath``.  Instead each volume's keys are written as files under the
pod's directory (mode ``defaultMode``), and every environment value or
argument that names a path under a ``mountPath`` is translated to where the
files really are.  The app reads the very bytes of the very Secret it reads
on a cluster; only the directory prefix differs.  Files are written when the
pod is created: a changed Secret reaches a pod when it is recreated (the
suites roll pods by a pod-template annotation, as Helm charts do).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from .gateway_control import secret_data
from .objects import Store

Mounts = dict[str, Path]  # mountPath -> directory holding the volume's files


def _source_data(store: Store, namespace: str, volume: Mapping[str, Any]) -> tuple[dict[str, bytes], int] | None:
    """The keys of a Secret or ConfigMap volume and their file mode; None for an optional volume that is absent."""
    if "secret" in volume:
        source, kind, name = volume["secret"], "Secret", volume["secret"].get("secretName")
    elif "configMap" in volume:
        source, kind, name = volume["configMap"], "ConfigMap", volume["configMap"].get("name")
    else:
        raise ConfigError(f"volume {volume.get('name')}: only secret and configMap volumes are supported")
    obj = store.get(kind, namespace, name)
    if obj is None:
        if source.get("optional"):
            return None
        raise ConfigError(f"volume {volume['name']}: {kind} {namespace}/{name} not found")
    data = secret_data(obj) if kind == "Secret" else config_map_data(obj)
    items = source.get("items")
    if items:
        data = {item["path"]: data[item["key"]] for item in items if item["key"] in data}
    return data, int(source.get("defaultMode", 0o644))


def config_map_data(config_map: Mapping[str, Any]) -> dict[str, bytes]:
    data = {k: v.encode() for k, v in (config_map.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (config_map.get("binaryData") or {}).items()})
    return data


def mount(store: Store, namespace: str, volumes: Iterable[Mapping[str, Any]], container: Mapping[str, Any],
          root: Path) -> Mounts:
    """Write the files of every volume ``container`` mounts under ``root``; returns where each mountPath went."""
    by_name = {v["name"]: v for v in volumes}
    mounts: Mounts = {}
    for volume_mount in container.get("volumeMounts") or []:
        name = volume_mount["name"]
        if name not in by_name:
            raise ConfigError(f"container {container.get('name')} mounts unknown volume {name}")
        found = _source_data(store, namespace, by_name[name])
        if found is None:
            continue
        data, mode = found
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        for key, content in data.items():
            path = directory / key
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as out:
                out.write(content)
        mounts[volume_mount["mountPath"].rstrip("/")] = directory
    return mounts


def translate(value: str, mounts: Mounts) -> str:
    """``value`` with a leading mountPath replaced by the directory that holds the volume's files."""
    for mount_path, directory in mounts.items():
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(directory) + value[len(mount_path):]
    return value


def environment(store: Store, namespace: str, container: Mapping[str, Any], mounts: Mounts) -> dict[str, str]:
    """``envFrom`` (Secrets and ConfigMaps), then ``env`` values, paths translated."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            kind, ref, read = "Secret", source["secretRef"], secret_data
        else:
            kind, ref, read = "ConfigMap", source["configMapRef"], config_map_data
        obj = store.get(kind, namespace, ref["name"])
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f"envFrom: {kind} {namespace}/{ref['name']} not found")
        env.update({k: v.decode() for k, v in read(obj).items()})
    env.update({e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if "value" in e})
    return {k: translate(v, mounts) for k, v in env.items()}
