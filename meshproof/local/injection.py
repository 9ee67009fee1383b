"""Whether Istio's injector gives a pod a sidecar: Namespace labels, revision, pod override."""
from __future__ import annotations

from typing import Any, Mapping

from ..ports import INJECT

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"


def wants_sidecar(namespace_labels: Mapping[str, str], template_meta: Mapping[str, Any], revision: str | None) -> bool:
    """``istio-injection`` beats ``istio.io/rev``; the pod's own label or annotation can opt out, or opt in."""
    explicit = (template_meta.get("labels") or {}).get(INJECT) or (template_meta.get("annotations") or {}).get(INJECT)
    if explicit == "false" or namespace_labels.get(INJECTION_LABEL) == "disabled":
        return False
    if INJECTION_LABEL in namespace_labels:
        return namespace_labels[INJECTION_LABEL] == "enabled"
    if namespace_labels.get(REVISION_LABEL) == (revision or "default"):
        return True
    return explicit == "true"
