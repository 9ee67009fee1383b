"""Where one Envoy's watched files live, and how a change is published.

Envoy reads its listeners, clusters and secrets from files it watches (path
config sources); a change is published by writing a new file and renaming it
over the old one, which Envoy applies within milliseconds and without restart.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Hashable

import orjson

from ...pki import write_private
from ..host import PROXY_UID


class ConfigFiles:
    """Where one Envoy's watched files live, and how they are published."""

    def __init__(self, directory: Path, owner_uid: int = PROXY_UID) -> None:
        self.directory = directory
        self.owner_uid = owner_uid
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        os.chown(directory, owner_uid, owner_uid)
        #: what each watched file holds now (as published), so an unchanged one is neither read nor rewritten
        self._published: dict[str, bytes] = {}
        #: rendered pieces of this proxy's configuration by key (:meth:`piece`), for the current and last push
        self._pieces: dict[Hashable, Any] = {}
        self._pieces_used: dict[Hashable, Any] = {}

    def path(self, name: str) -> Path:
        return self.directory / name

    def source(self, name: str) -> dict[str, Any]:
        # strings, not Path objects: a push renders two of these per cluster of every rewritten sidecar
        directory = str(self.directory)
        return {
            "path_config_source": {"path": f"{directory}/{name}", "watched_directory": {"path": directory}},
            "resource_api_version": "V3",
        }

    def new_push(self) -> None:
        """Start rendering a new configuration: the pieces the last one used stay at hand, older ones go."""
        self._pieces, self._pieces_used = self._pieces_used, {}

    def piece(self, key: Hashable, render: Callable[[], Any]) -> Any:
        """``render()``, or what it gave for ``key`` in this push or the last one (a cluster or filter chain of
        an unchanged Service port is not built again).  Pieces are only read after: never mutate one."""
        found = self._pieces_used.get(key)
        if found is None:
            found = self._pieces.get(key)
            if found is None:
                found = render()
            self._pieces_used[key] = found
        return found

    def publish(self, name: str, resources: list[dict[str, Any]]) -> bool:
        """Atomically replace ``name``; returns False when nothing changed (no push).

        Serialized by orjson (sorted keys: an equal configuration is equal text).
        """
        text = orjson.dumps({"resources": resources}, option=orjson.OPT_SORT_KEYS)
        if self._published.get(name) == text:
            return False
        tmp = self.write_private(f".{name}.tmp", text)
        tmp.rename(self.path(name))
        self._published[name] = text
        return True

    def write_private(self, name: str, data: bytes) -> Path:
        """A file only the proxy's user can read (created 0600, then handed to that user)."""
        path = write_private(self.path(name), data)
        os.chown(path, self.owner_uid, self.owner_uid)
        return path

    def write_bootstrap(self, bootstrap: dict[str, Any]) -> Path:
        target = self.path("bootstrap.json")
        target.write_text(json.dumps(bootstrap))
        os.chown(target, self.owner_uid, self.owner_uid)
        return target
