"""Waiting for a Deployment's rollout, not merely for ready pods.

Right after a changed Deployment is applied, its old pods are still ready and
not yet terminating: pod readiness alone would hand them back.  Only the
Deployment's status says that the controller has seen the change
(``observedGeneration``) and created the new pods (``updatedReplicas``), and
only the current ReplicaSet's ``pod-template-hash`` tells new pods from old.
Each step is a watch (:func:`meshproof.kube.waiting.wait_until`) and all share
one deadline.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from .pods import all_ready, is_ready, is_terminating, summary
from .resources import by_api_version
from ..cluster import labels_match, selector_text
from .snapshot import ApiObject, labels, name
from .waiting import wait_until

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def wait_rolled_out(dyn: Any, namespace: str, selector: Mapping[str, str], *, timeout: float) -> list[ApiObject]:
    """The ready pods of the current ReplicaSets of the Deployments whose pods ``selector`` picks.

    Pods of no Deployment (a StatefulSet's, bare pods) only need to be ready.
    """
    deadline = time.monotonic() + timeout
    text = selector_text(selector)
    where = f"{text} in {namespace}"
    shared = {"timeout": timeout, "deadline": deadline, "namespace": namespace}
    pods = by_api_version(dyn, "v1", "Pod")
    deployments = wait_until(by_api_version(dyn, "apps/v1", "Deployment"),
                             lambda ds: _when_all(selected(ds, selector), rolled_out),
                             what=f"Deployments of {where} rolled out",
                             describe=lambda ds: "; ".join(map(describe, selected(ds, selector))), **shared)
    if not deployments:
        return wait_until(pods, all_ready, what=f"pods {where} ready", describe=_describe_pods,
                          label_selector=text, **shared)
    hashes = wait_until(by_api_version(dyn, "apps/v1", "ReplicaSet"),
                        lambda rss: current_hashes(deployments, rss),
                        what=f"current ReplicaSets of {where}", label_selector=text, **shared)
    return wait_until(pods, lambda ps: current_pods(ps, hashes), what=f"pods {where} of the current rollout ready",
                      describe=_describe_pods, label_selector=text, **shared)


def selected(deployments: list[ApiObject], selector: Mapping[str, str]) -> list[ApiObject]:
    """The Deployments whose pod template carries every label of ``selector``."""
    def template_labels(d: ApiObject) -> Mapping[str, str]:
        return labels(((d.get("spec") or {}).get("template") or {}))

    return [d for d in deployments if labels_match(template_labels(d), selector)]


def rolled_out(deployment: ApiObject) -> bool:
    """The controller has seen the latest spec and every replica runs the latest template."""
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    return (status.get("observedGeneration", 0) >= meta.get("generation", 1)
            and status.get("updatedReplicas", 0) == replicas(deployment))


def replicas(deployment: ApiObject) -> int:
    spec_replicas = (deployment.get("spec") or {}).get("replicas")
    return 1 if spec_replicas is None else int(spec_replicas)


def describe(deployment: ApiObject) -> str:
    """``name: generation 2 observed 1, 0/1 updated`` and why the controller is stuck, if it says."""
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    text = (f"{name(deployment)}: generation {meta.get('generation', 1)} observed "
            f"{status.get('observedGeneration', 0)}, {status.get('updatedReplicas', 0)}/{replicas(deployment)} updated")
    stuck = [c.get("message", "") for c in status.get("conditions") or []
             if c.get("status") == "False" or c.get("type") == "ReplicaFailure"]
    return text + (f" ({'; '.join(stuck)})" if stuck else "")


def current_hashes(deployments: list[ApiObject], replica_sets: list[ApiObject]) -> dict[str, int] | None:
    """pod-template-hash -> replicas of each Deployment's current ReplicaSet; None until all are known.

    The current ReplicaSet is the one the Deployment owns whose revision is the Deployment's.
    """
    found: dict[str, int] = {}
    for deployment in deployments:
        meta = deployment.get("metadata") or {}
        revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        owned = [rs for rs in replica_sets if _owned_by(rs, meta.get("uid"))
                 and ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION) == revision]
        if revision is None or not owned or HASH_LABEL not in labels(owned[0]):
            return None
        found[labels(owned[0])[HASH_LABEL]] = replicas(deployment)
    return found


def current_pods(pods: list[ApiObject], hashes: Mapping[str, int]) -> list[ApiObject] | None:
    """The current pods once each ReplicaSet has its count, all ready, and no older pod is left running."""
    live = [p for p in pods if not is_terminating(p) and HASH_LABEL in labels(p)]
    current = [p for p in live if labels(p)[HASH_LABEL] in hashes]
    if len(current) != len(live) or not all(is_ready(p) for p in current):
        return None
    counts = {h: sum(1 for p in current if labels(p)[HASH_LABEL] == h) for h in hashes}
    return current if counts == dict(hashes) else None


def _when_all(items: list[ApiObject], test: Callable[[ApiObject], bool]) -> list[ApiObject] | None:
    return items if all(test(i) for i in items) else None


def _owned_by(obj: ApiObject, uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _describe_pods(pods: list[ApiObject]) -> str:
    return "; ".join(summary(p) for p in pods) or "no pods"
