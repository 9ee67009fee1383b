"""The port coverage sweep's parts, without a mesh: sockets from /proc/net/tcp, the probe's classifier, the
plan of each port (mode, exception, exposure), the reference mesh's capture rules and admission, the table."""
from __future__ import annotations

import pytest

from meshproof import coverage
from meshproof.cluster import PROXY_CONTAINER, Pod
from meshproof.errors import ConfigError
from meshproof.local.sidecar import capture_rules
from meshproof.local.workloads import validate_workload
from meshproof.outcome import ACCEPTED_KIND, ANSWERED, HELD_OPEN, REFUSED, RESET, TIMEOUT, classify_port_probe
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.policies import peer_authentication
from meshproof.ports import EXCLUDE_INBOUND_PORTS, ListeningSocket, excluded_inbound_ports, parse_proc_net_tcp
from meshproof.report import port_coverage_section

#: rows as the kernel prints them (trailing columns cut): LISTEN is state 0A, ESTABLISHED 01
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:238C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:3A98 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1337        0 2 1
   2: 0A000005:238C 0A000009:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:238D 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 00000000000000000000000001000000:3AB4 00000000000000000000000000000000:0000 0A 00000000:00000000
   2: 0000000000000000FFFF00000100007F:238E 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


def test_listening_sockets_are_read_from_both_tables_and_established_ones_left_out():
    assert parse_proc_net_tcp(PROC_NET_TCP + PROC_NET_TCP6) == [
        ListeningSocket(9100, "0.0.0.0"), ListeningSocket(9101, "::"), ListeningSocket(9102, "127.0.0.1"),
        ListeningSocket(15000, "127.0.0.1"), ListeningSocket(15028, "::1")]


def test_a_table_of_something_else_is_refused():
    with pytest.raises(ValueError, match="not a /proc/net/tcp row"):
        parse_proc_net_tcp("Inter-|   Receive\n face |bytes\n")


def test_loopback_sockets_are_not_reachable_at_the_pod_ip():
    assert [s.loopback_only for s in parse_proc_net_tcp(PROC_NET_TCP + PROC_NET_TCP6)] == [
        False, False, True, True, True]


def test_exclude_inbound_ports_lists_ports_and_refuses_anything_else():
    assert excluded_inbound_ports({EXCLUDE_INBOUND_PORTS: "9102, 9103,"}) == {9102, 9103}
    assert excluded_inbound_ports({}) == frozenset()
    for bad in ("http", "70000", "0", "*"):
        with pytest.raises(ConfigError, match="is not a port"):
            excluded_inbound_ports({EXCLUDE_INBOUND_PORTS: bad})


@pytest.mark.parametrize(("seen", "outcome"), [
    ("answered", ACCEPTED_KIND), ("open", ACCEPTED_KIND), ("reset", RESET.kind), ("closed", RESET.kind),
    ("refused", REFUSED.kind), ("timeout", TIMEOUT.kind), ("error", "CLIENT_ERROR")])
def test_the_prober_record_is_classified_once(seen, outcome):
    assert classify_port_probe(seen, "x").kind == outcome


def test_accepted_says_whether_the_server_answered_or_held_the_connection():
    assert classify_port_probe("answered").reason == ANSWERED
    assert classify_port_probe("open").reason == HELD_OPEN


def _pod(*, sidecar: bool = True, annotations: dict | None = None, labels: dict | None = None) -> Pod:
    containers = ("app", PROXY_CONTAINER) if sidecar else ("app",)
    return Pod("shop", "cart-1", labels or {"app": "cart"}, containers, "10.0.0.5", "cart", annotations or {})


SOCKETS = [ListeningSocket(p, "0.0.0.0") for p in (8080, 9101, 9102, 15020, 15021)] + [ListeningSocket(15000, "127.0.0.1")]


def test_each_port_gets_its_mode_and_exceptions_and_exposures_their_reason():
    policies = [{**peer_authentication("shop", STRICT), "metadata": {"name": "default", "namespace": "shop"}},
                peer_authentication("shop", None, name="cart", selector={"app": "cart"}, port_modes={9101: PERMISSIVE})]
    plans = {p.port: p for p in coverage.plan_pod(_pod(annotations={EXCLUDE_INBOUND_PORTS: "9102"}), SOCKETS, policies,
                                                  "istio-system")}
    assert (plans[8080].mode, plans[8080].verdict, plans[8080].probe) == (STRICT, "", True)
    assert (plans[9101].verdict, plans[9101].mode) == (coverage.EXPOSURE, PERMISSIVE)
    assert plans[9102].verdict == coverage.EXPOSURE and "excludeInboundPorts" in plans[9102].reason
    assert all(plans[p].verdict == coverage.EXCEPTION and not plans[p].probe for p in (15000, 15020, 15021))
    assert "loopback" in plans[15000].reason and "own port" in plans[15021].reason


