"""pilot-agent's workload certificate rotation on the reference mesh, and the lifetime a pod asks for.

Istio's agent asks the CA for a certificate of ``SECRET_TTL`` (default 24h; set
per pod through the ``proxy.istio.io/config`` annotation's ``proxyMetadata``,
which become the agent's environment) and renews it once less than
``SECRET_GRACE_PERIOD_RATIO`` (default 0.5) of its lifetime remains
(istio/istio ``pkg/security/security.go`` and ``security/pkg/nodeagent/cache``),
pushing the new one to Envoy over SDS without a restart.  Here one thread plays
every pod's agent: at each pod's renewal time it calls the pod's ``renew``,
which has the mesh CA sign a new certificate and publishes it by SDS.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any, Callable, Mapping

import yaml

from ..errors import ConfigError
from ..posture import PROXY_CONFIG_ANNOTATION, SECRET_TTL, renewal_after
#: how often the agents' thread looks for a due renewal (seconds); lifetimes are tens of seconds at least
CHECK_INTERVAL = 0.1

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> dt.timedelta:
    """A Go duration such as ``30s``, ``1h30m`` or ``24h``; ConfigError for anything else."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"{SECRET_TTL} {text!r} is not a duration such as 30s, 10m or 24h")
    return dt.timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


def secret_ttl(annotations: Mapping[str, Any] | None) -> dt.timedelta | None:
    """The ``SECRET_TTL`` a pod's ``proxy.istio.io/config`` annotation sets, or None; ConfigError when malformed."""
    text = (annotations or {}).get(PROXY_CONFIG_ANNOTATION)
    if not text:
        return None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"annotation {PROXY_CONFIG_ANNOTATION} is not YAML: {exc}".splitlines()[0]) from None
    metadata = (config or {}).get("proxyMetadata") if isinstance(config, dict) else None
    value = (metadata or {}).get(SECRET_TTL) if isinstance(metadata, dict) else None
    if value is None:
        return None
    ttl = go_duration(str(value))
    if ttl <= dt.timedelta(0):
        raise ConfigError(f"{SECRET_TTL} {value!r} must be positive")
    return ttl


def renewal_delay(lifetime: dt.timedelta) -> float:
    """Seconds from issuance until the agent renews a certificate of ``lifetime``."""
    return renewal_after(lifetime).total_seconds()


class Rotation:
    """Every pod agent's renewal schedule: ``lifetime`` is what the certificate has left when scheduled (its TTL);
    ``renew`` callbacks return the same for the new certificate."""

    def __init__(self, check_interval: float) -> None:
        self.check_interval = check_interval
        self._due: dict[str, tuple[float, Callable[[], dt.timedelta]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pilot-agent rotation", daemon=True)
        self._thread.start()

    def schedule(self, pod: str, lifetime: dt.timedelta, renew: Callable[[], dt.timedelta]) -> None:
        with self._lock:
            self._due[pod] = (time.monotonic() + renewal_delay(lifetime), renew)

    def forget(self, pod: str) -> None:
        with self._lock:
            self._due.pop(pod, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval):
            now = time.monotonic()
            with self._lock:
                due = [(pod, renew) for pod, (at, renew) in self._due.items() if at <= now]
            for pod, renew in due:
                try:
                    lifetime = renew()
                except OSError:  # the pod is being removed; its entry goes with it
                    lifetime = None
                with self._lock:
                    # only this renewal's own entry: a pod of the same name (a StatefulSet's web-0 created
                    # again) has an entry of its own by now
                    if self._due.get(pod, (0, None))[1] is renew:
                        if lifetime is None:
                            del self._due[pod]
                        else:
                            self._due[pod] = (time.monotonic() + renewal_delay(lifetime), renew)
