"""Every wait of the suite, in one place, with documented defaults.

Each field can be overridden on the command line as ``--timeout-<name>=SECONDS``
(underscores become hyphens); the values in force are printed at start.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Timeouts:
    #: how long a policy change may take to be enforced by every proxy
    policy: float = 30.0
    #: how long a Deployment may take until its pods are ready
    workload_ready: float = 90.0
    #: how long a single client request may take (curl --max-time, requests timeout)
    request: float = 5.0
    #: pause between two attempts of a poll
    poll_interval: float = 0.05
    #: consecutive confirmations an ``eventually`` needs before it believes an outcome
    confirmations: int = 3
    #: window during which a ``consistently`` check must keep seeing its outcome
    consistently_window: float = 1.0
    #: how long deleting an object and seeing it gone may take
    delete: float = 60.0
    #: how long reading the diagnostics of one failure (logs, Envoy config_dump through exec) may take in all;
    #: a run spends at most four times this (meshproof.kube.diagnostics)
    diagnostics: float = 30.0
    #: how long a run waits for another run (or xdist worker) to release the cluster's shared state
    #: (mesh-wide policies, Secrets in the gateway's namespace); see meshproof.kube.lease
    shared_state: float = 900.0

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def overridden(self, **values: float | None) -> "Timeouts":
        given = {k: type(getattr(self, k))(v) for k, v in values.items() if v is not None}
        return replace(self, **given)

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


DEFAULT = Timeouts()
