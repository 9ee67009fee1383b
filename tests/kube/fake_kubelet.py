"""Ephemeral containers as the API server admits them and a kubelet runs them, for the capture's tests.

The API side is strict where a real server is: only a strategic-merge patch
(a JSON merge patch would replace the list, and removing an ephemeral container
is forbidden), names unique among all the pod's containers, no ports, probes,
resources or lifecycle on an ephemeral container, existing ones unchanged;
RBAC and PodSecurity admission answer 403 in the API server's words
(k8s.io/pod-security-admission: baseline allows adding only its listed
capabilities, restricted only NET_BIND_SERVICE and no root).

The kubelet side runs the container's real command with the host's ``sh`` and
``tcpdump`` in a network namespace standing for the pod (its ``eth0`` a veth to a
peer namespace), keeps its output as the container log, answers exec in the
container's namespace, and reports the state in ``ephemeralContainerStatuses``.
"""
from __future__ import annotations

import copy
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from meshproof.cluster import ExecResult, Pod
from meshproof.kube.exec_stream import ExecError

from .fake_server import FakeServer, error

STRATEGIC = "application/strategic-merge-patch+json"
#: capabilities PodSecurity "baseline" lets a container add (Pod Security Standards)
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
_NOT_ON_EPHEMERAL = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "resources", "lifecycle")


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


