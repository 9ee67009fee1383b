"""Which Istio family the cluster runs, and what that means for the suite.

Detection reads a :class:`Snapshot` only; options given by the user win over
anything detected.  What each profile means (injection labels, namespaces,
features it lacks, access it needs) is data in :mod:`meshproof.profiles`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from ..capabilities import FEATURES, SHORT_LIVED_CERTIFICATES
from ..cluster import MeshInfo
from ..errors import ConfigError
from ..profiles import OSSM2_MEMBER_LABEL, PROFILES as RECORDS, REV_LABEL, Profile
from .snapshot import ApiObject, Snapshot, labels, name, namespace
from .waiting import wait_until

PROFILES = tuple(RECORDS)

TAG_LABEL = "istio.io/tag"
#: the revision istioctl and Helm give an install without ``--revision``
DEFAULT_REVISION = "default"
#: every feature but one (below); external-database always holds: the backend deploys manifests/egress/mysql-external.yaml
#: (meshproof.kube.database), or --external-db-host names a managed database
#: short-lived-certificates: a cluster's workload certificates live as its operator set them (hours), so the
#: rotation check reports their lifetime and next renewal there instead of watching renewals
CLUSTER_FEATURES = frozenset(FEATURES) - {SHORT_LIVED_CERTIFICATES}


@dataclass(frozen=True)
class Platform:
    """The detected mesh plus what the backend needs to adapt manifests to it."""

    mesh: MeshInfo
    revision: str = ""
    #: (namespace, name) of the OSSM 2 ServiceMeshControlPlane
    control_plane: tuple[str, str] | None = None


def detect(snap: Snapshot, *, profile: str | None = None, revision: str | None = None) -> Platform:
    """The profile's record applied to what the cluster shows; ``profile`` and ``revision`` win over detection."""
    chosen = profile or _detect_profile(snap, revision)
    if chosen not in PROFILES:
        raise ConfigError(f"unknown mesh profile {chosen!r}; choose one of {', '.join(PROFILES)}")
    record = RECORDS[chosen]
    if chosen == "ossm2":
        return _ossm2(snap, record)
    if chosen == "ossm3":
        return _ossm3(snap, record)
    rev = revision if revision is not None else ("" if chosen == "upstream" else _default_revision(snap))
    if rev == DEFAULT_REVISION:
        rev = ""  # the default revision is selected by istio-injection=enabled as well
    if record.needs_revision and not rev:
        raise ConfigError(f"profile {chosen!r} needs a revision: none found on istiod pods or injector "
                          "webhooks; pass --revision")
    pod = _istiod_for(snap, rev)
    root = namespace(pod) if pod else record.root_namespace
    injection: Mapping[str, str] = record.injection_labels(rev)
    if chosen != "ambient" and not record.needs_revision and rev:
        injection = RECORDS["revision"].injection_labels(rev)
    mesh = MeshInfo(
        profile=chosen,
        version=_image_version(pod) if pod else "unknown",
        platform=_platform(snap, root, pod, rev),
        root_namespace=root,
        injection_labels=injection,
        features=CLUSTER_FEATURES - record.lacks,
    )
    return Platform(mesh, revision=rev)


def _detect_profile(snap: Snapshot, revision: str | None = None) -> str:
    if snap.control_planes:
        return "ossm2"
    if snap.sail_istios and _is_openshift(snap):
        return "ossm3"
    if snap.ztunnel_pods:
        return "ambient"
    if revision is not None:  # the user named it: the cluster's other revisions do not matter
        return "upstream" if revision in ("", DEFAULT_REVISION) else "revision"
    return "revision" if _default_revision(snap) not in ("", DEFAULT_REVISION) else "upstream"


def _default_revision(snap: Snapshot) -> str:
    """The revision new namespaces should use: the 'default' tag's, else the only one ('' or 'default': none)."""
    for hook in snap.webhooks:
        if labels(hook).get(TAG_LABEL) == "default" and labels(hook).get(REV_LABEL):
            return labels(hook)[REV_LABEL]
    revs = {labels(o).get(REV_LABEL, "") for o in (*snap.istiod_pods, *snap.webhooks)} - {"", DEFAULT_REVISION}
    if len(revs) > 1:
        raise ConfigError(f"several Istio revisions found ({', '.join(sorted(revs))}) and no 'default' revision "
                          "tag; pass --revision")
    return revs.pop() if revs else ""