def test_a_pod_without_sidecar_is_an_exposure_on_every_reachable_port_whatever_the_policy():
    plans = coverage.plan_pod(_pod(sidecar=False), SOCKETS[:2], [peer_authentication("shop", STRICT)], "istio-system")
    assert [(p.mode, p.verdict, p.probe) for p in plans] == [(coverage.NO_SIDECAR, coverage.EXPOSURE, True)] * 2


def test_gateway_proxies_are_exceptions():
    plans = coverage.plan_pod(_pod(labels={"istio": "ingressgateway"}), SOCKETS[:1], [], "istio-system")
    assert plans[0].verdict == coverage.EXCEPTION and not plans[0].probe


def test_capture_takes_every_port_but_the_status_port_and_the_excluded_ones():
    rules = capture_rules({9102}).splitlines()
    redirect_all = rules.index("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
    assert rules.index("-A ISTIO_INBOUND -p tcp --dport 9102 -j RETURN") < redirect_all
    assert not any("--dport 9101" in rule for rule in rules)


def test_capture_of_listed_ports_redirects_those_alone():
    rules = capture_rules({9102}, only={9100, 9102}).splitlines()
    assert [r for r in rules if r.startswith("-A ISTIO_INBOUND")] == [
        "-A ISTIO_INBOUND -p tcp --dport 9100 -j ISTIO_IN_REDIRECT"]


def _deployment(annotations: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "cart"}}, "template": {
                "metadata": {"labels": {"app": "cart"}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "docker.io/istio/tcp-echo-server:1.3"}]}}}}


def test_the_reference_mesh_refuses_capture_annotations_it_does_not_model_and_malformed_exclusions():
    validate_workload(_deployment({EXCLUDE_INBOUND_PORTS: "9102"}))
    with pytest.raises(ConfigError, match="includeInboundPorts: the reference mesh models only"):
        validate_workload(_deployment({"traffic.sidecar.istio.io/includeInboundPorts": "9100"}))
    with pytest.raises(ConfigError, match="Deployment shop/cart: annotation .*'nine' is not a port"):
        validate_workload(_deployment({EXCLUDE_INBOUND_PORTS: "nine"}))


ROW = coverage.PortRow("shop", "cart", "cart-1", 9101, "undeclared", STRICT, "ACCEPTED(answered)",
                       coverage.ACCEPTED_VERDICT, "the policy says STRICT and plaintext got through", "evidence shop/cart-1",
                       classify_port_probe("answered"))


def test_the_report_section_has_the_columns_a_count_per_verdict_and_the_rows():
    section = port_coverage_section([ROW.as_dict(), {**ROW.as_dict(), "port": 9100, "verdict": coverage.REFUSED_VERDICT}])
    assert section["columns"] == list(coverage.COLUMNS) and "outcome" not in section["columns"]
    assert section["verdicts"] == {coverage.ACCEPTED_VERDICT: 1, coverage.REFUSED_VERDICT: 1}
    with pytest.raises(ValueError, match="columns"):
        port_coverage_section([{"namespace": "shop"}])


def test_the_csv_html_and_text_tables_hold_every_column_and_escape_what_they_show():
    assert coverage.as_csv([ROW]).splitlines()[0] == ",".join(coverage.COLUMNS)
    page = coverage.as_html([ROW], "audit of <shop>")
    assert "audit of &lt;shop&gt;" in page and "<script" not in page and "1 plaintext accepted" in page
    text = coverage.as_text([ROW], "audit of shop").splitlines()
    assert text[:2] == ["audit of shop", "1 plaintext accepted"]
    assert text[3].split() == list(coverage.COLUMNS) and text[4].split()[:4] == [
        ROW.namespace, ROW.workload, ROW.pod, str(ROW.port)]


def test_the_rows_of_xdist_workers_are_joined_in_one_table():
    from meshproof.report import RunFacts

    first, second = RunFacts(port_coverage=[ROW.as_dict()]), RunFacts(port_coverage=[{**ROW.as_dict(), "port": 1}])
    assert [row["port"] for row in first.merge(second).port_coverage] == [9101, 1]
