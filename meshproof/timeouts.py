"""Every wait of the suite, in one place, with documented defaults and bounds.

Each field can be overridden on the command line as ``--timeout-<name>=SECONDS``
(underscores become hyphens); the values in force are printed at start.  A
``Timeouts`` is checked when it is made: every value must be finite and inside
its bounds (``BOUNDS``), ``confirmations`` a whole number of at least 1, and a
poll must fit inside the waits it paces.  A value outside raises
:class:`~meshproof.errors.ConfigError` with one line naming the option.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from .errors import ConfigError


@dataclass(frozen=True)
class Timeouts:
    #: how long a policy change may take to be enforced by every proxy
    policy: float = 30.0
    #: how long a Deployment may take until its pods are ready
    workload_ready: float = 90.0
    #: how long a single client request may take (curl --max-time, requests timeout)
    request: float = 5.0
    #: how long one plaintext probe of a listening port may take: the connection, then the reply or close that
    #: follows (meshproof.port_probe); a connection still open at the end counts as plaintext taken
    port_probe: float = 1.0
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
    #: how long one TLS scan of a gateway server (sslyze: some hundreds of handshakes) may take
    tls_scan: float = 180.0

    def __post_init__(self) -> None:
        for f in fields(self):
            low, high = BOUNDS[f.name]
            value = getattr(self, f.name)
            option = option_name(f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{option} {value!r}: expected a finite number")
            if f.type in (int, "int") and value != int(value):
                raise ConfigError(f"{option} {value!r}: expected a whole number")
            if not low <= value <= high or value == 0:
                raise ConfigError(f"{option} {value!r}: expected {_range_text(f.name)}")
        for paced in ("policy", "consistently_window", "workload_ready"):
            if self.poll_interval >= getattr(self, paced):
                raise ConfigError(f"{option_name('poll_interval')} {self.poll_interval!r} must be shorter than "
                                  f"{option_name(paced)} {getattr(self, paced)!r}: a wait would poll once at most")

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def overridden(self, **values: float | None) -> "Timeouts":
        """A copy with the given fields replaced (None keeps the default); checked like any ``Timeouts``."""
        given = {k: v for k, v in values.items() if v is not None}
        if "confirmations" in given and float(given["confirmations"]).is_integer():
            given["confirmations"] = int(given["confirmations"])
        return replace(self, **given)

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


#: (lowest, highest) accepted value of each field; seconds except ``confirmations``.  Zero is never
#: accepted: a zero wait or a zero-confirmation ``eventually`` believes the first outcome it sees.
BOUNDS: dict[str, tuple[float, float]] = {
    "policy": (0, 3600),
    "workload_ready": (0, 3600),
    "request": (0, 600),
    "port_probe": (0, 60),
    "poll_interval": (0.001, 60),
    "confirmations": (1, 100),
    "consistently_window": (0, 3600),
    "delete": (0, 3600),
    "diagnostics": (0, 3600),
    "shared_state": (0, 86400),
    "tls_scan": (0, 3600),
}


def option_name(field: str) -> str:
    """The command-line option of a field: ``poll_interval`` -> ``--timeout-poll-interval``."""
    return f"--timeout-{field.replace('_', '-')}"


def _range_text(field: str) -> str:
    low, high = BOUNDS[field]
    if field == "confirmations":
        return f"a whole number from {low} to {high}"
    return f"seconds, more than {low:g} and at most {high:g}" if low == 0 else f"seconds from {low:g} to {high:g}"


#: how long a wait goes on before the terminal says what it waits for (seconds; fixtures/reporting.py)
PROGRESS_AFTER_ENV = "MESHPROOF_PROGRESS_AFTER"
PROGRESS_AFTER_DEFAULT = 2.0


def progress_after(environ: os._Environ | dict[str, str] = os.environ, *, strict: bool = True) -> float:
    """Seconds from $MESHPROOF_PROGRESS_AFTER (default 2.0): finite and >= 0, else a ConfigError.

    ``strict=False`` returns the default instead of raising, for readers at import time; the
    options plugin checks the value strictly at configure time and ends the run with one line.
    """
    text = environ.get(PROGRESS_AFTER_ENV, "")
    if not text:
        return PROGRESS_AFTER_DEFAULT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and 0 <= value <= 3600:
        return value
    if strict:
        raise ConfigError(f"{PROGRESS_AFTER_ENV}={text!r}: expected seconds from 0 to 3600")
    return PROGRESS_AFTER_DEFAULT


DEFAULT = Timeouts()
