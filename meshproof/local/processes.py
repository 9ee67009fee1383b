"""Processes of the reference mesh: started as children that die with the run."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


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


_PR_SET_PDEATHSIG = 1


def _child_setup(sigmask: set) -> Callable[[], None]:
    """In the forked child: die with the parent from the first instant, and take Ctrl-C again.

    setpriv's own --pdeathsig comes later (after ``ip netns exec``); a parent killed
    before then would otherwise leave the child behind.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)

    return setup


class Supervisor:
    """Owns every process of a run so that one call stops them all."""

    def __init__(self, tag: dict[str, str] | None = None) -> None:
        self._processes: list[Process] = []
        #: environment added to every process, so leftovers can be traced to their run
        self.tag = dict(tag or {})

    def start(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
        out = open(log, "ab")
        try:
            full_env = {**(os.environ if env is None else env), **self.tag}
            # Ctrl-C is held off until the child is registered, so stop_all() always knows it
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                popen = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=full_env, preexec_fn=_child_setup(previous))
                process = Process(name, popen, log)
                self._processes.append(process)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        finally:
            out.close()
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self._processes:
            self._processes.remove(process)

    def exited(self, prefixes: tuple[str, ...]) -> list[str]:
        """Processes named with one of ``prefixes`` that ended without being stopped, as sentences."""
        return [exit_sentence(p.name, p.popen) for p in self._processes
                if p.name.startswith(prefixes) and p.popen.poll() is not None]

    def stop_all(self) -> None:
        for process in self._processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in list(self._processes):
            process.stop()
        self._processes.clear()
