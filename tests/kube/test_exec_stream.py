"""The exec websocket: channels demultiplexed, exit code read from the status channel."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from websocket import ABNF, WebSocketTimeoutException

from meshproof.kube.exec_stream import ExecError, exit_code, read_streams

WHAT = "exec curl in ns/sleep/sleep"
SUCCESS = {"metadata": {}, "status": "Success"}


def non_zero(code: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": code}]}}


class FakeSocket:
    """Replays websocket frames as the API server sends them: channel byte, then payload."""

    def __init__(self, frames: list[tuple[int, bytes]], *, hang: bool = False) -> None:
        self.frames = list(frames)
        self.hang = hang
        self.timeouts: list[float] = []

    def settimeout(self, timeout: float) -> None:
        self.timeouts.append(timeout)

    def recv_data_frame(self, control_frame: bool):
        if not self.frames:
            if self.hang:
                raise WebSocketTimeoutException("timed out")
            return ABNF.OPCODE_CLOSE, SimpleNamespace(data=b"")
        opcode, data = self.frames.pop(0)
        return opcode, SimpleNamespace(data=data)


def frame(channel: int, payload: bytes | str | dict) -> tuple[int, bytes]:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return ABNF.OPCODE_BINARY, bytes([channel]) + payload


def run(frames, **kw):
    streams = read_streams(FakeSocket(frames, **kw), timeout=kw.pop("timeout", 5), what=WHAT)
    return streams, exit_code(streams.status, what=WHAT)


def test_streams_are_demultiplexed_and_success_is_zero():
    streams, code = run([frame(1, b""), frame(2, b""), frame(1, "HTTP/1.1 200 OK\n"), frame(2, "* Connected\n"),
                         frame(1, "body"), frame(3, SUCCESS)])
    assert (streams.stdout, streams.stderr, code) == ("HTTP/1.1 200 OK\nbody", "* Connected\n", 0)


def test_curl_reset_exit_code_comes_from_the_status_channel():
    streams, code = run([frame(2, "curl: (56) Recv failure: Connection reset by peer\n"), frame(3, non_zero("56"))])
    assert code == 56
    assert "Connection reset by peer" in streams.stderr


def test_status_split_over_two_frames_is_reassembled():
    text = json.dumps(non_zero("35"))
    _, code = run([frame(3, text[:20]), frame(3, text[20:])])
    assert code == 35


def test_v5_close_frames_and_text_frames_are_handled():
    _, code = run([(ABNF.OPCODE_BINARY, bytes([255, 0])), (ABNF.OPCODE_TEXT, b"\x01out"),
                   frame(3, non_zero("7"))])
    assert code == 7


def test_command_that_could_not_start_is_an_error_not_an_exit_code():
    status = {"status": "Failure", "reason": "InternalError",
              "message": 'exec: "curl": executable file not found in $PATH: unknown'}
    with pytest.raises(ExecError, match=r'failed to run: exec: "curl": executable file not found'):
        run([frame(3, status)])


def test_stream_closed_without_status_is_an_error():
    with pytest.raises(ExecError, match="ended without an exit status"):
        run([frame(1, "partial")])


def test_unreadable_status_is_an_error():
    with pytest.raises(ExecError, match="unreadable exit status: not json"):
        run([frame(3, "not json")])


def test_hanging_command_times_out_with_one_line():
    sock = FakeSocket([frame(1, "waiting")], hang=True)
    with pytest.raises(ExecError) as err:
        read_streams(sock, timeout=0.5, what=WHAT)
    assert str(err.value) == f"{WHAT} did not finish within 0.5s"
    assert all(0 < t <= 0.5 for t in sock.timeouts)
