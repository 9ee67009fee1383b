"""A packet capture in a cluster pod: tcpdump in an ephemeral debug container (feature wire-capture).

What ``kubectl debug -it POD --image=IMAGE --target=APP`` does, through the API:
a strategic-merge PATCH of the pod's ``ephemeralcontainers`` subresource adds a
container that shares the pod's network namespace (every container of a pod
does) and, with ``targetContainerName``, the app's process namespace
(kubernetes.io, "Ephemeral Containers"; KEP-277).  The patch must be a
*strategic* merge, as kubectl's (kubernetes/kubectl pkg/cmd/debug/debug.go:
``Patch(..., types.StrategicMergePatchType, patch, ..., "ephemeralcontainers")``):
ephemeral containers merge by name there, while a JSON merge patch would
replace the list and the API server refuses removing one.

The container runs :func:`script`: tcpdump on the pod's ``eth0`` (the wire
between the sidecars, not the loopback where the server sidecar hands the app
cleartext), non-promiscuous (``-p``, traffic to and from the pod's own
address), so ``NET_RAW`` is the only capability it adds; it runs as root
(capabilities reach no other user).  tcpdump says "listening on" once the
interface is open; :meth:`KubeCapture.stop` sends it SIGTERM through exec,
and the script then prints the pcap in base64 between two marker lines and
exits, so the capture comes out through the container's log.  The log is
read once the container has terminated: no race with the container's end.

Ephemeral containers cannot be removed from a pod (the API refuses it).  The
capture container exits when its capture stops, and at the latest after
:data:`LIFETIME` seconds (``timeout`` around tcpdump) if the run never stops it
(killed, or its connection lost); its files are deleted by the script before it
exits.  What remains is a terminated container's status and log in the pod's
status, until the pod goes: the pod is the run's own and is deleted with the
run's namespace.

Where the cluster forbids it, the capture is :class:`~meshproof.errors.NotSupported`
and the check says which rule: RBAC refusing ``patch pods/ephemeralcontainers``,
PodSecurity admission refusing the added capability (the Pod Security
Standards' ``baseline`` lets a container add only AUDIT_WRITE, CHOWN,
DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID,
SETPCAP, SETUID and SYS_CHROOT, ``restricted`` only NET_BIND_SERVICE), OpenShift's security context constraints,
an API server that does not serve the subresource (Kubernetes before 1.23), or a
runtime that starts the container but denies tcpdump the interface.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any, Callable

from kubernetes.dynamic.exceptions import DynamicApiError

from ..cluster import ExecResult, Pod
from ..errors import InfrastructureError, NotSupported
from ..timeouts import Timeouts
from ..wait import polls
from .client import one_line
from .snapshot import ApiObject
from .waiting import WaitTimeout, wait_until

#: the capture image: nicolaka/netshoot ships tcpdump, a POSIX sh, base64 and timeout; pinned by tag, overridable
#: with --capture-image (a private registry's copy) and rehosted by --image-registry
DEFAULT_IMAGE = "docker.io/nicolaka/netshoot:v0.13"
#: seconds after which tcpdump ends on its own when the run never stops it
LIFETIME = 900
#: the largest pcap printed to the log: the kubelet rotates container logs at 10 MiB by default
#: (containerLogMaxSize), and base64 makes 4 bytes of 3
MAX_PCAP_BYTES = 4 * 1024 * 1024
BEGIN, END = "-----BEGIN MESHPROOF PCAP-----", "-----END MESHPROOF PCAP-----"
#: what tcpdump prints once the interface is open
LISTENING = "listening on"
#: the one capability added: a packet socket (tcpdump -p needs no NET_ADMIN)
CAPABILITIES = ("NET_RAW",)
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
#: container waiting reasons that will not resolve by themselves
_STUCK = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError",
          "CreateContainerConfigError", "RunContainerError")
#: what tcpdump says when the runtime denies it the packet socket
_DENIED = ("Operation not permitted", "You don't have permission")


def workdir(name: str) -> str:
    """The capture's directory inside its container: the pid file and the pcap."""
    return f"/tmp/{name}"


