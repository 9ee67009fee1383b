"""Speed of the reference mesh and of the strict-mtls run, measured (not asserted).

    make bench            # or: .venv/bin/python scripts/benchmark.py --runs 5

Figures: mesh bring-up (network + CA + the bookinfo scene ready), how long a
STRICT PeerAuthentication takes to be enforced on a running sidecar, and the
wall time of a whole `pytest -m strict-mtls` run.  Written to reports/benchmark.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshproof import manifests  # noqa: E402
from meshproof.local.backend import LocalCluster  # noqa: E402
from meshproof.outcome import RESET  # noqa: E402
from meshproof.peerauthn import STRICT  # noqa: E402
from meshproof.policies import peer_authentication  # noqa: E402
from meshproof.probe import curl_in_pod  # noqa: E402
from meshproof.run import new_run_id  # noqa: E402

SCENE = ("bookinfo/details.yaml", "bookinfo/productpage.yaml", "workloads/httpbin.yaml", "workloads/sleep.yaml")


def bring_up() -> tuple[LocalCluster, float, dict]:
    started = time.monotonic()
    mesh = LocalCluster(f"b{new_run_id()}").start()
    mesh.apply(manifests.namespace("bookinfo", {"istio-injection": "enabled"}))
    mesh.apply(manifests.namespace("legacy", {}))
    for relative in SCENE:
        mesh.apply_all(manifests.placed(manifests.load(relative), "bookinfo", {}))
    mesh.apply_all(manifests.placed(manifests.load("workloads/sleep.yaml"), "legacy", {}))
    pods = {app: mesh.wait_ready("bookinfo", {"app": app}, timeout=30)[0] for app in ("details", "productpage", "httpbin", "sleep")}
    pods["legacy"] = mesh.wait_ready("legacy", {"app": "sleep"}, timeout=30)[0]
    return mesh, time.monotonic() - started, pods


def strict_enforcement(mesh: LocalCluster, legacy) -> float:
    """From the apply call to the first reset seen by a plaintext client."""
    url = "http://details.bookinfo.svc.cluster.local:9080/details/1"
    applied = time.monotonic()
    mesh.apply(peer_authentication("bookinfo", STRICT))
    while not RESET.matches(curl_in_pod(mesh, legacy, url, timeout=2).outcome):
        if time.monotonic() - applied > 30:
            raise RuntimeError("STRICT was not enforced within 30 s")
    elapsed = time.monotonic() - applied
    mesh.delete("PeerAuthentication", "default", "bookinfo", timeout=10)
    return elapsed


def suite_run() -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "suites", "-m", "strict-mtls", "-q", "-p", "no:cacheprovider",
                           f"--reports-dir={ROOT / 'reports' / 'benchmark-run'}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"strict-mtls run failed:\n{done.stdout[-2000:]}")
    return time.monotonic() - started


def describe(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3),
            "runs": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bring_ups, enforcements, suites = [], [], []
    for _ in range(args.runs):
        mesh, seconds, pods = bring_up()
        try:
            bring_ups.append(seconds)
            enforcements.append(strict_enforcement(mesh, pods["legacy"]))
        finally:
            mesh.close()
    for _ in range(args.runs):
        suites.append(suite_run())
    figures = {
        "mesh bring-up with the bookinfo scene ready (s)": describe(bring_ups),
        "STRICT enforced after apply, seen by a plaintext client (s)": describe(enforcements),
        "whole `pytest -m strict-mtls` run (s)": describe(suites),
    }
    out = ROOT / "reports" / "benchmark.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    for name, figure in figures.items():
        print(f"{name:62} median {figure['median']:7.3f}  min {figure['min']:7.3f}  max {figure['max']:7.3f}")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