class PodNetwork:
    """A pod's network namespace with ``eth0`` (10.254.x.2) and a peer namespace (10.254.x.1) to send from."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.pod, self.peer = f"mpt-{tag}-pod", f"mpt-{tag}-peer"
        self.pod_ip, self.peer_ip = "10.254.7.2", "10.254.7.1"
        _ip("netns", "add", self.pod)
        _ip("netns", "add", self.peer)
        _ip("link", "add", f"mpt{tag}a", "type", "veth", "peer", "name", f"mpt{tag}b")
        _ip("link", "set", f"mpt{tag}a", "netns", self.pod)
        _ip("link", "set", f"mpt{tag}b", "netns", self.peer)
        _ip("-n", self.pod, "link", "set", f"mpt{tag}a", "name", "eth0")
        for ns, dev, addr in ((self.pod, "eth0", self.pod_ip), (self.peer, f"mpt{tag}b", self.peer_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def run(self, netns: str, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", netns, *argv], **kw)

    def close(self) -> None:
        for ns in (self.pod, self.peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class EphemeralContainers:
    """The ``pods/ephemeralcontainers`` subresource of a :class:`FakeServer`, and the kubelet running what it admits."""

    def __init__(self, server: FakeServer, network: PodNetwork, logs: Path, *, images: set[str],
                 pod_security: str = "privileged", rbac_denied: bool = False, runtime_denies_net_raw: bool = False,
                 busybox: bool = False):
        """``busybox``: the image's shell tools are busybox applets (sh, timeout, base64, ...) as in Alpine-based
        images such as netshoot, tcpdump the host's; otherwise the host's dash and coreutils."""
        self.server, self.network, self.log_dir = server, network, logs
        self.env = None
        if busybox:
            applets = logs / "busybox-bin"
            applets.mkdir()
            for applet in ("sh", "timeout", "base64", "wc", "mkdir", "rm", "cat", "kill", "echo"):
                (applets / applet).symlink_to(shutil.which("busybox"))
            self.env = {**os.environ, "PATH": f"{applets}:{os.environ['PATH']}"}
        self.images, self.pod_security, self.rbac_denied = images, pod_security, rbac_denied
        self.runtime_denies_net_raw = runtime_denies_net_raw
        self.patches: list[tuple[dict, str]] = []
        self.processes: dict[str, subprocess.Popen] = {}
        server.ephemeral_containers = self
        server.on_read.append(self._report)
        server.on_watch.append(self._pace)

    # -- the API server ---------------------------------------------------------
    def patch(self, body=None, name=None, namespace=None, content_type=None, **_):
        self.patches.append((copy.deepcopy(body), content_type))
        if self.rbac_denied:
            raise error(403, f'pods "{name}" is forbidden: User "system:serviceaccount:meshproof-ci:meshproof" '
                             f'cannot patch resource "pods/ephemeralcontainers" in API group "" in the namespace '
                             f'"{namespace}"')
        pod = self.server.find("Pod", namespace, name)
        if pod is None:
            raise error(404, f'pods "{name}" not found')
        existing = pod["spec"].get("ephemeralContainers") or []
        given = body["spec"]["ephemeralContainers"]
        if content_type == STRATEGIC:  # merged by name (patchMergeKey)
            merged = [*existing, *(c for c in given if c["name"] not in {e["name"] for e in existing})]
            changed = [c["name"] for c in given for e in existing if c["name"] == e["name"] and c != e]
        else:  # a JSON merge patch replaces the list
            merged, changed = list(given), [e["name"] for e in existing if e not in given]
        if changed:
            raise error(422, f'Pod "{name}" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral '
                             f'containers "{changed[0]}" may not be changed')
        names = [c["name"] for c in (*pod["spec"].get("initContainers", []), *pod["spec"]["containers"], *merged)]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise error(422, f'Pod "{name}" is invalid: spec.ephemeralContainers[{len(merged) - 1}].name: '
                             f'Duplicate value: "{duplicate}"')
        for index, c in enumerate(merged):
            for field in _NOT_ON_EPHEMERAL:
                if field in c:
                    raise error(422, f'Pod "{name}" is invalid: spec.ephemeralContainers[{index}].{field}: '
                                     f'Forbidden: cannot be set for an Ephemeral Container')
        self._admit_pod_security(name, merged)
        pod = copy.deepcopy(pod)
        pod["spec"]["ephemeralContainers"] = merged
        self.server.objects[("Pod", namespace, name)] = pod
        for c in given:
            self._start(c)
        return pod

    def _admit_pod_security(self, name: str, containers: list[dict]) -> None:
        if self.pod_security == "privileged":
            return
        allowed = BASELINE_CAPABILITIES if self.pod_security == "baseline" else {"NET_BIND_SERVICE"}
        for c in containers:
            context = c.get("securityContext") or {}
            added = [cap for cap in (context.get("capabilities") or {}).get("add", []) if cap not in allowed]
            if not added:
                continue
            quoted = ", ".join(f'"{cap}"' for cap in sorted(added))
            if self.pod_security == "baseline":
                reasons = (f'non-default capabilities (container "{c["name"]}" must not include {quoted} in '
                           f'securityContext.capabilities.add)')
            else:
                reasons = (f'unrestricted capabilities (container "{c["name"]}" must set securityContext.capabilities'
                           f'.drop=["ALL"]; container "{c["name"]}" must not include {quoted} in securityContext.'
                           f'capabilities.add), runAsNonRoot != true (container "{c["name"]}" must not set '
                           f'securityContext.runAsNonRoot=false), runAsUser=0 (container "{c["name"]}" must not set '
                           f'runAsUser=0)')
            raise error(403, f'pods "{name}" is forbidden: violates PodSecurity "{self.pod_security}:latest": '
                             f'{reasons}')

    # -- the kubelet ---------------------------------------------------------------
    def _start(self, container: dict) -> None:
        if container["image"] not in self.images:
            return  # never pulled: the status says ErrImagePull
        argv = list(container["command"])
        if self.runtime_denies_net_raw:
            argv = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", *argv]
        log = (self.log_dir / f"{container['name']}.log").open("wb")
        with log:
            self.processes[container["name"]] = self.network.run(self.network.pod, argv, stdout=log,
                                                                 stderr=subprocess.STDOUT, env=self.env)

    def _report(self, kind: str) -> None:
        if kind != "Pod":
            return
        for key, pod in self.server.objects.items():
            if key[0] != "Pod":
                continue
            statuses = []
            for c in pod["spec"].get("ephemeralContainers") or []:
                process = self.processes.get(c["name"])
                if process is None:
                    state = {"waiting": {"reason": "ErrImagePull", "message": f'pull "{c["image"]}": not found'}}
                elif process.poll() is None:
                    state = {"running": {"startedAt": "2026-11-29T12:00:01Z"}}
                else:
                    state = {"terminated": {"exitCode": process.returncode, "reason": "Completed" if
                                            process.returncode == 0 else "Error"}}
                statuses.append({"name": c["name"], "image": c["image"], "state": state})
            pod.setdefault("status", {})["ephemeralContainerStatuses"] = statuses

    def _pace(self) -> None:
        """A watch returns when something changes: here, when a container's process ends (or 50 ms pass)."""
        for process in self.processes.values():
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                return

    def logs(self, pod: Pod, container: str, **_) -> str:
        path = self.log_dir / f"{container}.log"
        if not path.exists():
            raise ExecError(f'container "{container}" in pod "{pod.name}" is waiting to start')
        return path.read_text(errors="replace")

    def exec(self, pod: Pod, container: str, argv, *, timeout: float, stdin=None) -> ExecResult:
        process = self.processes.get(container)
        if process is None or process.poll() is not None:
            raise ExecError(f"exec in {pod.name}/{container} failed to run: container not found or not running")
        done = subprocess.run(["ip", "netns", "exec", self.network.pod, *argv], capture_output=True, text=True,
                              timeout=timeout, env=self.env)
        return ExecResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