def script(name: str, port: int) -> str:
    """The container's shell program (POSIX sh: busybox ash or dash): capture, then print the pcap and exit."""
    d = workdir(name)
    return "\n".join([
        f'd={d}',
        'mkdir -p "$d" || exit 3',
        f'timeout {LIFETIME} tcpdump -i eth0 -p -n --immediate-mode -U -s 0 -Z root -w "$d/capture.pcap" '
        f'tcp port {int(port)} &',
        'echo $! > "$d/pid"',
        'wait $!',
        'code=$?',
        'echo "meshproof capture: tcpdump exited with $code"',
        'size=$(wc -c < "$d/capture.pcap" 2>/dev/null || echo 0)',
        f'if [ "$size" -gt {MAX_PCAP_BYTES} ]; then',
        f'  echo "meshproof capture: $size bytes, over the {MAX_PCAP_BYTES}-byte limit of a container log"',
        '  rm -rf "$d"; exit 3',
        'fi',
        f'echo "{BEGIN}"',
        'if [ "$size" -gt 0 ]; then base64 "$d/capture.pcap"; fi',
        f'echo "{END}"',
        'rm -rf "$d"',
        'exit "$code"',
    ])


def container(name: str, pod: Pod, port: int, image: str) -> dict[str, Any]:
    """The ephemeral container (core/v1 EphemeralContainer) capturing TCP ``port`` in ``pod``."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "targetContainerName": pod.app_container,
        "command": ["sh", "-c", script(name, port)],
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False,
                            "capabilities": {"add": list(CAPABILITIES)}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def refusal(exc: DynamicApiError, pod: Pod) -> NotSupported | None:
    """Why the cluster forbids the capture container, from the API server's 403; None for any other answer."""
    if exc.status != 403:
        return None
    message, where = one_line(exc), f"namespace {pod.namespace}"
    added = "/".join(CAPABILITIES)
    if "PodSecurity" in message:
        return NotSupported(f"PodSecurity admission of {where} refuses a capture container adding {added}: {message}")
    if "security context constraint" in message:
        return NotSupported(f"OpenShift security context constraints refuse a capture container adding {added} "
                            f"in {where}: {message}")
    if "cannot patch" in message:
        return NotSupported(f"no permission to patch pods/ephemeralcontainers in {where} (manifests/rbac/ grants "
                            f"it): {message}")
    return NotSupported(f"the API server forbids ephemeral containers in {where}: {message}")


def pcap_from_log(log: str, what: str) -> bytes:
    """The pcap between the marker lines of the container's log; InfrastructureError when absent or unreadable."""
    lines = log.splitlines()
    try:
        first, last = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise InfrastructureError(f"{what} printed no capture: {_tail(log)}") from None
    try:
        return base64.b64decode("".join(lines[first + 1:last]), validate=True)
    except (binascii.Error, ValueError):
        raise InfrastructureError(f"{what} printed an unreadable capture") from None


def _tail(text: str, limit: int = 300) -> str:
    return " | ".join(line for line in text.strip().splitlines() if line.strip())[-limit:] or "(empty log)"


def _status(pod: ApiObject, name: str) -> dict:
    found = [s for s in (pod.get("status") or {}).get("ephemeralContainerStatuses") or [] if s.get("name") == name]
    return found[0] if found else {}


