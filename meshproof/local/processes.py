"""Processes of the reference mesh: started as children that die with the run."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InfrastructureError


#: what a child needs on PYTHONPATH to run one of meshproof's own modules or apps
IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 2.0) -> None:
        stop(self.popen, grace)

    def log_text(self, limit: int = 20000) -> str:
        return tail(self.log, limit)

    def fatal_line(self) -> str:
        """Why it died, in its own words: Envoy's first ``[critical]`` line, else the log's last line."""
        lines = [line.strip() for line in self.log_text().splitlines() if line.strip()]
        critical = next((line for line in lines if "[critical]" in line), None)
        return critical or (lines[-1] if lines else "(nothing in its log)")


def stop(popen: subprocess.Popen, grace: float) -> None:
    """TERM, and KILL if it is still running after ``grace`` seconds."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def exit_sentence(name: str, popen: subprocess.Popen) -> str:
    """``reference mesh process 'envoy ...' exited (killed by SIGKILL)``: for machinery faults."""
    code = popen.returncode
    how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
    return f"reference mesh process {name!r} exited ({how})"


def tail(log: Path, limit: int = 20000) -> str:
    """The end of a log, or "" when the process never wrote one."""
    try:
        return log.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return ""


#: the first words of every child's command line: it dies with the thread that started it (util-linux setpriv)
PDEATHSIG = ("setpriv", "--pdeathsig", "KILL", "--")


class Supervisor:
    """Owns every process of a run so that one call stops them all."""

    def __init__(self, tag: dict[str, str] | None = None) -> None:
        self._processes: list[Process] = []
        #: a start and stop_all never interleave: what started before stop_all is stopped by it
        self._lock = threading.Lock()
        self._closed = False
        #: environment added to every process, so leftovers can be traced to their run
        self.tag = dict(tag or {})

    def start(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
        """Start ``argv`` as a child that dies with its parent (:data:`PDEATHSIG`), logging to ``log``.

        No ``preexec_fn``: Python runs it in the forked child of a threaded
        process, where it can deadlock before exec and leave the caller waiting
        forever (subprocess docs, "preexec_fn is not safe to use in the presence
        of threads"); the kubelet stand-in restarts containers from its own thread.
        The child keeps the default signal mask whatever thread starts it.

        Raises InfrastructureError after :meth:`stop_all` (the run is ending).
        """
        full_env = {**(os.environ if env is None else env), **self.tag}
        with self._lock, open(log, "ab") as out:
            if self._closed:
                raise InfrastructureError(f"reference mesh: not starting {name!r}: the run is stopping its processes")
            popen = subprocess.Popen([*PDEATHSIG, *argv], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env)
            process = Process(name, popen, log)
            self._processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        with self._lock:
            if process in self._processes:
                self._processes.remove(process)

    def exited(self, prefixes: tuple[str, ...]) -> list[str]:
        """Processes named with one of ``prefixes`` that ended without being stopped, as sentences."""
        return [exit_sentence(p.name, p.popen) for p in list(self._processes)
                if p.name.startswith(prefixes) and p.popen.poll() is not None]

    def stop_all(self) -> None:
        """Stop every process, and refuse further starts (a thread still starting one fails instead)."""
        with self._lock:
            self._closed = True
            processes, self._processes = list(self._processes), []
        for process in processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in processes:
            process.stop()
