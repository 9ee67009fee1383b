"""Reading an exec websocket: stdout, stderr, and the exit code from the status channel.

The API server multiplexes a command's streams over one websocket; each frame's
first byte names the channel.  Channel 3 carries one JSON ``Status`` when the
command ends: ``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and an
``ExitCode`` cause.  Any other failure means the command never ran (no such
container, executable not found) and is an error, not an exit code.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

from ..errors import InfrastructureError

STDOUT, STDERR, STATUS = 1, 2, 3


class ExecError(InfrastructureError):
    """The command could not be run or did not finish: there is no exit code to report, and no verdict."""


class FrameSource(Protocol):
    def settimeout(self, timeout: float) -> None: ...
    def recv_data_frame(self, control_frame: bool) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class Streams:
    stdout: str
    stderr: str
    status: str


def read_streams(sock: FrameSource, *, timeout: float, what: str) -> Streams:
    """Collect every channel until the server closes the stream, or fail after ``timeout``."""
    buffers = {STDOUT: bytearray(), STDERR: bytearray(), STATUS: bytearray()}
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ExecError(f"{what} did not finish within {timeout:g}s")
        sock.settimeout(remaining)
        try:
            opcode, frame = sock.recv_data_frame(True)
        except WebSocketTimeoutException:
            raise ExecError(f"{what} did not finish within {timeout:g}s") from None
        except WebSocketConnectionClosedException:
            break
        if opcode == ABNF.OPCODE_CLOSE:
            break
        data = frame.data if isinstance(frame.data, bytes) else frame.data.encode()
        if opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT) and data and data[0] in buffers:
            buffers[data[0]] += data[1:]
    text = {ch: buf.decode("utf-8", "replace") for ch, buf in buffers.items()}
    return Streams(text[STDOUT], text[STDERR], text[STATUS])


def exit_code(status: str, *, what: str) -> int:
    """The command's exit code from the status channel's JSON."""
    if not status.strip():
        raise ExecError(f"{what} ended without an exit status (connection lost?)")
    try:
        doc = json.loads(status)
    except json.JSONDecodeError:
        raise ExecError(f"{what} sent an unreadable exit status: {status.strip()[:200]}") from None
    if doc.get("status") == "Success":
        return 0
    if doc.get("reason") == "NonZeroExitCode":
        for cause in (doc.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
                return int(cause["message"])
    message = " ".join(str(doc.get("message") or doc.get("reason") or status).split())
    raise ExecError(f"{what} failed to run: {message}")
