"""Kubernetes names and label selectors, checked the way the API server checks them.

Rules from Kubernetes' validation (k8s.io/apimachinery/pkg/util/validation:
``IsDNS1123Label``, ``IsQualifiedName``, ``IsValidLabelValue``) and the label
selector grammar of k8s.io/apimachinery/pkg/labels (``key=value``,
``key==value``, ``key!=value``, ``key in (...)``, ``key notin (...)``, ``key``,
``!key``).  Every error is a :class:`~meshproof.errors.ConfigError` in one line.
"""
from __future__ import annotations

import re

from .errors import ConfigError

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
#: an image reference, in the grammar of github.com/distribution/reference (regexp.go): [domain[:port]/]path
#: components of lower-case letters and digits joined by '.', '_', '__' or dashes, then :tag and/or @digest
_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")
#: set-based and inequality terms: valid selectors, but a Gateway's selector is a plain label map
_SET_BASED = re.compile(r"!|\s(in|notin)\s*\(")


def dns_label_problem(name: str, limit: int = DNS_LABEL_MAX) -> str | None:
    """Why ``name`` is not an RFC 1123 label of at most ``limit`` characters, or None."""
    if not name:
        return "must not be empty"
    if len(name) > limit:
        return f"must be at most {limit} characters (has {len(name)})"
    if not _DNS_LABEL.fullmatch(name):
        return "must consist of lower-case letters, digits and '-', and start and end with a letter or digit"
    return None


def check_dns_label(name: str, what: str, limit: int = DNS_LABEL_MAX) -> str:
    problem = dns_label_problem(name, limit)
    if problem:
        raise ConfigError(f"{what} {name!r}: {problem} (an RFC 1123 label, as Kubernetes names are)")
    return name


def check_label_value(value: str, what: str) -> str:
    """A label value (e.g. a revision for ``istio.io/rev``): at most 63 characters, alphanumeric at both ends."""
    if len(value) > DNS_LABEL_MAX or not _LABEL_NAME.fullmatch(value):
        raise ConfigError(f"{what} {value!r}: not a valid label value (at most {DNS_LABEL_MAX} letters, digits, "
                          "'-', '_' or '.', starting and ending with a letter or digit)")
    return value


def check_image_reference(image: str, what: str) -> str:
    """A container image reference (``registry.example:5000/team/netshoot:v0.13``, a digest allowed)."""
    if not _IMAGE.fullmatch(image):
        raise ConfigError(f"{what} {image!r}: not an image reference ([registry[:port]/]lower-case/path[:tag]"
                          "[@sha256:digest], e.g. registry.corp.example/mirror/nicolaka/netshoot:v0.13)")
    return image


def _bad(text: str, reason: str, what: str) -> ConfigError:
    return ConfigError(f"{what} {text!r}: {reason}; expected key=value[,key=value]")


def _check_key(key: str, text: str, what: str) -> None:
    prefix, slash, name = key.rpartition("/")
    ok = bool(_LABEL_NAME.fullmatch(name)) and len(name) <= DNS_LABEL_MAX
    if slash:
        ok = ok and bool(_DNS_SUBDOMAIN.fullmatch(prefix)) and len(prefix) <= DNS_SUBDOMAIN_MAX
    if not ok:
        raise _bad(text, f"{key!r} is not a valid label key", what)


def _check_value(value: str, key: str, text: str, what: str) -> None:
    if value and (len(value) > DNS_LABEL_MAX or not _LABEL_NAME.fullmatch(value)):
        raise _bad(text, f"{value!r} is not a valid value for {key}", what)


def parse_selector(text: str, what: str = "label selector") -> dict[str, str]:
    """``istio=ingressgateway,app=x`` (or ``==``) -> ``{"istio": "ingressgateway", "app": "x"}``.

    Only equality terms select a gateway: Istio's Gateway ``spec.selector`` and a
    Service's selector are label maps, so set-based terms are refused with the reason.
    """
    terms = [t.strip() for t in text.split(",")]
    if not text.strip() or not all(terms):
        raise _bad(text, "an empty term", what)
    if _SET_BASED.search(text):
        raise _bad(text, "only equality terms can select gateway pods (a Gateway's selector is a label map)", what)
    selected: dict[str, str] = {}
    for term in terms:
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        key, value = key.strip(), value.strip()
        if not op:
            raise _bad(text, f"{term!r} has no value", what)
        _check_key(key, text, what)
        _check_value(value, key, text, what)
        if key in selected and selected[key] != value:
            raise _bad(text, f"{key} is given twice", what)
        selected[key] = value
    return selected
