"""Who owns a reference-mesh run: one small record per run, so `make clean` removes only dead runs.

A run writes ``<OWNERS_DIR>/<run id>.json`` before it creates its first network
namespace or directory, and removes it last when it closes.  The record names
the owning process by pid *and* start time (field 22 of ``/proc/<pid>/stat``,
clock ticks since boot), so a pid reused by an unrelated process does not keep
a dead run "alive".  The sweep (:func:`meshproof.local.host.sweep`) reads the
records: a run whose owner still runs is skipped, one whose owner is gone is
removed.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import PreflightError

#: where the records live: tmpfs, root's, outside any checkout so every clone and terminal sees the same runs
OWNERS_DIR = Path("/run/meshproof")
#: in a checkout's default reports directory: the run writing its evidence there (an Owner record)
REPORTS_CLAIM = ".owner.json"
#: a run id as used in names: letters, digits, dots, underscores, dashes
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")


def stat_fields(pid: int) -> list[str]:
    """Fields 3 onwards of ``/proc/<pid>/stat`` (``[0]`` is field 3, the state); OSError when there is no such
    process.  The command name (field 2) is in parentheses and may itself contain spaces or ")"."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot, or None when there is no such process."""
    try:
        return int(stat_fields(pid)[19])
    except OSError:
        return None


@dataclass(frozen=True)
class Owner:
    """The process a run belongs to, and where its files are."""

    run_id: str
    pid: int
    start_time: int
    #: the directory the run's temp directories are created in (``meshproof-<run id>-*``)
    tmp: str
    #: the checkout the run was started from, for the sweep's listing
    checkout: str = ""
    #: proxies the run plans at most at once (:mod:`meshproof.local.limits` sums them over the host)
    proxies: int = 0
    #: the process to stop to end the run as interrupted: the pytest-xdist controller of a worker, else ``pid``
    session: int = 0

    def alive(self) -> bool:
        return start_time(self.pid) == self.start_time

    def describe(self) -> str:
        where = f" in {self.checkout}" if self.checkout else ""
        return f"pid {self.pid}{where}"


def record_path(run_id: str, directory: Path = OWNERS_DIR) -> Path:
    return directory / f"{run_id}.json"


def claim(run_id: str, *, directory: Path = OWNERS_DIR, checkout: str = "", proxies: int = 0) -> Owner:
    """Record this process as the owner of ``run_id``.

    Raises PreflightError when the id is not usable in names or another live
    process already owns a run of that id (two runs would sweep each other).
    """
    if not RUN_ID.match(run_id):
        raise PreflightError(f"run id {run_id!r} is not usable: letters, digits, '.', '_' and '-', at most 41")
    existing = read(record_path(run_id, directory))
    if existing is not None and existing.alive() and existing.pid != os.getpid():
        raise PreflightError(f"run id {run_id} is already used by a live run ({existing.describe()}): "
                             "choose another MESHPROOF_RUN_ID")
    pid = os.getpid()
    session = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else pid
    owner = Owner(run_id, pid, start_time(pid) or 0, tempfile.gettempdir(), checkout, proxies, session)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # readable by anyone: a non-root `make clean` can still say what is alive
    target = record_path(run_id, directory)
    tmp = target.with_name(f".{target.name}.{pid}.tmp")
    tmp.write_text(json.dumps(asdict(owner)))
    tmp.chmod(0o644)
    tmp.rename(target)
    return owner


def release(run_id: str, directory: Path = OWNERS_DIR) -> None:
    """Forget the record (the run removed everything it created)."""
    record_path(run_id, directory).unlink(missing_ok=True)


def read(path: Path) -> Owner | None:
    """One record; None when it is missing or unreadable (an unreadable record owns nothing)."""
    try:
        return Owner(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def recorded(directory: Path = OWNERS_DIR) -> dict[str, Owner]:
    """Every run with a record: run id -> owner."""
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.glob("*.json"):
        owner = read(path)
        if owner is not None and owner.run_id == path.stem:
            found[owner.run_id] = owner
    return found


def planned_proxies(own: Owner, *, workers: int = 1, directory: Path = OWNERS_DIR) -> int:
    """Proxies planned on the host: every live run's, and those of ``own``'s pytest-xdist siblings not recorded yet."""
    live = [o for o in recorded(directory).values() if o.run_id != own.run_id and o.alive()]
    stem = re.sub(r"w\d+$", "", own.run_id)
    siblings = sum(1 for o in live if re.fullmatch(re.escape(stem) + r"w\d+", o.run_id))
    return own.proxies * (1 + max(0, workers - 1 - siblings)) + sum(o.proxies for o in live)


def reports_in_use(reports: Path) -> str | None:
    """Who writes to ``reports`` now: the live owner of a run directory's claim (``runs/<id>/.owner.json``), or None."""
    for claim in reports.glob(f"runs/*/{REPORTS_CLAIM}"):
        holder = read(claim)
        if holder is not None and holder.alive():
            return holder.describe()
    return None
