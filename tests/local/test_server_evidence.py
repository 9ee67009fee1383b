"""A reading of what a server's sidecar accepted (``inbound_connections``) includes every call that ended
before it, with no wait (meshproof.local.sidecar.Envoy.flush_access_logs).

The checks take a reading right after a client saw its answer, then wait on
"nothing more was accepted" (suites/test_destination_rule.py). Envoy writes
access-log lines from a flush thread; a reading that missed a finished call
would count it later, as if the server had accepted something after the
reading, and a healthy mesh would fail such a check.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Iterator

import pytest

from meshproof.evidence import grown
from meshproof.manifests import load, namespace, placed
from meshproof.outcome import OK
from meshproof.probe import curl_in_pod
from meshproof.run import new_run_id
from meshproof.timeouts import Timeouts
from meshproof.wait import eventually

TIMEOUTS = Timeouts()
MESH = "mesh"
CALLS = 15


@pytest.fixture(scope="module")
def mesh() -> Iterator[Any]:
    from meshproof.local.backend import LocalCluster

    local = LocalCluster(f"se{new_run_id()}").start()
    try:
        local.apply_all([namespace(MESH, {"istio-injection": "enabled"}),
                         *placed(load("workloads/httpbin.yaml"), MESH, {}),
                         *placed(load("workloads/sleep.yaml"), MESH, {})])
        yield local
    finally:
        local.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
def test_a_reading_taken_as_soon_as_the_client_has_its_answer_already_counts_the_call(mesh):
    server = mesh.wait_ready(MESH, {"app": "httpbin"}, timeout=TIMEOUTS.workload_ready)[0]
    client = mesh.wait_ready(MESH, {"app": "sleep"}, timeout=TIMEOUTS.workload_ready)[0]
    url = f"http://httpbin.{MESH}.svc.cluster.local:8080/headers"
    call = functools.partial(curl_in_pod, mesh, client, url, timeout=TIMEOUTS.request)
    # ready pods are not yet a working path (the app may still be binding its port): poll, then count
    assert eventually("the echo answers the client", call, OK(200), TIMEOUTS).held
    missed = []
    for n in range(CALLS):
        before = mesh.inbound_connections(server)
        result = call()
        assert result.outcome == OK(200), result.output
        counted = sum(series.count for series in grown(before, mesh.inbound_connections(server), "http"))
        if counted != 1:
            missed.append(f"call {n}: the reading right after it counted {counted} new requests")
    assert not missed, "\n".join(missed)
