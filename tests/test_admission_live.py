"""Issue 10 on a running reference mesh: refused objects change nothing, mesh configuration is read, not guessed.

These tests start the reference mesh (the suites' ``cluster`` and
``bookinfo`` fixtures) and prove each behaviour with the legacy client's
traffic to details, as the suites do.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from meshproof import check
from meshproof.errors import ConfigError
from meshproof.meshconfig import MeshConfig, configmap
from meshproof.outcome import OK, RESET
from meshproof.peerauthn import STRICT
from meshproof.policies import peer_authentication


def legacy_to_details(bookinfo, traffic):
    return traffic.curl(bookinfo.legacy_sleep, bookinfo.details.url("/details/1"))


def test_after_a_refused_policy_a_valid_strict_is_enforced(bookinfo, traffic, policies, timeouts):
    """Issue 10.1: a port *name* in portLevelMtls used to be stored and then break every later apply."""
    probe = legacy_to_details(bookinfo, traffic)
    check.becomes("legacy sleep gets details before any policy", probe, OK(200), timeouts)
    bad = peer_authentication(bookinfo.namespace, None, name="by-port-name", selector={"app": "details"})
    bad["spec"]["portLevelMtls"] = {"http": {"mode": STRICT}}
    with pytest.raises(ConfigError, match=r"^PeerAuthentication [^\n]*: spec\.portLevelMtls: [^\n]*$"):
        policies.apply(bad)
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("legacy sleep is reset by the STRICT policy applied after the refused one", probe, RESET, timeouts)


@contextlib.contextmanager
def root_namespace(cluster, namespace: str) -> Iterator[None]:
    """The mesh ConfigMap (``istio`` in istiod's namespace) with ``rootNamespace: namespace``, restored afterwards."""
    installed = cluster.mesh()
    istiod_namespace = installed.root_namespace  # the reference mesh is installed in its initial root namespace
    revision = None if "istio-injection" in installed.injection_labels else next(iter(installed.injection_labels.values()))
    try:
        cluster.apply(configmap(istiod_namespace, revision, MeshConfig(namespace, installed.trust_domain)))
        assert cluster.mesh().root_namespace == namespace
        with pytest.raises(ConfigError, match="trustDomain 'example.org'"):
            cluster.apply(configmap(istiod_namespace, revision, MeshConfig(namespace, "example.org")))
        yield
    finally:
        cluster.apply(configmap(istiod_namespace, revision, MeshConfig(istiod_namespace, installed.trust_domain)))
    assert cluster.mesh() == installed


def test_the_root_namespace_is_read_from_the_mesh_configmap(bookinfo, traffic, policies, cluster, timeouts):
    """istiod reads rootNamespace from the ``mesh`` key of the ``istio`` ConfigMap in its namespace
    (istio/istio pilot/pkg/bootstrap/mesh.go); a selector-less policy there is the mesh-wide one."""
    probe = legacy_to_details(bookinfo, traffic)
    check.becomes("legacy sleep gets details before any policy", probe, OK(200), timeouts)
    policies.apply(peer_authentication(bookinfo.legacy_namespace, STRICT, name="would-be-mesh-wide"))
    check.stays("a selector-less policy outside the root namespace is only its namespace's", probe, OK(200), timeouts)
    with root_namespace(cluster, bookinfo.legacy_namespace):
        check.becomes("with rootNamespace set to its namespace the policy is mesh-wide: legacy sleep is reset",
                      probe, RESET, timeouts)
    check.becomes("with the root namespace restored legacy sleep gets details again", probe, OK(200), timeouts)


def test_a_selector_policy_in_the_root_namespace_is_ignored(bookinfo, traffic, policies, cluster, timeouts):
    """Istio ignores PeerAuthentications with a selector in the root namespace, for every workload
    (istio/istio pilot/pkg/security/authn/policy_applier.go, ComposePeerAuthentication: a workload-level
    policy is "the one with selector and not in root namespace").  With details' namespace as the root
    namespace, a STRICT policy selecting details is ignored; once it is not the root, it is enforced."""
    probe = legacy_to_details(bookinfo, traffic)
    check.becomes("legacy sleep gets details before any policy", probe, OK(200), timeouts)
    with root_namespace(cluster, bookinfo.namespace):
        policies.apply(peer_authentication(bookinfo.namespace, STRICT, name="details", selector={"app": "details"}))
        check.stays("legacy sleep still gets details: a selector policy in the root namespace is ignored",
                    probe, OK(200), timeouts)
    check.becomes("the same policy outside the root namespace resets legacy sleep", probe, RESET, timeouts)
