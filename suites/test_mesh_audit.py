"""Mesh audit: is every listening port of the user's own workloads refusing plaintext where policy says STRICT?

Opt-in (``-m mesh-audit``; ``--audit-namespaces a,b``, by default every
namespace the injector selects). The audit creates nothing in those namespaces
and changes nothing in their applications: one prober pod without a sidecar,
in a namespace of its own, sends each port that really listens in each pod one
plaintext probe that no application acts on (meshproof.port_probe), at a
bounded rate and with a per-port timeout. For each namespace, workload and port
it records the effective PeerAuthentication mode (Istio's precedence, from the
policies stored in the cluster) and what the prober saw.

Expected: no port where the effective mode is STRICT takes plaintext. Opt-outs
(pods without a sidecar, ports excluded from capture, DISABLE and PERMISSIVE
modes) are listed as exposures, not failures. The table is attached to the
check (HTML and CSV) and written into the conformance report (``port_coverage``).
"""
from __future__ import annotations

import pytest

from meshproof import check, coverage
from meshproof.capabilities import mark

pytestmark = [mark("mesh-audit"), pytest.mark.requires("sidecar", "peer-authentication")]


def test_no_port_where_policy_says_strict_takes_plaintext(audit_namespaces, audit_prober, port_sweeper):
    audited = port_sweeper.sweep(audit_prober, audit_namespaces, f"mesh audit of {', '.join(audit_namespaces)}")
    check.fact("the audit found workloads with listening ports in the namespaces",
               any(row.outcome is not None for row in audited.rows), coverage.as_csv(audited.rows))
    check.fact("no port where the effective PeerAuthentication mode is STRICT takes plaintext",
               not audited.failures, coverage.failure_message(audited) + "\n" + coverage.as_csv(audited.rows))
