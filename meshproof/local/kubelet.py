"""A kubelet stand-in: runs pods' probes, keeps their verdicts, restarts containers whose liveness or startup fails.

Like a real kubelet it probes from outside the pod (here from the node
namespace ``mp-<run>``, on the bridge), so a STRICT sidecar sees its probes as
any other plaintext client: that is what seed 002 shows breaking.  httpGet
succeeds on a status from 200 to 399, tcpSocket when a connection opens (to a
captured port that is the sidecar, whatever listens behind it), exec when the
command exits 0 inside the container, grpc when the Health/Check of the pod
IP and port answers SERVING (meshproof.local.grpc_health, run by a helper
process in the node namespace).

The kubelet's order (kubernetes/kubernetes pkg/kubelet/prober/worker.go,
doProbe; kubernetes.io "Configure Liveness, Readiness and Startup Probes"):
every probe waits ``initialDelaySeconds`` from the container's start; while a
container has a startup probe that has not yet succeeded, its readiness and
liveness probes do not run and it is not ready; once the startup probe
succeeds it is not run again for that container.  A liveness or startup probe
that reaches its failure threshold has the container restarted
(``restartPolicy: Always``; the crash-loop back-off is not modelled) and its
probes start over once the new container runs.  One thread probes every pod;
it enters the node namespace once and stops on :meth:`stop`.
"""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InfrastructureError
from ..outcome import OK, classify_exception
from .host import netns_exec
from .portforward import enter_netns
from .probes import EXEC, GRPC, LIVENESS, READINESS, STARTUP, TCP_SOCKET, Probe

#: a container whose probes may run: the kubelet starts probing once it runs
Started = Callable[[str], bool]
#: restart a container of the pod (its name given), after its liveness or startup probe failed
Restart = Callable[[str], None]
#: start the kubelet's gRPC prober process; returns its Unix socket once it accepts requests
LaunchGrpcProber = Callable[[], Path]
#: what a gRPC prober request may take beyond the probe's own timeout (the helper's JSON round trip)
GRPC_PROBER_SLACK = 5.0


@dataclass
class ProbeState:
    """One probe's running verdict, with the kubelet's thresholds."""

    probe: Probe
    passing: bool
    due: float | None = None  # monotonic time of the next probe; None until the container started
    streak: int = 0  # consecutive results equal to the last one
    last: str = "not run yet"
    last_ok: bool | None = None

    def record(self, ok: bool, seen: str) -> bool:
        """Count one result; True when it makes the failure threshold (a liveness or startup probe then restarts)."""
        self.streak = self.streak + 1 if ok == self.last_ok else 1
        self.last, self.last_ok = seen, ok
        threshold = self.probe.success_threshold if ok else self.probe.failure_threshold
        if self.streak >= threshold:
            self.passing = ok
        return not ok and self.streak >= threshold

    def start_over(self) -> None:
        """After a restart: liveness passes again until the new container fails it, readiness and startup fail
        until it passes them; probed once it runs."""
        self.passing, self.due, self.streak, self.last_ok = self.probe.kind == LIVENESS, None, 0, None
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
    #: container -> monotonic time the kubelet first saw it running (initialDelaySeconds counts from there)
    started_at: dict[str, float] = field(default_factory=dict)

    def startup_done(self, container: str) -> bool:
        """The container has no startup probe, or it has succeeded."""
        return all(s.passing for s in self.states if s.probe.container == container and s.probe.kind == STARTUP)


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


