"""Processes of the reference mesh: started as children that die with the run."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 2.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log_text(self, limit: int = 20000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except FileNotFoundError:
            return ""


class Supervisor:
    """Owns every process of a run so that one call stops them all."""

    def __init__(self) -> None:
        self._processes: list[Process] = []

    def start(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
        out = open(log, "ab")
        try:
            popen = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        finally:
            out.close()
        process = Process(name, popen, log)
        self._processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self._processes:
            self._processes.remove(process)

    def stop_all(self) -> None:
        for process in self._processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in list(self._processes):
            process.stop()
        self._processes.clear()