def _istiod_for(snap: Snapshot, rev: str) -> ApiObject | None:
    wanted = rev or "default"
    pods = [p for p in snap.istiod_pods if labels(p).get(REV_LABEL, "default") == wanted]
    return (pods or list(snap.istiod_pods) or [None])[0]


def _image_version(pod: ApiObject) -> str:
    """Version from the discovery image tag: ``.../pilot:1.22.3-distroless`` -> ``1.22.3``."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = container.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag:
            return re.sub(r"-distroless$", "", tag)
    return "unknown"


def _platform(snap: Snapshot, root: str, pod: ApiObject | None, rev: str) -> str:
    images = " ".join(c.get("image", "") for c in ((pod or {}).get("spec") or {}).get("containers") or [])
    if root.startswith("aks-istio") or "mcr.microsoft.com" in images:
        return "aks"
    if "gke.gcr.io" in images or rev.startswith("asm-") or any("asm" in name(h) for h in snap.webhooks):
        return "asm"
    return "openshift" if _is_openshift(snap) else "kubernetes"


def _is_openshift(snap: Snapshot) -> bool:
    return "route.openshift.io" in snap.api_groups


def _ossm2(snap: Snapshot, record: Profile) -> Platform:
    if not snap.control_planes:
        raise ConfigError("profile 'ossm2' needs a ServiceMeshControlPlane; none found")
    smcp = snap.control_planes[0]
    spec: Mapping = smcp.get("spec") or {}
    status: Mapping = smcp.get("status") or {}
    version = status.get("chartVersion") or spec.get("version") or "unknown"
    mesh = MeshInfo(
        profile="ossm2",
        version=str(version),
        platform="openshift",
        root_namespace=namespace(smcp),
        injection_labels=record.injection_labels(),
        features=CLUSTER_FEATURES - record.lacks,
    )
    return Platform(mesh, control_plane=(namespace(smcp), name(smcp)))


def _ossm3(snap: Snapshot, record: Profile) -> Platform:
    if not snap.sail_istios:
        raise ConfigError("profile 'ossm3' needs an Istio resource (sailoperator.io); none found")
    istio = snap.sail_istios[0]
    spec: Mapping = istio.get("spec") or {}
    rev = (istio.get("status") or {}).get("activeRevisionName") or name(istio)
    injection = record.injection_labels() if rev == DEFAULT_REVISION else RECORDS["revision"].injection_labels(rev)
    mesh = MeshInfo(
        profile="ossm3",
        version=str(spec.get("version", "unknown")).lstrip("v"),
        platform="openshift",
        root_namespace=spec.get("namespace", record.root_namespace),
        injection_labels=injection,
        features=CLUSTER_FEATURES - record.lacks,
    )
    return Platform(mesh, revision="" if rev == DEFAULT_REVISION else rev)


def member_ready(member: ApiObject) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (member.get("status") or {}).get("conditions") or [])


def wait_member_ready(resource, namespace_: str, name_: str, *, timeout: float) -> None:
    """Wait until OSSM 2 has joined the namespace to the mesh (the ServiceMeshMember's Ready condition).

    Until then the namespace is not in the member roll, so the injector skips
    its pods: a pod created earlier would run without a sidecar.
    """
    def describe(objs) -> str:
        conditions = [f"{c.get('type')}={c.get('status')} {c.get('message', '')}".strip()
                      for o in objs for c in (o.get("status") or {}).get("conditions") or []]
        return "; ".join(conditions) or "no conditions yet"

    wait_until(resource, lambda objs: True if objs and member_ready(objs[0]) else None, timeout=timeout,
               what=f"ServiceMeshMember {namespace_}/{name_} Ready", describe=describe,
               namespace=namespace_, field_selector=f"metadata.name={name_}")
