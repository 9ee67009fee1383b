"""Speed of the conformance run and scale of the reference mesh, measured (not asserted).

    make bench                                   # or: .venv/bin/python scripts/benchmark.py
    .venv/bin/python scripts/benchmark.py --sizes 10,50 --namespaces 5 --skip-suites

Suites (one invocation, so the ratios compare runs under the same load): the
whole run serial, the whole run with the default workers of `make conformance`,
and `-m strict-mtls` with those workers; each figure with its ratio to the
serial run.  Scale: for N sidecars across M namespaces (the scene generator),
the bring-up time, the memory per sidecar (proportional set size of its Envoy
and pilot-agent), the CPU per sidecar (seconds its Envoy and pilot-agent used
until the scene was ready: it grows with N because every sidecar loads a
cluster and an outbound filter chain per Service port of the mesh, as Istio's
do without a Sidecar resource), the push a namespace STRICT PeerAuthentication causes (how
many sidecars it rewrites, how long the control plane takes) and the
enforcement latency (apply -> first RESET seen by a plaintext client).
Port sweep (``--sweep-sizes``): N generated workloads, each listening on three
ports (Istio's tcp-echo-server on 9100, 9101 and 9102, only 9100 declared) in
STRICT namespaces, swept by :func:`meshproof.coverage.sweep` from a prober
without a sidecar; the wall time of the sweep alone, per size, and its growth.
Written to reports/benchmark.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshproof import coverage, manifests, owners  # noqa: E402
from meshproof.local.backend import LocalCluster  # noqa: E402
from meshproof.outcome import RESET  # noqa: E402
from meshproof.peerauthn import STRICT  # noqa: E402
from meshproof.policies import peer_authentication  # noqa: E402
from meshproof.probe import curl_in_pod  # noqa: E402
from meshproof.run import new_run_id  # noqa: E402

#: what `make conformance` runs with by default (the Makefile's WORKERS)
DEFAULT_WORKERS = 2 * (os.cpu_count() or 1)
ENFORCEMENT_TIMEOUT = 30.0
READY_TIMEOUT = 300.0


# ---------------------------------------------------------------- suites

def suite_run(name: str, *args: str) -> float:
    """Wall time of one conformance run in a child pytest; a failing run is no figure."""
    reports = ROOT / "reports" / f"benchmark-{name}"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                           f"--reports-dir={reports}", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark: the {name} run failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return time.monotonic() - started


def suites(workers: int) -> dict:
    serial = suite_run("serial", "-p", "no:xdist")
    parallel = suite_run("parallel", "-n", str(workers))
    strict = suite_run("strict-mtls", "-n", str(workers), "-m", "strict-mtls")
    return {"workers": workers, "serial_s": round(serial, 1), "parallel_s": round(parallel, 1),
            "strict_mtls_parallel_s": round(strict, 1), "parallel_to_serial": round(parallel / serial, 3),
            "strict_mtls_to_serial": round(strict / serial, 3)}


# ---------------------------------------------------------------- scale

def workload(name: str, namespace: str) -> list[dict]:
    """One generated workload: the sleep sample renamed (Deployment, Service, ServiceAccount), in ``namespace``."""
    made = []
    for manifest in manifests.load("workloads/sleep.yaml"):
        manifest = copy.deepcopy(manifest)
        manifest["metadata"]["name"] = name
        manifest["metadata"]["namespace"] = namespace
        spec = manifest.get("spec") or {}
        if manifest["kind"] == "Service":
            spec["selector"] = {"app": name}
        if manifest["kind"] == "Deployment":
            spec["selector"]["matchLabels"] = {"app": name}
            template = spec["template"]
            template["metadata"]["labels"] = {"app": name}
            template["spec"]["serviceAccountName"] = name
        made.append(manifest)
    return made


def scene(sidecars: int, namespaces: int) -> list[tuple[str, list[dict]]]:
    """N workloads across M injected namespaces (round robin), as (namespace, objects) pairs.

    The first workload of each namespace is httpbin (a server for the enforcement probe), the others
    the sleep sample renamed; each has its Service, so every sidecar gets every other as a destination.
    """
    placed: list[tuple[str, list[dict]]] = []
    for index in range(sidecars):
        namespace = f"scale-{index % namespaces}"
        if index < namespaces:
            placed.append((namespace, manifests.placed(manifests.load("workloads/httpbin.yaml"), namespace, {})))
        else:
            placed.append((namespace, workload(f"w{index}", namespace)))
    return placed


def pss(pid: int) -> int:
    """Proportional set size of a process in bytes (its share of pages shared with other proxies)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    fields = owners.stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scale(sidecars: int, namespaces: int) -> dict:
    namespaces = min(namespaces, sidecars)
    mesh = LocalCluster(f"s{new_run_id()}", proxies=sidecars + 2)
    try:
        started = time.monotonic()
        mesh.start()
        for index in range(namespaces):
            mesh.apply(manifests.namespace(f"scale-{index}", {"istio-injection": "enabled"}))
        mesh.apply(manifests.namespace("legacy", {}))
        mesh.apply_all(manifests.placed(manifests.load("workloads/sleep.yaml"), "legacy", {}))
        # the whole scene at once, as `kubectl apply -f scene/` would send it
        mesh.apply_all([manifest for _, objects in scene(sidecars, namespaces) for manifest in objects])
        for local in list(mesh.pods.values()):
            mesh.wait_ready(local.view.namespace, dict(local.view.labels), timeout=READY_TIMEOUT)
        bring_up = time.monotonic() - started
        proxies = [p for local in mesh.pods.values() if local.sidecar for p in (local.sidecar.process, local.sidecar.agent)]
        memory = sum(pss(p.popen.pid) for p in proxies if p is not None and p.alive()) / sidecars
        # the Envoy's and the agent's own CPU, not their `ip netns exec` wrappers': exec replaced those
        cpu = sum(cpu_seconds(p.popen.pid) for p in proxies if p is not None and p.alive()) / sidecars
        legacy = mesh.wait_ready("legacy", {"app": "sleep"}, timeout=READY_TIMEOUT)[0]
        url = "http://httpbin.scale-0.svc.cluster.local:8080/get"
        applied = time.monotonic()
        mesh.apply(peer_authentication("scale-0", STRICT))
        pushed = time.monotonic() - applied
        rewritten, total = mesh.last_push
        while not RESET.matches(curl_in_pod(mesh, legacy, url, timeout=2).outcome):
            if time.monotonic() - applied > ENFORCEMENT_TIMEOUT:
                raise SystemExit(f"benchmark: STRICT was not enforced within {ENFORCEMENT_TIMEOUT} s at N={sidecars}")
        enforced = time.monotonic() - applied
    finally:
        mesh.close()
    return {"sidecars": sidecars, "namespaces": namespaces, "bring_up_s": round(bring_up, 2),
            "pss_per_sidecar_mib": round(memory / (1 << 20), 1), "cpu_per_sidecar_s": round(cpu, 3), "push_ms": round(pushed * 1000, 1),
            "push_rewrote": rewritten, "push_sidecars": total, "enforced_ms": round(enforced * 1000, 1)}


