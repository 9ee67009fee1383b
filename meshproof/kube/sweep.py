"""Removing what earlier runs left behind (Ctrl-C, a killed CI job), found by label and creation stamp.

An object is removed only when it carries the suite's labels *and* the
creation stamp of the same run (meshproof.kube.ownership), and that run is
the one named or is dead: its run Lease is gone or expired
(meshproof.kube.lease).  A user's object that merely carries the labels, and
every object of a run still going, are left alone.  Objects a dead run saved
(``--allow-mesh-wide-changes``) are created again from their saved copies.
"""
from __future__ import annotations

from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError

from ..errors import MeshproofError
from ..run import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS
from .lease import API_VERSION as LEASE_API, live_runs
from .ledger import Ledger
from .ownership import SAVED_LABEL, created_by_meshproof, restore_one, run_of, saved_copies
from .teardown import tear_down

#: every kind a run may create, the kube backend's own objects included
SWEPT_KINDS = (
    ("v1", "Namespace"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("security.istio.io/v1", "PeerAuthentication"), ("security.istio.io/v1", "AuthorizationPolicy"),
    ("networking.istio.io/v1", "Gateway"), ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"), ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "Sidecar"), ("maistra.io/v1", "ServiceMeshMember"), (LEASE_API, "Lease"),
)


def leftovers(dyn: Any, *, run_id: str | None = None, live: set[str] | None = None) -> Ledger:
    """What meshproof created for ``run_id`` (default: for every dead run), in a ledger to tear down like a run's.

    ``live``: the runs still alive, when the caller already listed them (:func:`meshproof.kube.lease.live_runs`).
    """
    if live is None:
        live = set() if run_id else live_runs(dyn)
    found = Ledger()
    for api_version, kind in SWEPT_KINDS:
        try:
            resource = dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue  # kind not served here (no OSSM, older Istio): nothing of it to sweep
        listing = resource.get(label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}").to_dict()
        for item in listing.get("items") or []:
            run = run_of(item)
            if not created_by_meshproof(item) or (run != run_id if run_id else run in live):
                continue
            if SAVED_LABEL in ((item.get("metadata") or {}).get("labels") or {}):
                continue  # a saved copy goes once its object is restored (below)
            found.record({"apiVersion": api_version, "kind": kind,
                          "metadata": {"name": item["metadata"]["name"],
                                       "namespace": item["metadata"].get("namespace", "")}})
    return found


def sweep_all(dyn: Any, *, run_id: str | None = None, timeout: float = DEFAULT_TIMEOUTS.delete,
              live: set[str] | None = None) -> list[str]:
    """Delete the leftovers, then restore what those runs saved; returns what was done, raises naming the first failure.

    ``live``: as for :func:`leftovers`; listed here when not given.
    """
    if live is None:
        live = set() if run_id else live_runs(dyn)
    result = tear_down(dyn, leftovers(dyn, run_id=run_id, live=live), timeout=timeout)
    for holder, original in saved_copies(dyn):
        run = run_of(holder)
        if (run != run_id) if run_id else (run in live):
            continue
        failure = restore_one(dyn, original, (holder["metadata"]["namespace"], holder["metadata"]["name"]))
        if failure:
            result.failures.append(failure)
        else:
            result.deleted.append(f"restored {original['kind']} {original['metadata'].get('namespace', '')}/"
                                  f"{original['metadata']['name']} from its saved copy")
    if result.failures:
        raise MeshproofError(f"{len(result.failures)} leftovers could not be removed or restored "
                             f"({result.failures[0]}); {len(result.deleted)} were")
    return result.deleted
