"""Linux plumbing of the reference mesh: network namespaces, veths, iptables, processes.

Everything a run creates carries the run's prefix (``mp-<run id>``) so that
``make clean`` can find what a killed run left behind.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import PreflightError

PREFIX = "mp-"
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/var/run/netns")
PROXY_UID = 1337


def require_root() -> None:
    if os.geteuid() != 0:
        raise PreflightError(
            "the reference mesh needs root (network namespaces and iptables): run as root or use --backend kube"
        )
    for tool in ("ip", "iptables-restore", "setpriv", "curl"):
        if shutil.which(tool) is None:
            raise PreflightError(f"the reference mesh needs `{tool}` on PATH: run `make bootstrap` (apt-get install iproute2 iptables util-linux curl)")


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), input=input, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise PreflightError(f"`{' '.join(argv[:6])}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def ip_batch(commands: Iterable[str]) -> None:
    """Many ``ip`` operations in one process: namespace set-up dominates start time otherwise."""
    script = "\n".join(commands) + "\n"
    run(["ip", "-batch", "-"], input=script)


def netns_exec(netns: str, argv: Sequence[str], *, uid: int | None = None) -> list[str]:
    """The command line that runs ``argv`` inside a pod, optionally as the proxy's uid."""
    prefix = ["ip", "netns", "exec", netns, "setpriv", "--pdeathsig", "KILL"]
    if uid is not None:
        prefix += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return prefix + ["--", *argv]


def write_etc(netns: str, name: str, content: str) -> None:
    """Per-namespace /etc files (hosts, resolv.conf) that ``ip netns exec`` bind-mounts."""
    directory = NETNS_ETC / netns
    directory.mkdir(parents=True, exist_ok=True)
    try:
        if (directory / name).read_text() == content:
            return
    except FileNotFoundError:
        pass
    tmp = directory / f".{name}.tmp"
    tmp.write_text(content)
    os.chmod(tmp, 0o644)
    tmp.rename(directory / name)


def delete_netns(netns: str) -> None:
    """Kill whatever still runs inside, then remove the namespace and its /etc files."""
    pids = run(["ip", "netns", "pids", netns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run(["ip", "netns", "delete", netns], check=False)
    shutil.rmtree(NETNS_ETC / netns, ignore_errors=True)


def list_netns(prefix: str = PREFIX) -> list[str]:
    names = run(["ip", "netns", "list"], check=False).stdout.split("\n")
    return [line.split()[0] for line in names if line.startswith(prefix)]


def iptables_restore(netns: str, rules: str) -> None:
    run(["ip", "netns", "exec", netns, "iptables-restore"], input=rules)


def sweep(run_id: str = "") -> list[str]:
    """Remove the namespaces, processes and temp directories a killed run left (every run's by default)."""
    removed = []
    for netns in list_netns(f"{PREFIX}{run_id}"):
        delete_netns(netns)
        removed.append(f"netns {netns}")
    for leftover in NETNS_ETC.glob(f"{PREFIX}{run_id}*") if NETNS_ETC.exists() else ():
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(f"dir {leftover}")
    for leftover in Path(tempfile.gettempdir()).glob(f"meshproof-{run_id}*"):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(f"dir {leftover}")
    return removed
