"""Platform profiles as data: one record per Istio family the kube backend supports.

In the shape of the Gateway API's conformance profiles: each record says how
the profile is detected, which namespace labels put a workload in the mesh,
where the root and ingress namespaces usually are, which mesh features it
lacks, and what access it needs beyond the common set.  Detection
(:mod:`meshproof.kube.profiles`), the preflight, ingress discovery, the
manifests adapter and the ``--mesh-profile`` option all read these records;
nothing else names a profile.  This module imports no Kubernetes client, so
the command line can offer the choices without loading it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

#: the label a revision-based injector selects namespaces by
REV_LABEL = "istio.io/rev"
#: OSSM 2 has no namespace label for injection: the kube backend turns this marker into
#: a ServiceMeshMember and the ``sidecar.istio.io/inject`` pod annotation
OSSM2_MEMBER_LABEL = "meshproof.io/mesh-member"


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    #: what in the cluster tells this profile (for --help and docs/kube.md)
    detected_by: str
    #: namespace labels that put a workload in the mesh; ``{revision}`` is replaced by the revision
    injection: Mapping[str, str]
    root_namespace: str = "istio-system"
    #: where its ingress gateway usually runs, preferred in this order
    ingress_namespaces: tuple[str, ...] = ("istio-system", "istio-ingress")
    #: mesh features (meshproof.capabilities.FEATURES) it does not offer; checks needing them are "not supported"
    lacks: frozenset[str] = frozenset()
    #: (verbs, API group, resource) it needs beyond the common set (meshproof.kube.preflight)
    rbac: tuple[tuple[tuple[str, ...], str, str], ...] = ()
    #: whether the profile needs a revision (``--revision`` or one found on the injector webhooks)
    needs_revision: bool = False

    def injection_labels(self, revision: str = "") -> dict[str, str]:
        return {k: v.replace("{revision}", revision) for k, v in self.injection.items()}


_MANAGE = ("create", "patch", "delete", "get", "list", "watch")

#: what ambient lacks: no istio-proxy container to exec into, and ztunnel ignores outboundTrafficPolicy
#: REGISTRY_ONLY (istio/istio#54281: only an egress waypoint restricts egress); no injector rewrites probes
#: (ztunnel lets the kubelet's probes through).  port-level-mtls stays: istiod turns portLevelMtls into
#: ztunnel authorizations (istio/istio#45453); see docs/kube.md
AMBIENT_LACKS = frozenset({"sidecar", "egress-registry-only", "probe-rewrite"})

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("upstream", "upstream Istio, default revision (istioctl/Helm; a 'default' revision tag included)",
            "istiod pods without a revision, or a 'default' revision tag pointing at the default revision",
            {"istio-injection": "enabled"}),
    Profile("revision", "revision-based Istio: canary upgrades, ASM (in-cluster and managed), the AKS add-on",
            "istiod pods or injector webhooks labelled istio.io/rev=<revision> (the 'default' tag's wins)",
            {REV_LABEL: "{revision}"}, ingress_namespaces=("istio-ingress", "asm-ingress", "aks-istio-ingress",
                                                           "istio-system"),
            needs_revision=True),
    Profile("ossm2", "OpenShift Service Mesh 2 (Maistra): ServiceMeshControlPlane and member roll",
            "a maistra.io ServiceMeshControlPlane",
            {OSSM2_MEMBER_LABEL: "true"},
            rbac=((_MANAGE, "maistra.io", "servicemeshmembers"), (("list",), "route.openshift.io", "routes"))),
    Profile("ossm3", "OpenShift Service Mesh 3 (Sail operator)",
            "a sailoperator.io Istio resource on OpenShift (route.openshift.io served)",
            {"istio-injection": "enabled"}, ingress_namespaces=("istio-ingress", "istio-system"),
            rbac=((("list",), "route.openshift.io", "routes"),)),
    Profile("ambient", "Istio ambient mode (ztunnel, no sidecars)",
            "ztunnel pods (app=ztunnel)",
            {"istio.io/dataplane-mode": "ambient"}, ingress_namespaces=("istio-ingress", "istio-system"),
            lacks=AMBIENT_LACKS),
)}


def profile_names() -> tuple[str, ...]:
    """The values ``--mesh-profile`` accepts."""
    return tuple(PROFILES)


def profile_help() -> str:
    """``--mesh-profile``'s help, from the records."""
    return ("override platform detection (kube): " +
            "; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))


#: platform (MeshInfo.platform) -> its gateway labels, tried in order
PLATFORM_INGRESS: dict[str, tuple[Mapping[str, str], ...]] = {
    "aks": ({"istio": "aks-istio-ingressgateway-external"}, {"istio": "aks-istio-ingressgateway-internal"}),
}
#: Istio's default gateway labels
DEFAULT_INGRESS_SELECTORS: tuple[Mapping[str, str], ...] = ({"istio": "ingressgateway"},)
