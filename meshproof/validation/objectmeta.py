"""What the API server checks in ``metadata`` for every kind (apimachinery's ObjectMeta validation).

Names are DNS-1123 subdomains (Namespaces DNS-1123 labels, Services
DNS-1035 labels), namespaces DNS-1123 labels; label keys are qualified names
with an optional DNS-subdomain prefix and values at most 63 characters of
``[A-Za-z0-9._-]`` starting and ending alphanumeric.  Source:
k8s.io/apimachinery/pkg/util/validation/validation.go.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

#: kinds whose name is stricter than a DNS-1123 subdomain
_NAME_RULES = {"Namespace": (DNS1123_LABEL, 63, "a DNS-1123 label"), "Service": (DNS1035_LABEL, 63, "a DNS-1035 label")}
_SUBDOMAIN = (DNS1123_SUBDOMAIN, 253, "a DNS-1123 subdomain")


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED.match(name))


def problems(manifest: Mapping[str, Any], *, namespaced: bool) -> Iterator[tuple[str, str]]:
    """(field path, problem) for each rule ``manifest``'s metadata breaks."""
    meta = manifest.get("metadata")
    if not isinstance(meta, Mapping):
        yield "metadata", "required"
        return
    name = meta.get("name")
    pattern, limit, what = _NAME_RULES.get(str(manifest.get("kind")), _SUBDOMAIN)
    if not isinstance(name, str) or not name:
        yield "metadata.name", "required"
    elif len(name) > limit or not pattern.match(name):
        yield "metadata.name", f"{name!r} must be {what} (at most {limit} characters)"
    namespace = meta.get("namespace")
    if namespaced and namespace is not None and (not isinstance(namespace, str) or not DNS1123_LABEL.match(namespace)
                                                 or len(namespace) > 63):
        yield "metadata.namespace", f"{namespace!r} must be a DNS-1123 label"
    for key, value in (meta.get("labels") or {}).items():
        if not _label_key_ok(str(key)):
            yield f"metadata.labels[{key}]", "not a valid label key"
        elif not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f"metadata.labels[{key}]", f"{value!r} is not a valid label value"
    for key, value in (meta.get("annotations") or {}).items():
        if not _label_key_ok(str(key)):
            yield f"metadata.annotations[{key}]", "not a valid annotation key"
        elif not isinstance(value, str):
            yield f"metadata.annotations[{key}]", "must be a string"
