"""DestinationRule as istiod applies it: the upstream TLS of every client proxy's outbound clusters.

Sources (istio/istio, read at 80376b7):

- which rule a client proxy gets for a service: pilot/pkg/model/push_context.go,
  ``setDestinationRules`` and ``destinationRule``. A rule's host is resolved
  from its own namespace (``ResolveShortnameToFQDN``: a name without a dot
  becomes ``<name>.<namespace>.svc.cluster.local``, anything else is taken as
  written). A client proxy in namespace C looks up, and takes the first that
  has a rule for the host: (1) the rules of C visible in C (``exportTo``
  empty, ``*``, ``.`` or C; for a proxy of the root namespace, only the root
  namespace's private rules); (2) the rules of the service's namespace
  exported to C; (3) the root namespace's rules exported to C. Within one
  namespace the most specific host wins (exact before the longest matching
  wildcard, ``MostSpecificHostMatch``). A rule exported only to ``.`` (or its
  own namespace) is never exported.
- several rules for one host in one namespace merge (pilot/pkg/model/destination_rule.go
  ``mergeDestinationRule``): the oldest rule's traffic policy wins, a later
  one's only fills an absent one; ``exportTo`` likewise.
- what the cluster gets (pilot/pkg/networking/core/cluster_tls.go,
  ``buildUpstreamTLSSettings``): a ``portLevelSettings`` entry for the port
  replaces the host-wide policy; ``ISTIO_MUTUAL`` originates mTLS with the
  proxy's workload certificate and verifies ``subjectAltNames`` or, when the
  rule names none, the service accounts of the service; ``DISABLE`` (also the
  default of a ``tls`` block without a mode) sends plaintext; no ``tls`` leaves
  auto mTLS in charge.

``SIMPLE`` and ``MUTUAL`` (TLS the client proxy originates with certificates
of the user's) are not modelled: :func:`limits` refuses them in one line.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from ..validation import describe
from .envoy.model import ClientTls, Destination
from .services import CLUSTER_DOMAIN

ISTIO_MUTUAL, DISABLE = "ISTIO_MUTUAL", "DISABLE"
MODELLED_MODES = (ISTIO_MUTUAL, DISABLE)
PUBLIC, PRIVATE = "*", "."


def resolve_host(host: str, namespace: str) -> str:
    """``ResolveShortnameToFQDN``: a short name is a Service of the rule's namespace; a dotted name stays as written."""
    if host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def host_matches(pattern: str, hostname: str) -> bool:
    """A rule's host against a service's FQDN: exact, ``*`` or a ``*.suffix`` wildcard."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return hostname.endswith(pattern[1:])
    return pattern == hostname


@dataclass(frozen=True)
class Rule:
    """The rules of one namespace for one resolved host, merged: the traffic policy and exportTo that count."""

    namespace: str
    host: str
    traffic_policy: Mapping[str, Any] | None
    export_to: frozenset[str]
    names: tuple[str, ...]

    def tls_for(self, port: int) -> Mapping[str, Any] | None:
        """The ``tls`` block for ``port``: a portLevelSettings entry for it replaces the host-wide one."""
        policy = self.traffic_policy or {}
        for entry in policy.get("portLevelSettings") or []:
            if int((entry.get("port") or {}).get("number", 0)) == port:
                return entry.get("tls")
        return policy.get("tls")


def _sorted(rules: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Oldest first, then by name and namespace (istiod's sortConfigByCreationTime)."""
    return sorted(rules, key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"],
                                        r["metadata"]["namespace"]))


def _merge(index: dict[str, Rule], rule: Mapping[str, Any], export_to: frozenset[str]) -> None:
    namespace, spec = rule["metadata"]["namespace"], rule.get("spec") or {}
    host = resolve_host(str(spec.get("host", "")), namespace)
    seen = index.get(host)
    if seen is None:
        index[host] = Rule(namespace, host, spec.get("trafficPolicy"), export_to, (rule["metadata"]["name"],))
        return
    index[host] = dataclasses.replace(
        seen, traffic_policy=seen.traffic_policy if seen.traffic_policy is not None else spec.get("trafficPolicy"),
        export_to=seen.export_to or export_to, names=seen.names + (rule["metadata"]["name"],))


