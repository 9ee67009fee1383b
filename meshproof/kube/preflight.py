"""Checks that end a run at once, with one line, when the cluster cannot run the suite."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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

    def describe(self) -> str:
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''} (cluster-wide)"


_MANAGE = ("create", "patch", "delete", "list", "watch")
_MANAGED = (("", "namespaces"), ("", "secrets"), ("", "services"), ("", "serviceaccounts"),
            ("", "configmaps"), ("apps", "deployments"),
            *((crd.split(".", 1)[1], crd.split(".", 1)[0]) for crd in ISTIO_CRDS))
#: the websocket exec and port-forward are upgraded GETs: since Kubernetes 1.30 (KEP-4006, streaming
#: over websockets) the API server authorises them as ``get`` as well as ``create`` on the subresource
_STREAMS = ("create", "get")
_READ = ((("list", "watch"), "", "pods"), (("list", "watch"), "apps", "replicasets"), (("get",), "", "pods/log"),
         (_STREAMS, "", "pods/exec"), (_STREAMS, "", "pods/portforward"),
         (("create", "get", "update", "delete", "list", "watch"), "coordination.k8s.io", "leases"),
         (("list",), "", "events"), (("list",), "", "nodes"),
         (("list",), "apiextensions.k8s.io", "customresourcedefinitions"),
         (("list",), "admissionregistration.k8s.io", "mutatingwebhookconfigurations"))

#: every access the kube backend uses; manifests/rbac/ must grant all of them (a test checks)
REQUIRED: tuple[Access, ...] = (
    *(Access(v, g, r) for g, r in _MANAGED for v in _MANAGE),
    *(Access(v, g, r) for verbs, g, r in _READ for v in verbs),
)


def profile_required(profile: str) -> tuple[Access, ...]:
    """What a profile needs beyond :data:`REQUIRED`, from its record (meshproof.profiles): OSSM 2 enrols
    namespaces through ServiceMeshMembers; on OpenShift the gateway may be reached through a Route."""
    record = PROFILES.get(profile)
    return tuple(Access(v, g, r) for verbs, g, r in (record.rbac if record else ()) for v in verbs)


def check_reachable(api: client.ApiClient) -> str:
    """The server's version; a one-line PreflightError when it cannot be reached or refuses us."""
    host = api.configuration.host
    try:
        return client.VersionApi(api).get_code(_request_timeout=REQUEST_TIMEOUT).git_version
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


def check_access(api: client.ApiClient, needed: tuple[Access, ...]) -> None:
    """Ask the server (SelfSubjectAccessReview) about each access; name the first one denied."""
    authz = client.AuthorizationV1Api(api)

    def allowed(access: Access) -> bool:
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=access.verb, group=access.group, resource=access.resource.split("/")[0],
                subresource=access.resource.partition("/")[2] or None)))
        return bool(authz.create_self_subject_access_review(review, _request_timeout=REQUEST_TIMEOUT).status.allowed)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(allowed, needed))
    except client.ApiException as exc:
        raise PreflightError(f"cannot check permissions (SelfSubjectAccessReview): {one_line(exc)}") from None
    denied = [a for a, ok in zip(needed, answers) if not ok]
    if denied:
        more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
        raise PreflightError(f"no permission to {denied[0].describe()}{more}; "
                             "grant manifests/rbac/ to the account running the suite")


def check_istio(snap: Snapshot) -> None:
    missing = [c for c in ISTIO_CRDS if c not in snap.crds]
    if missing:
        raise PreflightError(f"Istio CRDs missing: {', '.join(missing)}; is Istio installed on this cluster?")
    if not (snap.istiod_pods or snap.webhooks or snap.control_planes or snap.sail_istios):
        raise PreflightError("no Istio control plane found: no istiod pods (app=istiod) and no sidecar "
                             "injector webhook")