SWEEP_PORTS = "9100,9101,9102"


def listener(name: str, namespace: str) -> list[dict]:
    """One generated workload listening on three ports: the port sweep's tcp-echo, renamed, its Service on 9100."""
    made = []
    for manifest in manifests.load("workloads/port-sweep.yaml")[:2]:  # port-sweep's Service and Deployment
        manifest = copy.deepcopy(manifest)
        manifest["metadata"].update(name=name, namespace=namespace, labels={"app": name})
        spec = manifest["spec"]
        if manifest["kind"] == "Service":
            spec["selector"] = {"app": name}
        else:
            spec["selector"]["matchLabels"] = {"app": name}
            spec["template"]["metadata"] = {"labels": {"app": name}}  # no exclusion: all three ports captured
            spec["template"]["spec"]["containers"][0]["args"] = [SWEEP_PORTS, "hello"]
        made.append(manifest)
    return made


def sweep_scale(workloads: int, namespaces: int, window: float, confirm: float) -> dict:
    """Bring up ``workloads`` three-port workloads in STRICT namespaces and time one sweep of them."""
    namespaces = min(namespaces, workloads)
    mesh = LocalCluster(f"p{new_run_id()}", proxies=workloads + 2)
    try:
        mesh.start()
        names = [f"sweep-{index}" for index in range(namespaces)]
        for name in names:
            mesh.apply(manifests.namespace(name, {"istio-injection": "enabled"}))
            mesh.apply(peer_authentication(name, STRICT))
        mesh.apply(manifests.namespace("prober", {}))
        mesh.apply_all(manifests.placed(manifests.load("workloads/tcp-client.yaml"), "prober", {}))
        mesh.apply_all([m for index in range(workloads) for m in listener(f"l{index}", names[index % namespaces])])
        for local in list(mesh.pods.values()):
            mesh.wait_ready(local.view.namespace, dict(local.view.labels), timeout=READY_TIMEOUT)
        prober = mesh.wait_ready("prober", {"app": "tcp-client"}, timeout=READY_TIMEOUT)[0]
        started = time.monotonic()
        swept = coverage.sweep(mesh, prober, names, root_namespace="istio-system", window=window,
                               confirm_window=confirm)
        elapsed = time.monotonic() - started
    finally:
        mesh.close()
    probed = [row for row in swept.rows if row.outcome is not None]
    verdicts = {v: sum(1 for row in swept.rows if row.verdict == v) for v in coverage.VERDICTS}
    if swept.failures or len(probed) != 3 * workloads:
        raise SystemExit(f"benchmark: the sweep of {workloads} workloads is wrong: {verdicts}, {len(probed)} probed")
    return {"workloads": workloads, "namespaces": namespaces, "ports_probed": len(probed), "rows": len(swept.rows),
            "sweep_s": round(elapsed, 2), "per_workload_ms": round(elapsed / workloads * 1000, 1),
            "verdicts": verdicts}


