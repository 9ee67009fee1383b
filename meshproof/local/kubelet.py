"""A kubelet stand-in: runs pods' probes, keeps their verdicts, restarts containers whose liveness fails.

Like a real kubelet it probes from outside the pod (here from the node
namespace ``mp-<run>``, on the bridge), so a STRICT sidecar sees its probes as
any other plaintext client: that is what seed 002 shows breaking.  httpGet
succeeds on a status from 200 to 399, tcpSocket when a connection opens (to a
captured port that is the sidecar, whatever listens behind it), exec when the
command exits 0 inside the container.  A liveness probe that reaches its
failure threshold has the container restarted (``restartPolicy: Always``;
the crash-loop back-off is not modelled) and its probes start over once the
new container runs.  One thread probes every pod; it enters the node
namespace once and stops on :meth:`stop`.
"""
from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..outcome import OK, classify_exception
from .host import netns_exec
from .portforward import enter_netns
from .probes import EXEC, TCP_SOCKET, Probe

#: a container whose probes may run: the kubelet starts probing once it runs
Started = Callable[[str], bool]
#: restart a container of the pod (its name given), after its liveness probe failed
Restart = Callable[[str], None]


@dataclass
class ProbeState:
    """One probe's running verdict, with the kubelet's thresholds."""

    probe: Probe
    passing: bool
    due: float | None = None  # monotonic time of the next probe; None until the container started
    streak: int = 0  # consecutive results equal to the last one
    last: str = "not run yet"
    last_ok: bool | None = None

    def record(self, ok: bool, seen: str) -> None:
        self.streak = self.streak + 1 if ok == self.last_ok else 1
        self.last, self.last_ok = seen, ok
        threshold = self.probe.success_threshold if ok else self.probe.failure_threshold
        if self.streak >= threshold:
            self.passing = ok

    def start_over(self) -> None:
        """After a restart: liveness passes again until the new container fails it, probed once it runs."""
        self.passing, self.due, self.streak, self.last_ok = self.probe.kind == "liveness", None, 0, None
        self.last = f"restarted after {self.last}"

    def __str__(self) -> str:
        verdict = "passing" if self.passing else "failing"
        return f"{self.probe}: {verdict} (last {self.last}, {self.streak} in a row)"


@dataclass
class _Pod:
    ip: str
    netns: str
    started: Started
    restart: Restart
    states: list[ProbeState] = field(default_factory=list)


def http_get(ip: str, probe: Probe) -> tuple[bool, str]:
    """One probe the kubelet's way: success is a status from 200 to 399; anything else is classified."""
    connection = http.client.HTTPConnection(ip, probe.port, timeout=probe.timeout)
    try:
        connection.request("GET", probe.path, headers={"User-Agent": "kube-probe/meshproof"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return False, str(classify_exception(exc))
    finally:
        connection.close()
    return 200 <= status < 400, str(OK(status))


def tcp_socket(ip: str, probe: Probe) -> tuple[bool, str]:
    """Success is an open connection, closed at once."""
    try:
        socket.create_connection((ip, probe.port), timeout=probe.timeout).close()
    except OSError as exc:
        return False, str(classify_exception(exc))
    return True, "connected"


def exec_in(netns: str, probe: Probe) -> tuple[bool, str]:
    """Success is exit code 0 of the command, run in the container's network namespace within the timeout."""
    try:
        done = subprocess.run(netns_exec(netns, probe.command), capture_output=True, text=True, timeout=probe.timeout,
                              cwd="/")
    except subprocess.TimeoutExpired:
        return False, f"timed out after {probe.timeout}s"
    output = (done.stdout + done.stderr).strip()[-200:]
    return done.returncode == 0, f"exit {done.returncode}" + (f": {output}" if output else "")


def run_probe(watched: "_Pod", probe: Probe) -> tuple[bool, str]:
    if probe.action == EXEC:
        return exec_in(watched.netns, probe)
    if probe.action == TCP_SOCKET:
        return tcp_socket(watched.ip, probe)
    return http_get(watched.ip, probe)


class Kubelet:
    def __init__(self, node_netns: str, *, tick: float = 0.05) -> None:
        self.node_netns = node_netns
        self.tick = tick
        self._pods: dict[str, _Pod] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"kubelet {self.node_netns}", daemon=True)
        self._thread.start()

    @property
    def died(self) -> bool:
        """Started, not stopped, and its thread is gone."""
        return self._thread is not None and not self._stopping.is_set() and not self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def watch(self, pod: str, ip: str, netns: str, probes: list[Probe], started: Started, restart: Restart) -> None:
        """Probe ``pod`` from now on; readiness fails until it first passes, liveness passes until it fails."""
        states = [ProbeState(p, passing=p.kind == "liveness") for p in probes]
        with self._lock:
            self._pods[pod] = _Pod(ip, netns, started, restart, states)

    def forget(self, pod: str) -> None:
        with self._lock:
            self._pods.pop(pod, None)

    def ready(self, pod: str) -> bool:
        """Every readiness probe of ``pod`` passes (a pod without one is ready as far as probes go)."""
        with self._lock:
            watched = self._pods.get(pod)
            return watched is None or all(s.passing for s in watched.states if s.probe.kind == "readiness")

    def describe(self, pod: str) -> str:
        with self._lock:
            watched = self._pods.get(pod)
            lines = [str(s) for s in watched.states] if watched else []
        return "\n".join(lines + ([f"kubelet stopped: {self.error}"] if self.error else [])) or "no probes"

    def _run(self) -> None:
        """Probe until stopped; a crash is kept in :attr:`error` so diagnostics say why probes froze."""
        try:
            enter_netns(self.node_netns)
            while not self._stopping.wait(self.tick):
                for watched, state in self._due(time.monotonic()):
                    ok, seen = run_probe(watched, state.probe)
                    with self._lock:
                        state.record(ok, seen)
                        failed = state.probe.kind == "liveness" and not state.passing
                    if failed:
                        self._restart(watched, state.probe.container)
        except Exception as exc:  # noqa: BLE001 - reported through describe(), never lost
            self.error = f"{type(exc).__name__}: {exc}"

    def _restart(self, watched: _Pod, container: str) -> None:
        """Restart ``container`` and start its probes over.

        A restart that fails (a mounted Secret deleted meanwhile) is the container's failure, recorded
        in its probe state: it must not end this thread, whose children are the restarted containers.
        """
        try:
            watched.restart(container)
        except Exception as exc:  # noqa: BLE001 - shown by describe(), as kubectl shows a failed start
            with self._lock:
                for state in watched.states:
                    if state.probe.container == container:
                        state.last = f"restart failed: {type(exc).__name__}: {exc}"
            return
        with self._lock:
            for state in watched.states:
                if state.probe.container == container:
                    state.start_over()

    def _due(self, now: float) -> list[tuple[_Pod, ProbeState]]:
        """The probes to run now; a container's first probe is scheduled once it has started."""
        due = []
        with self._lock:
            for watched in self._pods.values():
                for state in watched.states:
                    if state.due is None and watched.started(state.probe.container):
                        state.due = now + state.probe.initial_delay
                    if state.due is not None and state.due <= now:
                        state.due = now + state.probe.period
                        due.append((watched, state))
        return due
