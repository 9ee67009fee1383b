"""Reading pod objects: readiness, a one-line state, and the contract's :class:`Pod`."""
from __future__ import annotations

from ..cluster import Pod
from .snapshot import ApiObject, labels, name, namespace


def is_ready(pod: ApiObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_terminating(pod: ApiObject) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def summary(pod: ApiObject) -> str:
    """``name Phase (container: Reason)``: enough to tell ImagePullBackOff from CrashLoopBackOff."""
    status = pod.get("status") or {}
    waiting = [f"{c['name']}: {state['waiting'].get('reason', 'waiting')}"
               for c in (*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or []))
               for state in [c.get("state") or {}] if state.get("waiting")]
    phase = "Terminating" if is_terminating(pod) else status.get("phase", "Unknown")
    ready = "ready" if is_ready(pod) else "not ready"
    return f"{name(pod)} {phase} {ready}" + (f" ({'; '.join(waiting)})" if waiting else "")


def containers(pod: ApiObject) -> tuple[str, ...]:
    """The pod's containers, native sidecars included: init containers with ``restartPolicy: Always``
    run beside the others (Kubernetes 1.29+, KEP-753), and Istio 1.27+ injects ``istio-proxy`` as one
    by default (``ENABLE_NATIVE_SIDECARS``)."""
    spec = pod.get("spec") or {}
    native = [c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return (*(c["name"] for c in spec.get("containers") or []), *native)


def to_pod(pod: ApiObject) -> Pod:
    return Pod(namespace(pod), name(pod), dict(labels(pod)), containers(pod), (pod.get("status") or {}).get("podIP") or "",
               (pod.get("spec") or {}).get("serviceAccountName") or "default",
               dict((pod.get("metadata") or {}).get("annotations") or {}))


def all_ready(pods: list[ApiObject]) -> list[ApiObject] | None:
    """The live pods when there is at least one and every one is ready; else None."""
    live = [p for p in pods if not is_terminating(p)]
    return live if live and all(is_ready(p) for p in live) else None
