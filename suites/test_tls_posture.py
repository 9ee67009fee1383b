"""Identity and crypto posture: the certificates every workload of the run holds, as an auditor asks for them.

Each workload's certificate is read from its proxy's own SDS state (Envoy's
``/config_dump?resource=dynamic_active_secrets``, private keys redacted by
Envoy), never from files, and compared with Istio's identity scheme and the
run's TLS policy (``--tls-policy``, ``--max-workload-cert-lifetime``).
Every check attaches, per workload, the certificate's subject, SAN, issuer,
serial and validity, with what held and what did not.
"""
from __future__ import annotations

import datetime as dt

import allure
import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.cluster import Pod
from meshproof.pki import spiffe_id
from meshproof.posture import CHAIN, IDENTITY, KEY, LIFETIME, SECRETS_PATH, Finding, ProxyIdentity, describe, findings

pytestmark = [mark("tls-posture"), pytest.mark.requires("sidecar")]


@pytest.fixture
def workload_certificates(bookinfo, deployer, cluster, timeouts) -> list[tuple[Pod, ProxyIdentity]]:
    """Every pod with a sidecar in the run's mesh namespaces, with the identity its proxy holds now."""
    pods = [pod for namespace in sorted(deployer.injected)
            for pod in cluster.wait_ready(namespace, {}, timeout=timeouts.workload_ready) if pod.has_sidecar]
    check.fact("the run has workloads with a sidecar to examine", bool(pods), f"namespaces: {sorted(deployer.injected)}")
    return [(pod, ProxyIdentity.from_config_dump(cluster.proxy_admin(pod, SECRETS_PATH))) for pod in pods]


def judge(what: str, workload_certificates, cluster, posture, aspects: set[str]) -> None:
    """Attach each workload's certificate with every finding; fail naming the pods whose ``aspects`` do not hold."""
    trust_domain = cluster.mesh().trust_domain
    now = dt.datetime.now(dt.timezone.utc)
    allure.dynamic.parameter("TLS policy", posture.policy.name)
    failed = []
    for pod, identity in workload_certificates:
        results: list[Finding] = findings(identity, expected_spiffe=spiffe_id(trust_domain, pod.namespace, pod.service_account),
                                          policy=posture.policy, max_lifetime=posture.max_lifetime, now=now)
        verdicts = "".join(f"{'holds' if f.holds else 'FAILS'}: {f.what} ({f.seen})\n" for f in results)
        allure.attach(describe(identity) + verdicts, name=f"workload certificate {pod.namespace}/{pod.name}",
                      attachment_type=allure.attachment_type.TEXT)
        failed += [f"{pod.namespace}/{pod.name}: {f.what}, saw {f.seen}"
                   for f in results if f.aspect in aspects and not f.holds]
    check.fact(f"{what} ({len(workload_certificates)} workloads)", not failed, "\n".join(failed))


def test_every_workload_holds_the_spiffe_identity_of_its_service_account_from_the_mesh_root(
        workload_certificates, cluster, posture):
    """Istio's identity is ``spiffe://<trust domain>/ns/<namespace>/sa/<service account>`` of the pod
    (istio.io, Concepts > Security > Istio identity); the chain must verify to the mesh root (ROOTCA)."""
    judge("each workload certificate names its pod's service account and verifies to the mesh root",
          workload_certificates, cluster, posture, {IDENTITY, CHAIN})


def test_every_workload_certificate_is_short_lived_with_a_key_the_policy_allows(workload_certificates, cluster, posture):
    """Istio's workload certificates live 24 hours by default (pilot-agent ``SECRET_TTL``); the key must meet
    the run's TLS policy (RSA >= 2048 or ECDSA P-256+ for mozilla-intermediate, meshproof/tlspolicy.py)."""
    judge(f"each workload certificate lives at most {posture.max_lifetime} with a key {posture.policy.name} allows",
          workload_certificates, cluster, posture, {LIFETIME, KEY})
