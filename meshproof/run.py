"""Identity of one run: its id, backend and mesh, shared by fixtures and reporting."""
from __future__ import annotations

import os
import secrets
import shlex
import sys
from dataclasses import dataclass, field

import pytest

from .cluster import MeshInfo
from .errors import ConfigError
from .labels import DNS_LABEL_MAX, check_dns_label

#: label on every object a run creates, so leftovers can be swept by label
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "meshproof"
RUN_LABEL = "meshproof.io/run"


RUN_ID_ENV = "MESHPROOF_RUN_ID"


#: pytest-xdist workers append ``w<N>`` to the stem; room kept for up to 1000 workers
WORKER_SUFFIX_MAX = len("w999")
#: characters of a generated stem
GENERATED_STEM = 6


def new_run_id() -> str:
    """Short, DNS-label-safe and distinct per pytest-xdist worker; $MESHPROOF_RUN_ID fixes its stem."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = worker.replace("gw", "w") if worker else ""
    return f"{os.environ.get(RUN_ID_ENV) or secrets.token_hex(GENERATED_STEM // 2)}{suffix}"


def check_run_id_stem(stem: str, namespace_bases: tuple[str, ...]) -> str:
    """$MESHPROOF_RUN_ID as given: an RFC 1123 label short enough for every name made from it.

    Namespaces are ``<base>-<run id>`` (Kubernetes: an RFC 1123 label of at most
    63 characters), the run id is a label value (at most 63) and xdist appends
    ``w<N>``, so the stem gets 63 - len(longest base) - 1 - WORKER_SUFFIX_MAX.
    The reference mesh adds its own bound (unix socket paths, meshproof.local.host).
    Raises ConfigError.
    """
    longest = max(namespace_bases, key=len)
    limit = DNS_LABEL_MAX - len(longest) - 1 - WORKER_SUFFIX_MAX
    check_dns_label(stem, f"${RUN_ID_ENV}", limit=DNS_LABEL_MAX)
    if len(stem) > limit:
        raise ConfigError(f"${RUN_ID_ENV} {stem!r}: at most {limit} characters (has {len(stem)}): namespaces are "
                          f"named like {longest}-<run id>, which Kubernetes limits to {DNS_LABEL_MAX}")
    return stem


@dataclass
class RunInfo:
    run_id: str
    backend: str
    command: str = field(default_factory=lambda: shlex.join(["pytest", *sys.argv[1:]]))
    mesh: MeshInfo | None = None
    kubernetes_version: str = ""
    #: the namespaces the run deploys to, for diagnostics when a check fails
    namespaces: list[str] = field(default_factory=list)
    #: rows of the port coverage table (meshproof.coverage.PortRow.as_dict), for the conformance report
    port_coverage: list[dict] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: self.run_id}


RUN_KEY = pytest.StashKey[RunInfo]()
