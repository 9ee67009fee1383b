"""A packet capture in a reference-mesh pod's network namespace: Debian's tcpdump on the pod's eth0.

Packets go to tcpdump as they arrive (``--immediate-mode``; otherwise the
kernel hands them over in blocks and a capture stopped right after its call
would hold none) and to the file packet by packet (``-U``). tcpdump runs under
the run's supervisor (killed with the run, Ctrl-C
included) and writes into the pod's directory (removed with the pod); the
capture file is read and deleted when the capture stops.
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

from ..errors import MeshproofError
from . import host
from .processes import Supervisor, tail

#: how long tcpdump may take to open the interface and say so
START_TIMEOUT = 10.0
_POLL = 0.05
_numbers = itertools.count(1)


class LocalCapture:
    """TCP to or from ``port`` on the pod's eth0: what leaves and enters the pod, not its loopback."""

    def __init__(self, supervisor: Supervisor, netns: str, directory: Path, port: int) -> None:
        number = next(_numbers)
        self.supervisor = supervisor
        self.file = directory / f"capture-{number}.pcap"
        self.log = directory / f"capture-{number}.log"
        argv = host.netns_exec(netns, ["tcpdump", "-i", "eth0", "-n", "--immediate-mode", "-U", "-s", "0", "-Z", "root",
                                       "-w", str(self.file), "tcp", "port", str(port)])
        self.process = supervisor.start(f"tcpdump {netns} port {port}", argv, self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while "listening on" not in tail(self.log):
            if self.process.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise MeshproofError(f"tcpdump did not start in {netns}: {tail(self.log, 500).strip()}")
            time.sleep(_POLL)

    def stop(self) -> bytes:
        """End the capture; the pcap's bytes (b"" once stopped). Its files are removed."""
        self.supervisor.stop(self.process)
        try:
            return self.file.read_bytes()
        except FileNotFoundError:
            return b""
        finally:
            self.file.unlink(missing_ok=True)
            self.log.unlink(missing_ok=True)
