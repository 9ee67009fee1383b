"""Coordination through the cluster: Leases (``coordination.k8s.io/v1``) as run markers and as a mutex.

A local file lock cannot see another machine's run; a Lease in the cluster can.
Two uses:

- every run holds ``meshproof-run-<run id>`` for as long as it lives, renewed
  every third of its duration; ``make clean`` treats a run whose Lease is gone or
  expired as dead, and only then removes its objects;
- the cluster's shared state (policies in the mesh root namespace, Secrets in
  the gateway's namespace) is guarded by one Lease, ``meshproof-shared-state``
  in the root namespace: one run (or xdist worker) at a time changes it.

A Lease is taken by ``create`` (409 when held) or, when its holder let it
expire, by ``replace`` with the ``resourceVersion`` read (409 when another run
took it first): the API server's optimistic concurrency is the mutex, as in
client-go's leaderelection package.  Waiting is a watch on the one Lease.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError

from ..errors import InfrastructureError
from ..run import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from .client import one_line
from .resources import by_api_version, items
from .ownership import mark_created
from .snapshot import ApiObject
from .waiting import WaitTimeout, wait_until

API_VERSION = "coordination.k8s.io/v1"
SHARED_STATE = "meshproof-shared-state"
RUN_PREFIX = "meshproof-run-"
#: seconds a Lease stays valid without renewal (a killed run frees the shared state after this)
DURATION = 30


def run_lease_name(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _micro_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def expired(lease: ApiObject, now: datetime | None = None) -> bool:
    """No holder, or its last renewal is older than its duration."""
    spec = lease.get("spec") or {}
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not spec.get("holderIdentity") or not renewed:
        return True
    return _parse(str(renewed)) + timedelta(seconds=int(spec.get("leaseDurationSeconds") or DURATION)) < (now or _now())


def holder(lease: ApiObject) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


class Lease:
    """One Lease held by ``identity``; :meth:`acquire` waits for it, :meth:`release` frees it."""

    def __init__(self, dyn: Any, namespace: str, name: str, identity: str, labels: Mapping[str, str],
                 *, duration: int = DURATION) -> None:
        self.dyn, self.namespace, self.name, self.identity = dyn, namespace, name, identity
        self.labels, self.duration = dict(labels), duration
        self._version: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._version is not None

    def _resource(self) -> Any:
        return by_api_version(self.dyn, API_VERSION, "Lease")

    def _body(self, version: str | None = None) -> dict:
        now = _micro_time(_now())
        meta: dict = {"name": self.name, "namespace": self.namespace, "labels": self.labels}
        if version:
            meta["resourceVersion"] = version
        body = {"apiVersion": API_VERSION, "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                         "acquireTime": now, "renewTime": now}}
        mark_created(body)
        return body

    def try_acquire(self) -> ApiObject | None:
        """Take the Lease if free or expired; None when taken, else the Lease as another run holds it."""
        resource = self._resource()
        try:
            self._version = resource.create(body=self._body(), namespace=self.namespace).to_dict()["metadata"]["resourceVersion"]
            return None
        except ConflictError:
            pass
        try:
            current = resource.get(name=self.name, namespace=self.namespace).to_dict()
        except NotFoundError:
            return self.try_acquire()
        if holder(current) != self.identity and not expired(current):
            return current
        try:
            body = self._body(current["metadata"]["resourceVersion"])
            self._version = resource.replace(body=body, namespace=self.namespace).to_dict()["metadata"]["resourceVersion"]
            return None
        except ConflictError:  # another run took it between our read and our write
            return resource.get(name=self.name, namespace=self.namespace).to_dict()

    def acquire(self, *, timeout: float) -> None:
        """Hold the Lease, waiting (a watch) while another live run holds it; InfrastructureError after ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                other = self.try_acquire()
                if other is None:
                    self._start_renewing()
                    return
                if time.monotonic() >= deadline:
                    raise InfrastructureError(
                        f"Lease {self.namespace}/{self.name} is still held by {holder(other)} after {timeout:g}s "
                        "(another meshproof run is using the cluster's shared state)")
                # wake when it is released or changes hands, or when its holder's renewal runs out
                until_expiry = max(1.0, self.duration)
                try:
                    wait_until(self._resource(), lambda objs: True if not objs or holder(objs[0]) != holder(other)
                               or expired(objs[0]) else None,
                               timeout=min(until_expiry, max(0.0, deadline - time.monotonic())) or 1.0,
                               what=f"Lease {self.name} released", namespace=self.namespace,
                               field_selector=f"metadata.name={self.name}")
                except WaitTimeout:
                    pass  # look again: its holder may have stopped renewing
        except DynamicApiError as exc:
            raise InfrastructureError(f"cannot take Lease {self.namespace}/{self.name}: {one_line(exc)}") from None

    def renew(self) -> None:
        with self._lock:
            if self._version is None:
                return
            try:
                body = self._body(self._version)
                self._version = self._resource().replace(body=body, namespace=self.namespace).to_dict()["metadata"]["resourceVersion"]
            except DynamicApiError:
                pass  # the next renewal tries again; a lost Lease shows as a conflict at release

    def release(self) -> None:
        """Delete the Lease if this holder still holds that version of it."""
        self._stop.set()
        with self._lock:
            version, self._version = self._version, None
            if version is None:
                return
            try:
                self._resource().delete(name=self.name, namespace=self.namespace,
                                        body={"preconditions": {"resourceVersion": version}})
            except (NotFoundError, ConflictError):
                pass  # expired and taken over, or gone: nothing of ours is left

    def _start_renewing(self) -> None:
        self._stop = threading.Event()
        stop = self._stop

        def renew_until_stopped() -> None:
            while not stop.wait(self.duration / 3):
                self.renew()

        self._renewer = threading.Thread(target=renew_until_stopped, daemon=True, name=f"lease {self.name}")
        self._renewer.start()


def live_runs(dyn: Any, namespace: str | None = None) -> set[str]:
    """Run ids whose run Lease (in ``namespace``, default any) is held and fresh."""
    return {(l.get("metadata") or {}).get("name", "")[len(RUN_PREFIX):]
            for l in items(dyn, API_VERSION, "Lease", namespace=namespace,
                           label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
            if (l.get("metadata") or {}).get("name", "").startswith(RUN_PREFIX) and not expired(l)}
