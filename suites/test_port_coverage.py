"""Every port of every workload: a live sweep of the mesh namespace under STRICT.

Seed 004 proves STRICT on the one port a Service names (details:9080). A pod can
listen on more: ports no Service and no containerPort declares, TCP ports, ports
its owner excluded from the sidecar's capture. Istio's inbound capture takes
*every* port unless told otherwise (istio-iptables ``-b '*'``; istio.io
"Sidecar traffic annotations": ``includeInboundPorts`` defaults to ``*``), so on
a healthy mesh an undeclared port is refused like a declared one. The procedure:

1. make the mesh namespace STRICT and see it in force (the legacy TCP client is closed at tcp-echo);
2. for every pod of the namespace, read the ports listening in its own network namespace;
3. from a client without a sidecar (the legacy ``tcp-client``), send each port one plaintext probe at the pod IP.

Expected: every port is refused (closed before any reply), except the documented
exceptions, listed with their reason: the sidecar's own ports (not probed), the
port ``port-sweep`` excluded with ``traffic.sidecar.istio.io/excludeInboundPorts``
(plaintext reaches the app: an exposure), and the pod that opted out of injection
(an exposure on every port). The excluded port stays excluded for ``port-sweep``
alone: ``port-sweep-peer`` runs the same program without the annotation and refuses it.
"""
from __future__ import annotations

import pytest

from meshproof import check, coverage
from meshproof.capabilities import mark
from meshproof.outcome import ACCEPTED, RESET
from meshproof.peerauthn import STRICT
from meshproof.policies import peer_authentication

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication")]


def test_every_listening_port_of_the_scene_refuses_plaintext_under_strict_but_the_documented_exceptions(
        bookinfo, port_scene, tcp_scene, tcp, traffic, policies, port_sweeper, timeouts):
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force (the legacy TCP client is closed before any reply)",
                  tcp.line(tcp_scene.legacy_client, tcp_scene.echo), RESET, timeouts)

    swept = port_sweeper.sweep(traffic.pod(tcp_scene.legacy_client), [bookinfo.namespace],
                               "port coverage of the mesh namespace under STRICT")
    table = coverage.as_csv(swept.rows)
    ports = {row.port: row for row in swept.of(port_scene.namespace, port_scene.ports.app)}
    peer = {row.port: row for row in swept.of(port_scene.namespace, port_scene.peer.app)}
    uninjected = swept.of(port_scene.namespace, port_scene.uninjected.app)

    check.fact("the sweep read port-sweep's three listening ports from its network namespace, the undeclared "
               "one included", {9100, 9101, 9102} <= set(ports) and {9100, 9101, 9102} <= set(peer), table)
    check.fact("no port that policy makes STRICT takes plaintext", not swept.failures,
               coverage.failure_message(swept) + "\n" + table)
    check.fact("port-sweep's declared and undeclared ports, and every port of port-sweep-peer, are refused",
               all(row.verdict == coverage.REFUSED_VERDICT and RESET.matches(row.outcome)
                   for row in (ports[9100], ports[9101], peer[9100], peer[9101], peer[9102])), table)
    check.fact("port-sweep's excluded port is listed as an exposure, and plaintext does reach the app there",
               ports[9102].verdict == coverage.EXPOSURE and ports[9102].outcome is not None
               and ACCEPTED.kind == ports[9102].outcome.kind, table)
    check.fact("the pod that opted out of injection is listed, every port an exposure that takes plaintext",
               bool(uninjected) and all(row.verdict == coverage.EXPOSURE and row.outcome is not None
                                        and row.outcome.kind == ACCEPTED.kind for row in uninjected), table)
