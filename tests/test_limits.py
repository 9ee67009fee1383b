"""Host limits are the reference mesh's job: worked out from the planned proxies, raised as root, else one line.

The machine's own limits are never lowered here (other runs' Envoys would
abort): the current value is read through :func:`meshproof.local.limits.read_int`,
which these tests replace with the values of a fresh machine.
"""
from __future__ import annotations

import errno
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshproof.errors import PreflightError
from meshproof.local import limits
from meshproof.local.processes import Supervisor
from meshproof.local.host import envoy_binary
from tests.suite_runner import ROOT, child_env

#: a fresh Debian 12 machine: fs.inotify.max_user_instances=128, max_user_watches from memory
FRESH = {limits.INOTIFY_INSTANCES: 128, limits.INOTIFY_WATCHES: 8192}


class FakeSysctl:
    def __init__(self, values: dict[Path, int], *, writable: bool = True) -> None:
        self.values = dict(values)
        self.writable = writable
        self.writes: list[tuple[str, int]] = []

    def read(self, path: Path) -> int:
        return self.values[path]

    def write(self, path: Path, value: int) -> None:
        if not self.writable:
            raise OSError(errno.EROFS, "Read-only file system")
        self.writes.append((limits.sysctl_name(path), value))
        self.values[path] = value


def test_eight_workers_on_a_fresh_machine_need_more_instances_and_root_raises_them_in_one_line():
    sysctl = FakeSysctl(FRESH)
    proxies = 8 * limits.PROXIES_PER_RUN
    said = limits.raise_inotify(proxies, read=sysctl.read, write=sysctl.write)
    needed = proxies * limits.INOTIFY_PER_PROXY
    assert needed > 128
    assert sysctl.writes[0] == ("fs.inotify.max_user_instances", 2 * needed)
    assert said[0] == (f"meshproof: raised fs.inotify.max_user_instances from 128 to {2 * needed} "
                       f"({proxies} proxies of uid 1337 planned on this host need {needed})")
    assert len(said) == len(sysctl.writes)


def test_enough_is_left_alone():
    sysctl = FakeSysctl({limits.INOTIFY_INSTANCES: 8192, limits.INOTIFY_WATCHES: 1 << 20})
    assert limits.raise_inotify(16, read=sysctl.read, write=sysctl.write) == []
    assert sysctl.writes == []


def test_a_limit_that_cannot_be_raised_is_named_with_the_command_that_raises_it():
    sysctl = FakeSysctl(FRESH, writable=False)
    with pytest.raises(PreflightError) as raised:
        limits.raise_inotify(64, read=sysctl.read, write=sysctl.write)
    needed = 64 * limits.INOTIFY_PER_PROXY
    assert str(raised.value) == (f"fs.inotify.max_user_instances is 128, the planned proxies need {needed}, and it "
                                 f"cannot be raised here (Read-only file system): run "
                                 f"`sysctl -w fs.inotify.max_user_instances={2 * needed}` as root")


def test_a_write_the_kernel_ignores_is_not_taken_for_a_raise():
    sysctl = FakeSysctl(FRESH)
    with pytest.raises(PreflightError, match="it stays at 128"):
        limits.raise_inotify(64, read=sysctl.read, write=lambda path, value: None)


def test_too_little_memory_stops_before_any_proxy_starts():
    with pytest.raises(PreflightError, match=r"100 proxies need about \d+ MiB and 100 MiB is available"):
        limits.check_memory(100, available=lambda: 100 << 20)
    limits.check_memory(1, available=lambda: 1 << 40)


#: a child pytest whose fs.inotify.max_user_instances reads 128 (a fresh machine) and is written to a fake,
#: or not at all when the first argument is "read-only"; the machine's own value is never written
FRESH_MACHINE_RUN = """
import errno, sys
import pytest
from meshproof.local import limits
real, fake = limits.read_int, {limits.INOTIFY_INSTANCES: 128}
def read(path):
    return fake.get(path) or real(path)
def write(path, value):
    if sys.argv[1] == "read-only" or path != limits.INOTIFY_INSTANCES:
        raise OSError(errno.EROFS, "Read-only file system")
    fake[path] = value
limits.read_int, limits.write_int = read, write
sys.exit(pytest.main(sys.argv[2:]))
"""


def fresh_machine_run(mode: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", FRESH_MACHINE_RUN, mode, *args], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=120)


def test_make_conformance_n8_on_a_fresh_machine_raises_the_limit_in_one_line(tmp_path):
    # the limits are settled before collection (a --collect-only run changes nothing); -k selects no check
    done = fresh_machine_run("writable", "suites", "-n", "8", "-k", "no_such_check", "-q", "-p", "no:cacheprovider",
                             f"--reports-dir={tmp_path / 'reports'}")
    output = done.stdout + done.stderr
    assert done.returncode == 5, output
    lines = [line for line in output.splitlines() if "max_user_instances" in line]
    assert len(lines) == 1, output
    said = re.fullmatch(r"meshproof: raised fs\.inotify\.max_user_instances from 128 to (\d+) "
                        r"\((\d+) proxies of uid 1337 planned on this host need (\d+)\)", lines[0])
    assert said, lines[0]
    target, proxies, needed = map(int, said.groups())
    # the session's 8 workers, plus the proxies of runs alive on the host at the time
    assert proxies >= 8 * limits.PROXIES_PER_RUN and needed == proxies * limits.INOTIFY_PER_PROXY
    assert target == 2 * needed


def test_make_conformance_n8_under_a_cap_the_mesh_cannot_raise_stops_with_one_line(tmp_path):
    """The default limit of a fresh machine behind a read-only /proc/sys (a container): exit 3, the limit named."""
    done = fresh_machine_run("read-only", "suites", "-n", "8", "-q", "-p", "no:cacheprovider",
                             f"--reports-dir={tmp_path / 'reports'}")
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    lines = [line for line in output.splitlines() if "max_user_instances" in line]
    assert len(lines) == 1 and "sysctl -w fs.inotify.max_user_instances=" in lines[0], output
    assert "Traceback" not in output


def test_a_proxy_that_dies_shows_its_own_fatal_line(tmp_path):
    """Envoy's [critical] line, not the tail of its backtrace, is what the user sees."""
    bootstrap = tmp_path / "bootstrap.json"
    bootstrap.write_text('{"static_resources": {"listeners": [{"name": 7}]}}')
    supervisor = Supervisor()
    process = supervisor.start("envoy broken", [envoy_binary(), "-c", str(bootstrap), "--disable-hot-restart"],
                               tmp_path / "envoy.log")
    try:
        deadline = time.monotonic() + 30
        while process.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process.alive()
        line = process.fatal_line()
        assert "[critical]" in line and "Unable to parse JSON as proto" in line, process.log_text()
    finally:
        supervisor.stop_all()