def growth(rows: list[dict], key: str, size: str = "sidecars") -> str:
    """How a figure grows from the smallest to the largest N: the exponent k of N**k between them."""
    if len(rows) < 2 or rows[0][key] <= 0:
        return "n/a"
    import math

    k = math.log(rows[-1][key] / rows[0][key]) / math.log(rows[-1][size] / rows[0][size])
    return f"N^{k:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,50,100,200", help="sidecar counts of the scale table")
    parser.add_argument("--namespaces", type=int, default=10, help="namespaces the sidecars are spread across")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--skip-suites", action="store_true", help="only the scale table")
    parser.add_argument("--skip-scale", action="store_true", help="only the suite runs")
    parser.add_argument("--sweep-sizes", default="", help="workload counts of the port sweep table (e.g. 10,25,50)")
    parser.add_argument("--sweep-namespaces", type=int, default=5, help="namespaces the swept workloads are spread across")
    args = parser.parse_args()
    figures: dict = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    if not args.skip_suites:
        figures["suites"] = runs = suites(args.workers)
        print(f"whole run serial {runs['serial_s']} s; -n {args.workers}: {runs['parallel_s']} s "
              f"(ratio {runs['parallel_to_serial']}); -m strict-mtls -n {args.workers}: {runs['strict_mtls_parallel_s']} s "
              f"(ratio {runs['strict_mtls_to_serial']})")
    if not args.skip_scale:
        rows = []
        print(f"{'sidecars':>8} {'ns':>4} {'bring-up s':>10} {'PSS/sidecar MiB':>15} {'CPU/sidecar s':>13} {'push ms':>8} "
              f"{'rewrote':>9} {'enforced ms':>11}")
        for size in (int(s) for s in args.sizes.split(",")):
            row = scale(size, args.namespaces)
            rows.append(row)
            print(f"{row['sidecars']:>8} {row['namespaces']:>4} {row['bring_up_s']:>10} {row['pss_per_sidecar_mib']:>15} "
                  f"{row['cpu_per_sidecar_s']:>13} "
                  f"{row['push_ms']:>8} {row['push_rewrote']:>4}/{row['push_sidecars']:<4} {row['enforced_ms']:>11}",
                  flush=True)
        figures["scale"] = rows
        figures["growth"] = {key: growth(rows, key) for key in ("bring_up_s", "pss_per_sidecar_mib",
                                                                 "cpu_per_sidecar_s", "push_ms",
                                                                 "enforced_ms")}
        print("growth from the smallest to the largest N: "
              + ", ".join(f"{key} {value}" for key, value in figures["growth"].items()))
    if args.sweep_sizes:
        from meshproof.timeouts import DEFAULT

        rows = []
        print(f"{'workloads':>9} {'ns':>4} {'ports':>6} {'sweep s':>8} {'ms/workload':>11}")
        for size in (int(s) for s in args.sweep_sizes.split(",")):
            row = sweep_scale(size, args.sweep_namespaces, DEFAULT.port_probe, DEFAULT.request)
            rows.append(row)
            print(f"{row['workloads']:>9} {row['namespaces']:>4} {row['ports_probed']:>6} {row['sweep_s']:>8} "
                  f"{row['per_workload_ms']:>11}", flush=True)
        figures["port_sweep"] = rows
        figures["port_sweep_growth"] = growth(rows, "sweep_s", "workloads")
        print(f"port sweep growth from the smallest to the largest N: {figures['port_sweep_growth']}")
    figures["load_average_at_end"] = os.getloadavg()
    out = ROOT / "reports" / "benchmark.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(f"written: {out} (load average {figures['load_average_at_start'][0]:.1f} at start, "
          f"{figures['load_average_at_end'][0]:.1f} at end on {figures['cores']} cores)")


if __name__ == "__main__":
    main()
