"""Where one Envoy's watched files live, and how a change is published.

Envoy reads its listeners, clusters and secrets from files it watches (path
config sources); a change is published by writing a new file and renaming it
over the old one, which Envoy applies within milliseconds and without restart.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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

    def path(self, name: str) -> Path:
        return self.directory / name

    def source(self, name: str) -> dict[str, Any]:
        # strings, not Path objects: a push renders two of these per cluster of every rewritten sidecar
        directory = str(self.directory)
        return {
            "path_config_source": {"path": f"{directory}/{name}", "watched_directory": {"path": directory}},
            "resource_api_version": "V3",
        }

    def publish(self, name: str, resources: list[dict[str, Any]]) -> bool:
        """Atomically replace ``name``; returns False when nothing changed (no push)."""
        text = json.dumps({"resources": resources}, sort_keys=True)
        target = self.path(name)
        try:
            if target.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        tmp = self.write_private(f".{name}.tmp", text.encode())
        tmp.rename(target)
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
