"""Soak: K consecutive full parallel conformance runs, optionally under CPU stress, with flakes and leaks counted.

    .venv/bin/python scripts/soak.py --runs 20
    .venv/bin/python scripts/soak.py --runs 10 --stress        # stress-ng (Debian: apt-get install stress-ng)

Each run is a whole `pytest suites -n WORKERS` on the reference mesh, as `make
conformance` runs it, never retried.  A check that failed is then run once
more on its own, only to tell a flake (failed, then passed) from a real
failure; the run's verdict stays the one it had.  After each run, anything of
it still on the host (network namespaces, tagged processes, /etc/netns
entries, temp directories, owner records) is a leak.

Per run one line: verdict, exit code, wall time, flaky checks, failed checks,
leaks.  Exit code 0 when every run was conformant with no flake and no leak,
1 otherwise, 3 when stress-ng is asked for and missing.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshproof.local import host  # noqa: E402
from meshproof.run import RUN_ID_ENV  # noqa: E402

#: exit codes of a run (README: exit codes) -> verdict
VERDICTS = {0: "conformant", 1: "not conformant", 2: "interrupted", 3: "infrastructure error",
            4: "pytest usage error", 5: "no checks selected"}
#: how long a leak may take to go once the run's process has ended (its children die with it)
LEAK_GRACE = 10.0


@dataclass
class Run:
    number: int
    run_id: str
    exit_code: int = -1
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    leaks: dict[str, list] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return VERDICTS.get(self.exit_code, f"exit {self.exit_code}")

    def line(self, total: int) -> str:
        leaks = "; ".join(f"{kind} {', '.join(map(str, items))}" for kind, items in self.leaks.items()) or "none"
        real = [c for c in self.failed if c not in self.flaky]
        return (f"run {self.number}/{total} {self.run_id}: {self.verdict} (exit {self.exit_code}) in {self.seconds:.1f} s; "
                f"flaky: {', '.join(self.flaky) or 'none'}; failed: {', '.join(real) or 'none'}; leaks: {leaks}")


def failed_checks(junit: Path) -> list[str]:
    """Node ids (file::name) of the checks that failed or errored, from pytest's JUnit XML."""
    if not junit.exists():
        return []
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            module = case.get("classname", "").replace(".", "/")
            found.append(f"{module}.py::{case.get('name')}")
    return found


def pytest_run(run_id: str, directory: Path, args: list[str]) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env[RUN_ID_ENV] = run_id
    started = time.monotonic()
    with open(directory / "output.txt", "w") as output:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--reports-dir={directory / 'reports'}", f"--junitxml={directory / 'junit.xml'}",
                               *args], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    return done.returncode, time.monotonic() - started


def leaks_of(run_id: str) -> dict[str, list]:
    deadline = time.monotonic() + LEAK_GRACE
    while True:
        found = {kind: items for kind, items in host.leftovers(run_id).items() if items}
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def soak_run(number: int, stem: str, workdir: Path, args: argparse.Namespace) -> Run:
    run = Run(number, f"{stem}{number:03d}")  # zero-padded: no run id is a prefix of another
    directory = workdir / run.run_id
    directory.mkdir(parents=True)
    selection = ["suites", "-n", str(args.workers)] + (["-m", args.marker] if args.marker else [])
    run.exit_code, run.seconds = pytest_run(run.run_id, directory, selection)
    run.leaks = leaks_of(run.run_id)
    run.failed = failed_checks(directory / "junit.xml")
    if run.failed:  # only to classify: the run's verdict above is final
        retry = directory / "retry"
        retry.mkdir()
        pytest_run(f"{run.run_id}r", retry, run.failed)
        still = set(failed_checks(retry / "junit.xml"))
        run.flaky = [check for check in run.failed if check not in still and (retry / "junit.xml").exists()]
        run.leaks.update({f"retry {kind}": items for kind, items in leaks_of(f"{run.run_id}r").items()})
    return run


def start_stress(workers: int) -> subprocess.Popen:
    if shutil.which("stress-ng") is None:
        print("soak: --stress needs stress-ng: run `apt-get install stress-ng`", file=sys.stderr)
        raise SystemExit(3)
    return subprocess.Popen(["stress-ng", "--cpu", str(workers), "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="consecutive runs (K)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="pytest-xdist workers per run (default: as make conformance)")
    parser.add_argument("--stress", action="store_true", help="run every check under stress-ng CPU load")
    parser.add_argument("--stress-workers", type=int, default=os.cpu_count() or 1,
                        help="stress-ng --cpu workers (default: one per core)")
    parser.add_argument("-m", "--marker", default="", help="only the checks of this marker (default: all)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "reports" / "soak",
                        help="where each run's evidence and output are kept")
    args = parser.parse_args()
    stem = f"k{secrets.token_hex(2)}"
    stress = start_stress(args.stress_workers) if args.stress else None
    runs: list[Run] = []
    try:
        for number in range(1, args.runs + 1):
            runs.append(soak_run(number, stem, args.workdir / stem, args))
            print(runs[-1].line(args.runs), flush=True)
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait()
    conformant = sum(r.exit_code == 0 for r in runs)
    flakes = sum(len(r.flaky) for r in runs)
    leaks = sum(bool(r.leaks) for r in runs)
    times = sorted(r.seconds for r in runs)
    print(f"soak {stem}: {conformant}/{len(runs)} conformant, {flakes} flaky checks, {leaks} runs with leaks; wall time "
          f"min {times[0]:.1f} s, median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s"
          f"{' under stress-ng' if args.stress else ''}; evidence in {args.workdir / stem}")
    return 0 if conformant == len(runs) and not flakes and not leaks else 1


if __name__ == "__main__":
    sys.exit(main())