class GrpcProber:
    """The kubelet's gRPC health client: a helper process in the node namespace, started at the first gRPC probe.

    grpcio's connections run on its own threads, outside the namespace the
    kubelet's thread entered, so the Health/Check is made by
    ``python -m meshproof.local.grpc_health`` started there; ``launch`` starts
    it and returns its socket.  A helper that cannot be started or does not
    answer is the reference mesh's failure: InfrastructureError, which stops
    the kubelet stand-in and is reported as a machinery fault.
    """

    def __init__(self, launch: LaunchGrpcProber | None) -> None:
        self._launch = launch
        self._socket: Path | None = None

    def check(self, ip: str, probe: Probe) -> tuple[bool, str]:
        """One grpc probe of ``ip``: success on SERVING; what was seen as an Outcome's text."""
        if self._socket is None:
            if self._launch is None:
                raise InfrastructureError("the kubelet stand-in has no gRPC prober to run a grpc probe with")
            self._socket = self._launch()
        request = {"host": ip, "port": probe.port, "service": probe.service, "timeout": probe.timeout}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(probe.timeout + GRPC_PROBER_SLACK)
                connection.connect(str(self._socket))
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = json.loads(connection.makefile("rb").readline() or b"null")
        except (OSError, ValueError) as error:
            raise InfrastructureError(f"the kubelet's gRPC prober did not answer: {error}") from None
        if not isinstance(answer, dict):
            raise InfrastructureError("the kubelet's gRPC prober closed the connection without an answer")
        return bool(answer["ok"]), str(answer["outcome"])


class Kubelet:
    def __init__(self, node_netns: str, *, tick: float = 0.05, launch_grpc_prober: LaunchGrpcProber | None = None
                 ) -> None:
        self.node_netns = node_netns
        self.tick = tick
        self.grpc = GrpcProber(launch_grpc_prober)
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
        """Probe ``pod`` from now on; readiness and startup fail until they first pass, liveness passes until it
        fails."""
        states = [ProbeState(p, passing=p.kind == LIVENESS) for p in probes]
        with self._lock:
            self._pods[pod] = _Pod(ip, netns, started, restart, states)

    def forget(self, pod: str) -> None:
        with self._lock:
            self._pods.pop(pod, None)

    def ready(self, pod: str) -> bool:
        """Every startup and readiness probe of ``pod`` passes (a pod without one is ready as far as probes go)."""
        with self._lock:
            watched = self._pods.get(pod)
            return watched is None or all(s.passing for s in watched.states if s.probe.kind in (STARTUP, READINESS))

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
                    ok, seen = self._run_probe(watched, state.probe)
                    with self._lock:
                        tripped = state.record(ok, seen)
                    if tripped and state.probe.kind in (LIVENESS, STARTUP):
                        self._restart(watched, state.probe.container)
        except Exception as exc:  # noqa: BLE001 - reported through describe(), never lost
            self.error = f"{type(exc).__name__}: {exc}"

    def _run_probe(self, watched: _Pod, probe: Probe) -> tuple[bool, str]:
        if probe.action == EXEC:
            return exec_in(watched.netns, probe)
        if probe.action == TCP_SOCKET:
            return tcp_socket(watched.ip, probe)
        if probe.action == GRPC:
            return self.grpc.check(watched.ip, probe)
        return http_get(watched.ip, probe)

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
            watched.started_at.pop(container, None)
            for state in watched.states:
                if state.probe.container == container:
                    state.start_over()

    def _due(self, now: float) -> list[tuple[_Pod, ProbeState]]:
        """The probes to run now: a container's probes once it runs and ``initialDelaySeconds`` after that; its
        readiness and liveness only after its startup probe succeeded, which then runs no more."""
        due = []
        with self._lock:
            for watched in self._pods.values():
                for state in watched.states:
                    container = state.probe.container
                    if container not in watched.started_at:
                        if not watched.started(container):
                            continue
                        watched.started_at[container] = now
                    if state.probe.kind == STARTUP and state.passing:
                        continue
                    if state.probe.kind != STARTUP and not watched.startup_done(container):
                        continue
                    if state.due is None:
                        state.due = watched.started_at[container] + state.probe.initial_delay
                    if state.due <= now:
                        state.due = now + state.probe.period
                        due.append((watched, state))
        return due
