"""What explains a failure in one namespace: pods, events, logs, Envoy's view, the applied YAML.

Diagnostics run while a test is already failing, so a piece that cannot be
read is reported as text and never raises.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import yaml

from ..cluster import PROXY_CONTAINER, Manifest, Pod
from ..errors import InfrastructureError
from .client import one_line
from .pods import summary
from .snapshot import ApiObject

#: the sidecar's Envoy admin pages attached to a failure
ENVOY_PAGES = ("config_dump", "clusters")
#: a run spends on diagnostics at most this many failures' budgets in total
RUN_BUDGET_FAILURES = 4
#: attachment that says, once, why reads were skipped
SKIPPED = "diagnostics skipped"


class Budget:
    """Seconds left for a run's diagnostics; :meth:`for_failure` takes one failure's share."""

    def __init__(self, run_seconds: float) -> None:
        self.left = run_seconds

    def for_failure(self, seconds: float) -> "FailureBudget":
        return FailureBudget(self, min(seconds, max(0.0, self.left)))


class FailureBudget:
    def __init__(self, run: Budget, seconds: float) -> None:
        self.run, self.seconds = run, seconds

    def read_all(self, reads: Iterable[tuple[str, Callable[[float], str]]], *, reach) -> dict[str, str]:
        """Each ``(name, read(timeout))`` with what is left of the budget; the first unreachable kubelet stops them.

        ``reach`` is the run's :class:`meshproof.kube.reach.Reach`.
        """
        start = time.monotonic()
        deadline = start + self.seconds
        out: dict[str, str] = {}
        skipped: list[str] = []
        try:
            for name, read in reads:
                left = deadline - time.monotonic()
                if reach.cause or left <= 0:
                    skipped.append(name)
                    continue
                try:
                    out[name] = read(left)
                except InfrastructureError:
                    skipped.append(name)  # the path to the kubelet is broken: said once, below
                except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure it explains
                    out[name] = f"unavailable: {one_line(exc)}"
        finally:
            self.run.left -= time.monotonic() - start
        if skipped:
            why = reach.cause or (f"the diagnostics budget ({self.seconds:g}s for this failure, "
                                  f"{self.run.left:.0f}s left for the run) was spent")
            out[SKIPPED] = f"{len(skipped)} reads skipped ({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''}): {why}"
        return out


def describe_pods(pods: list[ApiObject]) -> str:
    return "\n".join(summary(p) for p in pods) or "no pods"


def describe_events(events: list[ApiObject]) -> str:
    def when(e: ApiObject) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or "")

    lines = [f"{when(e)} {e.get('type', '')} {e.get('reason', '')} "
             f"{(e.get('involvedObject') or {}).get('kind', '')}/{(e.get('involvedObject') or {}).get('name', '')}: "
             f"{' '.join(str(e.get('message', '')).split())}" for e in sorted(events, key=when)]
    return "\n".join(lines) or "no events"


def applied_yaml(manifests: list[Manifest]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False) if manifests else "nothing applied"


def safely(read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - a diagnostic must not hide the failure it explains
        return f"unavailable: {one_line(exc)}"


def proxied(pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if PROXY_CONTAINER in p.containers]