class KubeCapture:
    """A running capture in one pod; :meth:`stop` once (later calls return b"")."""

    def __init__(self, *, pods: Any, pod: Pod, port: int, image: str, timeouts: Timeouts,
                 exec: Callable[..., ExecResult], logs: Callable[..., str]) -> None:
        """``pods``: the dynamic client's v1 Pod resource; ``exec`` and ``logs`` as KubeCluster's.

        Waits until tcpdump listens (image pulled, container started): up to ``timeouts.workload_ready``.
        Raises NotSupported when the cluster forbids the container, InfrastructureError when it cannot start.
        """
        self.pods, self.pod, self.timeouts = pods, pod, timeouts
        self._exec, self._logs = exec, logs
        self.name = f"meshproof-capture-{secrets.token_hex(3)}"
        self.what = f"capture container {self.name} in {pod.namespace}/{pod.name} ({image})"
        self._stopped = False
        subresource = pods.subresources.get("ephemeralcontainers")
        if subresource is None:
            raise NotSupported("the API server does not serve pods/ephemeralcontainers (Kubernetes 1.23+)")
        body = {"spec": {"ephemeralContainers": [container(self.name, pod, port, image)]}}
        try:
            subresource.patch(body=body, name=pod.name, namespace=pod.namespace, content_type=STRATEGIC_MERGE)
        except DynamicApiError as exc:
            raise refusal(exc, pod) or InfrastructureError(f"adding {self.what}: {one_line(exc)}") from None
        self._wait_listening()

    def _wait_listening(self) -> None:
        """Running, then tcpdump's "listening on" in the log; a container that ends or is stuck first is an error."""
        within = self.timeouts.workload_ready
        try:
            state = wait_until(self.pods, self._started, timeout=within, what=f"starting {self.what}",
                               namespace=self.pod.namespace, field_selector=f"metadata.name={self.pod.name}")
        except WaitTimeout as exc:
            raise InfrastructureError(str(exc)) from None
        if "running" in state:
            for _ in polls(self.timeouts, within):
                log = self._logs(self.pod, self.name)
                if LISTENING in log:
                    return
                if BEGIN in log or "meshproof capture:" in log:  # tcpdump ended before it listened
                    state = {"terminated": {"exitCode": "?"}}
                    break
            else:
                raise InfrastructureError(f"{self.what}: tcpdump did not listen within {within:g}s: "
                                          f"{_tail(self._logs(self.pod, self.name))}")
        log = self._logs(self.pod, self.name)
        if any(word in log for word in _DENIED):
            raise NotSupported(f"the container runtime denies the capture container the packet socket "
                               f"({'/'.join(CAPABILITIES)}): {_tail(log)}")
        raise InfrastructureError(f"{self.what} ended before it captured: {_tail(log)}")

    def _started(self, objs: list[ApiObject]) -> dict | None:
        if not objs:
            raise InfrastructureError(f"pod {self.pod.namespace}/{self.pod.name} is gone")
        state = _status(objs[0], self.name).get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            raise InfrastructureError(f"{self.what} cannot start: {waiting['reason']}: "
                                      f"{one_line(waiting.get('message', ''))} (set --capture-image?)")
        return state if ("running" in state or "terminated" in state) else None

    def _terminated(self, objs: list[ApiObject]) -> dict | None:
        if not objs:
            raise InfrastructureError(f"pod {self.pod.namespace}/{self.pod.name} is gone")
        return (_status(objs[0], self.name).get("state") or {}).get("terminated")

    def stop(self) -> bytes:
        """SIGTERM to tcpdump, wait for the container to end, and return the pcap its log carries."""
        if self._stopped:
            return b""
        self._stopped = True
        signalled = self._exec(self.pod, self.name, ["sh", "-c", f'kill -TERM "$(cat {workdir(self.name)}/pid)"'],
                               timeout=self.timeouts.request)
        if signalled.exit_code != 0:
            raise InfrastructureError(f"{self.what}: stopping tcpdump failed: {_tail(signalled.stderr)}")
        try:
            ended = wait_until(self.pods, self._terminated, timeout=self.timeouts.delete, what=f"ending {self.what}",
                               namespace=self.pod.namespace, field_selector=f"metadata.name={self.pod.name}")
        except WaitTimeout as exc:
            raise InfrastructureError(str(exc)) from None
        log = self._logs(self.pod, self.name)
        if ended.get("exitCode") != 0:
            raise InfrastructureError(f"{self.what} ended with exit code {ended.get('exitCode')}: {_tail(log)}")
        return pcap_from_log(log, self.what)
