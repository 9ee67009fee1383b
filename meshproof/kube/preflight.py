"""Checks that end a run at once, with one line, when the cluster cannot run the suite."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Mapping

import urllib3
from kubernetes import client

from ..errors import PreflightError
from ..profiles import PROFILES
from .client import REQUEST_TIMEOUT, one_line
from .snapshot import Snapshot

#: the Istio kinds the suite's manifests use, as CRD names
ISTIO_CRDS = (
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
    "gateways.networking.istio.io",
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "serviceentries.networking.istio.io",
)


@dataclass(frozen=True)
class Access:
    verb: str
    group: str
    resource: str
    #: where: "" asks cluster-wide, a name asks in that namespace only (what a RoleBinding grants)
    namespace: str = ""

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "(cluster-wide)"
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''} {where}"

    def within(self, namespace: str) -> "Access":
        return Access(self.verb, self.group, self.resource, namespace)


#: ``get`` first: a run reads each object before it first applies it (meshproof.kube.ownership)
_MANAGE = ("get", "create", "patch", "delete", "list", "watch")
_KINDS = (("", "secrets"), ("", "services"), ("", "serviceaccounts"), ("", "configmaps"), ("apps", "deployments"),
          *((crd.split(".", 1)[1], crd.split(".", 1)[0]) for crd in ISTIO_CRDS))
#: the websocket exec and port-forward are upgraded GETs: since Kubernetes 1.30 (KEP-4006, streaming
#: over websockets) the API server authorises them as ``get`` as well as ``create`` on the subresource
_STREAMS = ("create", "get")
#: what a run does inside a namespace it deploys to
_IN_NAMESPACE = ((("list", "watch"), "", "pods"), (("list", "watch"), "apps", "replicasets"), (("get",), "", "pods/log"),
                 (_STREAMS, "", "pods/exec"), (_STREAMS, "", "pods/portforward"), (("list",), "", "events"))
#: reading the mesh at start (meshproof.kube.survey) and the nodes' addresses: always cluster-wide
_DISCOVERY = ((("list",), "", "pods"), (("list",), "", "services"), (("list",), "", "nodes"),
              (("list",), "apiextensions.k8s.io", "customresourcedefinitions"),
              (("list",), "admissionregistration.k8s.io", "mutatingwebhookconfigurations"))
#: run and shared-state Leases (meshproof.kube.lease), in the mesh root namespace
COORDINATION = tuple(Access(v, "coordination.k8s.io", "leases")
                     for v in ("create", "get", "update", "delete", "list", "watch"))

NAMESPACED: tuple[Access, ...] = (
    *(Access(v, g, r) for g, r in _KINDS for v in _MANAGE),
    *(Access(v, g, r) for verbs, g, r in _IN_NAMESPACE for v in verbs),
)
DISCOVERY: tuple[Access, ...] = tuple(Access(v, g, r) for verbs, g, r in _DISCOVERY for v in verbs)

#: optional features (meshproof.capabilities) and the access each needs beyond REQUIRED: the packet capture
#: adds an ephemeral debug container to the server pod (meshproof.kube.capture), then execs into it and reads its log
OPTIONAL: dict[str, tuple[Access, ...]] = {"wire-capture": (Access("patch", "", "pods/ephemeralcontainers"),)}

#: every access the kube backend uses when it creates its own namespaces; manifests/rbac/ grants all (a test checks)
REQUIRED: tuple[Access, ...] = (
    *(Access(v, "", "namespaces") for v in _MANAGE), *NAMESPACED, *DISCOVERY, *COORDINATION,
)


def use_namespace_required(namespaces: Iterable[str], root_namespace: str) -> tuple[Access, ...]:
    """What a run confined to prepared namespaces (``--use-namespace``) needs, where it needs it.

    The discovery reads stay cluster-wide; everything the run creates, reads
    and execs into is asked in each prepared namespace, plus ``get`` on the
    Namespace itself (to check its injection label), and the Leases in the
    root namespace.  No right to create namespaces is asked.
    """
    needed = [*DISCOVERY, *(a.within(root_namespace) for a in COORDINATION)]
    for ns in dict.fromkeys(namespaces):
        needed += [*(a.within(ns) for a in NAMESPACED), Access("get", "", "namespaces", ns)]
    return tuple(needed)


def profile_required(profile: str) -> tuple[Access, ...]:
    """What a profile needs beyond :data:`REQUIRED`, from its record (meshproof.profiles): OSSM 2 enrols
    namespaces through ServiceMeshMembers; on OpenShift the gateway may be reached through a Route."""
    record = PROFILES.get(profile)
    return tuple(Access(v, g, r) for verbs, g, r in (record.rbac if record else ()) for v in verbs)


def check_reachable(api: client.ApiClient, timeout: float = REQUEST_TIMEOUT) -> str:
    """The server's version; a one-line PreflightError when it cannot be reached or refuses us.

    ``timeout``: seconds for the one ``/version`` request.
    """
    host = api.configuration.host
    try:
        return client.VersionApi(api).get_code(_request_timeout=timeout).git_version
    except client.ApiException as exc:
        if exc.status in (401, 403):
            raise PreflightError(f"the Kubernetes API at {host} rejected the credentials: {one_line(exc)}") from None
        if exc.status:
            raise PreflightError(f"the Kubernetes API at {host} answered {one_line(exc)}") from None
        raise PreflightError(f"cannot reach the Kubernetes API at {host}: {one_line(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise PreflightError(f"cannot reach the Kubernetes API at {host}: {one_line(exc)}") from None
    except ValueError:
        raise PreflightError(f"{host} does not answer like a Kubernetes API server (no version)") from None


def denied(api: client.ApiClient, needed: tuple[Access, ...]) -> list[Access]:
    """The accesses the server refuses us (SelfSubjectAccessReview each), in the order given."""
    authz = client.AuthorizationV1Api(api)

    def allowed(access: Access) -> bool:
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=access.verb, group=access.group, resource=access.resource.split("/")[0],
                subresource=access.resource.partition("/")[2] or None, namespace=access.namespace or None)))
        return bool(authz.create_self_subject_access_review(review, _request_timeout=REQUEST_TIMEOUT).status.allowed)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(allowed, needed))
    except client.ApiException as exc:
        raise PreflightError(f"cannot check permissions (SelfSubjectAccessReview): {one_line(exc)}") from None
    return [a for a, ok in zip(needed, answers) if not ok]


def check_access(api: client.ApiClient, needed: tuple[Access, ...], *, hint: str = "") -> None:
    """Ask the server (SelfSubjectAccessReview) about each access; name the first one denied."""
    refused = denied(api, needed)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise PreflightError(f"no permission to {refused[0].describe()}{more}; "
                             f"grant manifests/rbac/{hint} to the account running the suite")


def feature_access(mesh_namespaces: Iterable[str] | None = None) -> dict[str, tuple[Access, ...]]:
    """What each optional feature needs beyond :data:`REQUIRED`: cluster-wide, or in each prepared mesh namespace
    (``--use-namespace``).  A run without it still runs; the checks needing the feature are "not supported"."""
    places = list(dict.fromkeys(mesh_namespaces)) if mesh_namespaces is not None else [""]
    return {feature: tuple(a.within(ns) for a in accesses for ns in places)
            for feature, accesses in OPTIONAL.items()}


def unsupported_features(api: client.ApiClient, mesh_namespaces: Iterable[str] | None = None) -> dict[str, str]:
    """Optional features the account may not use, each with the one line saying which access is refused."""
    found = {}
    for feature, needed in feature_access(mesh_namespaces).items():
        refused = denied(api, needed)
        if refused:
            found[feature] = (f"no permission to {refused[0].describe()}; grant it as manifests/rbac/ does "
                              f"to the account running the suite")
    return found


def check_istio(snap: Snapshot) -> None:
    missing = [c for c in ISTIO_CRDS if c not in snap.crds]
    if missing:
        raise PreflightError(f"Istio CRDs missing: {', '.join(missing)}; is Istio installed on this cluster?")
    if not (snap.istiod_pods or snap.webhooks or snap.control_planes or snap.sail_istios):
        raise PreflightError("no Istio control plane found: no istiod pods (app=istiod) and no sidecar "
                             "injector webhook")


def missing_injection(namespace_obj: Mapping, injection_labels: Mapping[str, str], profile: str) -> str:
    """'' when a prepared mesh namespace carries the profile's injection labels, else the one line saying which not."""
    labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
    missing = {k: v for k, v in injection_labels.items() if labels.get(k) != v}
    if not missing:
        return ""
    name = (namespace_obj.get("metadata") or {}).get("name", "")
    wanted = ",".join(f"{k}={v}" for k, v in missing.items())
    return (f"namespace {name} lacks the injection label {wanted} (profile {profile}); its pods would run "
            f"without sidecars: `kubectl label namespace {name} {wanted}`")