@dataclass
class RuleIndex:
    """istiod's destinationRuleIndex: per namespace, the rules its own proxies see and the rules it exports."""

    root_namespace: str
    local: dict[str, dict[str, Rule]]
    exported: dict[str, dict[str, Rule]]
    root_local: dict[str, Rule]

    @classmethod
    def of(cls, rules: Iterable[Mapping[str, Any]], root_namespace: str) -> "RuleIndex":
        index = cls(root_namespace, {}, {}, {})
        for rule in _sorted(rules):
            namespace = rule["metadata"]["namespace"]
            export_to = frozenset((rule.get("spec") or {}).get("exportTo") or ())
            if not export_to or export_to & {PUBLIC, PRIVATE, namespace}:
                _merge(index.local.setdefault(namespace, {}), rule, export_to)
            private_only = len(export_to) == 1 and bool(export_to & {PRIVATE, namespace})
            if not private_only:
                _merge(index.exported.setdefault(namespace, {}), rule, export_to)
            elif namespace == root_namespace:
                _merge(index.root_local, rule, export_to)
        return index

    def lookup(self, client_namespace: str, hostname: str, service_namespace: str, *,
               server_namespace_first: bool = False) -> Rule | None:
        """The rule a proxy of ``client_namespace`` applies to the service ``hostname`` of ``service_namespace``.

        ``server_namespace_first`` is a deliberate defect: the server namespace's exported rule outranks the
        client namespace's own.
        """
        own = self.local.get(client_namespace, {}) if client_namespace != self.root_namespace else self.root_local
        steps = [lambda: _most_specific(own, hostname), lambda: self._exported(service_namespace, hostname,
                                                                                client_namespace)]
        if server_namespace_first:
            steps.reverse()
        steps.append(lambda: self._exported(self.root_namespace, hostname, client_namespace))
        return next((found for found in (step() for step in steps) if found is not None), None)

    def _exported(self, owner: str, hostname: str, client_namespace: str) -> Rule | None:
        """``getExportedDestinationRuleFromNamespace``: the owner's best match, if it is exported to the client."""
        found = _most_specific(self.exported.get(owner, {}), hostname)
        if found is not None and (not found.export_to or found.export_to & {PUBLIC, client_namespace}):
            return found
        return None


def _most_specific(rules: Mapping[str, Rule], hostname: str) -> Rule | None:
    """``MostSpecificHostMatch``: the exact host, else the longest wildcard that matches."""
    if hostname in rules:
        return rules[hostname]
    wildcards = [host for host in rules if host.startswith("*") and host_matches(host, hostname)]
    return rules[max(wildcards, key=len)] if wildcards else None


def client_tls(rule: Rule | None, destination: Destination) -> ClientTls | None:
    """The upstream TLS a rule sets for one Service port; None leaves auto mTLS in charge."""
    if rule is None:
        return None
    tls = rule.tls_for(destination.port)
    if tls is None:
        return None
    if (tls.get("mode") or DISABLE) == DISABLE:
        return ClientTls(istio_mutual=False)
    names = tls.get("subjectAltNames")
    return ClientTls(istio_mutual=True,
                     subject_alt_names=tuple(names) if names else destination.service_accounts)


def for_client(destinations: Iterable[Destination], rules: Iterable[Mapping[str, Any]], *, client_namespace: str,
               root_namespace: str, server_namespace_first: bool = False) -> list[Destination]:
    """``destinations`` as a client proxy of ``client_namespace`` sees them once its DestinationRules apply
    (``server_namespace_first``: the deliberate defect of :meth:`RuleIndex.lookup`)."""
    index = RuleIndex.of(rules, root_namespace)
    return [dataclasses.replace(d, client_tls=client_tls(
        index.lookup(client_namespace, d.fqdn, d.namespace, server_namespace_first=server_namespace_first), d))
        for d in destinations]


def limits(rule: Mapping[str, Any], _control: object) -> None:
    """Refuse, in one line, the TLS modes the reference mesh does not model: SIMPLE and MUTUAL (TLS the
    client proxy originates with the user's own certificates). A port-level entry always carries ``tls``
    here: the row allows no other field there, and istiod refuses an entry that sets nothing."""
    policy = (rule.get("spec") or {}).get("trafficPolicy") or {}
    blocks = [("spec.trafficPolicy.tls", policy.get("tls"))] + [
        (f"spec.trafficPolicy.portLevelSettings[{index}].tls", entry.get("tls"))
        for index, entry in enumerate(policy.get("portLevelSettings") or [])]
    for path, tls in blocks:
        mode = (tls or {}).get("mode") or DISABLE
        if tls is not None and mode not in MODELLED_MODES:
            raise ConfigError(f"{describe(rule)}: {path}.mode: the reference mesh models ISTIO_MUTUAL and DISABLE, "
                              f"not {mode} (TLS with the user's own certificates); run on a cluster with --kube-context")
