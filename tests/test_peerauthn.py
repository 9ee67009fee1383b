"""Istio's PeerAuthentication precedence, as the reference mesh's control plane computes it."""
from __future__ import annotations

import pytest

from meshproof.peerauthn import DISABLE, PERMISSIVE, STRICT, UNSET, effective_mtls
from meshproof.policies import peer_authentication

ROOT, NS = "istio-system", "bookinfo"
DETAILS = {"app": "details"}


def stamped(policy: dict, order: int) -> dict:
    policy["metadata"]["creationTimestamp"] = f"{order:04d}"
    return policy


def mode_of(*policies: dict, labels=DETAILS) -> str:
    return effective_mtls(policies, root_namespace=ROOT, namespace=NS, labels=labels).mode


def test_no_policy_at_all_is_permissive():
    assert mode_of() == PERMISSIVE


@pytest.mark.parametrize("mesh, namespace, workload, expected", [
    (STRICT, None, None, STRICT),
    (STRICT, PERMISSIVE, None, PERMISSIVE),
    (STRICT, UNSET, None, STRICT),
    (PERMISSIVE, STRICT, None, STRICT),
    (None, STRICT, PERMISSIVE, PERMISSIVE),
    (None, STRICT, UNSET, STRICT),
    (STRICT, UNSET, UNSET, STRICT),
    (None, STRICT, DISABLE, DISABLE),
    (DISABLE, None, STRICT, STRICT),
])
def test_the_most_specific_set_mode_wins(mesh, namespace, workload, expected):
    policies = []
    if mesh:
        policies.append(peer_authentication(ROOT, mesh))
    if namespace:
        policies.append(peer_authentication(NS, namespace))
    if workload:
        policies.append(peer_authentication(NS, workload, name="details", selector=DETAILS))
    assert mode_of(*policies) == expected


def test_a_workload_policy_only_applies_to_the_workloads_it_selects():
    policies = [peer_authentication(NS, STRICT), peer_authentication(NS, PERMISSIVE, name="d", selector=DETAILS)]
    assert mode_of(*policies, labels={"app": "httpbin"}) == STRICT


def test_a_selector_policy_in_another_namespace_does_not_apply():
    assert mode_of(peer_authentication("other", STRICT, name="d", selector=DETAILS)) == PERMISSIVE


def test_the_oldest_of_two_namespace_policies_wins():
    older = stamped(peer_authentication(NS, STRICT, name="b"), 1)
    newer = stamped(peer_authentication(NS, PERMISSIVE, name="a"), 2)
    assert mode_of(newer, older) == STRICT


def test_port_level_modes_override_the_workload_mode_for_that_port_only():
    policy = peer_authentication(NS, STRICT, name="d", selector=DETAILS, port_modes={9080: PERMISSIVE, 9443: UNSET})
    result = effective_mtls([policy], root_namespace=ROOT, namespace=NS, labels=DETAILS)
    assert result.for_port(9080) == PERMISSIVE
    assert result.for_port(9443) == STRICT
    assert result.for_port(15000) == STRICT


def test_port_level_modes_of_a_namespace_policy_are_ignored():
    policy = peer_authentication(NS, STRICT, port_modes={9080: PERMISSIVE})
    assert effective_mtls([policy], root_namespace=ROOT, namespace=NS, labels=DETAILS).for_port(9080) == STRICT


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="MAYBE"):
        mode_of(peer_authentication(NS, "MAYBE"))


def test_the_mesh_outranks_namespace_defect_lets_mesh_wide_strict_win_and_leaves_the_rest():
    """The reference mesh's ``control-plane-mesh-policy-wins`` defect: only the mesh/namespace order flips."""
    def defective(*policies, labels=DETAILS):
        return effective_mtls(policies, root_namespace=ROOT, namespace=NS, labels=labels,
                              mesh_outranks_namespace=True).mode

    mesh, namespace = peer_authentication(ROOT, STRICT), peer_authentication(NS, PERMISSIVE)
    assert defective(mesh, namespace) == STRICT
    assert defective(mesh, peer_authentication(NS, UNSET)) == STRICT
    assert defective(namespace) == PERMISSIVE
    assert defective(mesh, namespace, peer_authentication(NS, DISABLE, name="d", selector=DETAILS)) == DISABLE
