"""Identity of one run: its id, backend and mesh, shared by fixtures and reporting."""
from __future__ import annotations

import os
import secrets
import shlex
import sys
from dataclasses import dataclass, field

import pytest

from .cluster import MeshInfo

#: label on every object a run creates, so leftovers can be swept by label
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "meshproof"
RUN_LABEL = "meshproof.io/run"


RUN_ID_ENV = "MESHPROOF_RUN_ID"


def new_run_id() -> str:
    """Short, DNS-label-safe and distinct per pytest-xdist worker; $MESHPROOF_RUN_ID fixes its stem."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = worker.replace("gw", "w") if worker else ""
    return f"{os.environ.get(RUN_ID_ENV) or secrets.token_hex(3)}{suffix}"


@dataclass
class RunInfo:
    run_id: str
    backend: str
    command: str = field(default_factory=lambda: shlex.join(["pytest", *sys.argv[1:]]))
    mesh: MeshInfo | None = None
    kubernetes_version: str = ""
    #: the namespaces the run deploys to, for diagnostics when a check fails
    namespaces: list[str] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: self.run_id}


RUN_KEY = pytest.StashKey[RunInfo]()
