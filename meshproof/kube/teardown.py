"""Deleting what a ledger holds, newest first and namespaces last, waiting until each is gone.

Shared by the end of a run (:meth:`KubeCluster.close`) and by ``make clean``
(:func:`meshproof.kube.sweep.sweep_all`); one object that cannot be deleted
does not stop the others from being deleted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic.exceptions import DynamicApiError

from ..errors import MeshproofError
from .client import one_line
from .ledger import Ledger
from .resources import by_api_version
from .waiting import delete_and_wait


@dataclass
class Teardown:
    deleted: list[str] = field(default_factory=list)
    #: ``Kind ns/name: why`` for each object still there
    failures: list[str] = field(default_factory=list)


def tear_down(dyn: Any, ledger: Ledger, *, timeout: float) -> Teardown:
    """Delete every object of ``ledger``, giving each deletion ``timeout`` seconds to complete."""
    result = Teardown()
    for ref in ledger.teardown_order():
        try:
            resource = by_api_version(dyn, ref.api_version, ref.kind)
            if delete_and_wait(resource, ref.name, ref.namespace or None, timeout=timeout):
                result.deleted.append(ref.describe())
        except (DynamicApiError, MeshproofError) as exc:
            result.failures.append(f"{ref.describe()}: {one_line(exc)}")
    return result
