"""Waiting on the API with watches: list once, then react to events until a condition holds.

A watch that ends (server-side timeout, 410 Gone) is followed by a fresh list,
so no event is ever missed and nothing polls on a timer.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, TypeVar

from kubernetes.dynamic.exceptions import NotFoundError

from ..errors import MeshproofError
from .snapshot import ApiObject

T = TypeVar("T")


class WaitTimeout(MeshproofError):
    """A workload or deletion did not reach the expected state in time."""


def wait_until(resource: Any, done: Callable[[list[ApiObject]], T | None], *, timeout: float, what: str,
               describe: Callable[[list[ApiObject]], str] = lambda objs: f"{len(objs)} objects",
               namespace: str | None = None, label_selector: str | None = None,
               field_selector: str | None = None, deadline: float | None = None) -> T:
    """Return ``done``'s first non-None answer; ``deadline`` (monotonic) lets several waits share one ``timeout``."""
    if deadline is None:
        deadline = time.monotonic() + timeout
    query = {"namespace": namespace, "label_selector": label_selector, "field_selector": field_selector}
    while True:
        listing = resource.get(**query).to_dict()
        objects = {_key(o): o for o in listing.get("items") or []}
        result = done(list(objects.values()))
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"{what}: not done after {timeout:g}s ({describe(list(objects.values()))})")
        events = resource.watch(**query, resource_version=listing["metadata"].get("resourceVersion"),
                                timeout=max(1, math.ceil(remaining)))
        for event in events:
            if event["type"] == "ERROR":
                break
            obj = event["raw_object"]
            if event["type"] == "DELETED":
                objects.pop(_key(obj), None)
            else:
                objects[_key(obj)] = obj
            result = done(list(objects.values()))
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                break


def delete_and_wait(resource: Any, name: str, namespace: str | None, *, timeout: float) -> bool:
    """Delete (foreground, so dependents go first) and wait until gone; False when it was absent."""
    try:
        resource.delete(name=name, namespace=namespace, body={"propagationPolicy": "Foreground"})
    except NotFoundError:
        return False
    where = f"{namespace}/{name}" if namespace else name
    wait_until(resource, lambda objs: True if not objs else None, timeout=timeout,
               what=f"deleting {resource.kind} {where}", namespace=namespace,
               field_selector=f"metadata.name={name}")
    return True


def _key(obj: ApiObject) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""
