"""AuthorizationPolicy as istiod translates it: Envoy RBAC filters on a sidecar's inbound chains.

Sources (istio/istio, read at 86c9f01):

- which policies a workload gets: pilot/pkg/model/authorization.go (the root
  namespace's policies apply in every namespace, the workload's namespace's
  policies to its own workloads; a selector narrows either);
- the filters: pilot/pkg/security/authz/builder/builder.go, one RBAC filter per
  action, DENY before ALLOW; a policy without rules becomes a policy that never
  matches (so an ALLOW without rules denies everything);
- a rule: pilot/pkg/security/authz/model/model.go, each ``from`` entry is one
  principal (its fields ANDed, the values of a field ORed, ``not*`` values
  negated), the entries ORed; no ``from`` matches any peer;
- values: pilot/pkg/security/authz/model/generator.go and matcher/string.go,
  ``principals`` against the peer certificate's URI SAN with ``spiffe://``
  prefixed (``*`` is ``.+``, ``*x`` a regex suffix, ``x*`` a prefix),
  ``namespaces`` as the regex ``.*/ns/<ns>/.*`` on the same name.

Envoy's ``authenticated.principal_name`` is the peer certificate's URI SAN, so
a plaintext peer matches no principal: that is how authorization needs mTLS.
HTTP chains answer a denied request with 403 ``RBAC: access denied``; TCP
chains close the connection.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ..cluster import labels_match

ALLOW, DENY = "ALLOW", "DENY"
SPIFFE_PREFIX = "spiffe://"
_T = "type.googleapis.com/envoy.extensions.filters."
#: a matcher standing in for any peer, as the defect "sidecar RBAC ignores principals" writes them
_ANY = {"any": True}


def applicable(policies: Iterable[Mapping[str, Any]], *, namespace: str, labels: Mapping[str, str],
               root_namespace: str, root_applies: bool = True) -> list[Mapping[str, Any]]:
    """The policies that select a workload in ``namespace`` with ``labels``, root namespace's first.

    ``root_applies`` False is the defect where root-namespace policies only reach the root namespace.
    """
    scopes = [root_namespace, namespace] if root_applies else [namespace]
    policies, found = list(policies), []
    for scope in dict.fromkeys(scopes):
        for policy in policies:
            if policy["metadata"]["namespace"] != scope:
                continue
            selector = ((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if labels_match(labels, selector):
                found.append(policy)
    return found


def string_matcher(value: str, prefix: str = "") -> dict[str, Any]:
    """istiod's StringMatcherWithPrefix: ``*`` any non-empty, ``*x`` ends with x, ``x*`` starts with prefix+x."""
    if value == "*":
        return {"safe_regex": {"regex": ".+"}}
    if value.startswith("*"):
        if not prefix:
            return {"suffix": value[1:]}
        return {"safe_regex": {"regex": re.escape(prefix) + ".*" + re.escape(value[1:])}}
    if value.endswith("*"):
        return {"prefix": prefix + value[:-1]}
    return {"exact": prefix + value}


def _authenticated(matcher: Mapping[str, Any]) -> dict[str, Any]:
    return {"authenticated": {"principal_name": dict(matcher)}}


def _principal(value: str) -> dict[str, Any]:
    return _authenticated(string_matcher(value, SPIFFE_PREFIX))


def _namespace(value: str) -> dict[str, Any]:
    regex = ".*".join(re.escape(part) for part in value.split("*"))
    return _authenticated({"safe_regex": {"regex": f".*/ns/{regex}/.*"}})


def _condition(values: list[str], not_values: list[str], make) -> list[dict[str, Any]]:
    """One field of a source: any of ``values``, and none of ``not_values``."""
    parts = []
    if values:
        parts.append({"or_ids": {"ids": [make(v) for v in values]}})
    if not_values:
        parts.append({"not_id": {"or_ids": {"ids": [make(v) for v in not_values]}}})
    return parts


def _source(source: Mapping[str, Any], ignore_principals: bool) -> dict[str, Any]:
    if ignore_principals:
        return _ANY
    conditions = (_condition(source.get("principals") or [], source.get("notPrincipals") or [], _principal)
                  + _condition(source.get("namespaces") or [], source.get("notNamespaces") or [], _namespace))
    return {"and_ids": {"ids": conditions}} if conditions else _ANY


def _rule(rule: Mapping[str, Any], ignore_principals: bool) -> dict[str, Any]:
    sources = [entry.get("source") or {} for entry in rule.get("from") or []]
    principals = [_source(s, ignore_principals) for s in sources] or [_ANY]
    return {"permissions": [_ANY], "principals": principals}


#: pilot/pkg/security/authz/builder: rbacPolicyMatchNever, for a policy without rules
_MATCH_NEVER = {"permissions": [{"not_rule": _ANY}], "principals": [{"not_id": _ANY}]}


def rbac_rules(policies: Iterable[Mapping[str, Any]], action: str, *, ignore_principals: bool = False
               ) -> dict[str, Any] | None:
    """Envoy ``config.rbac.v3.RBAC`` for the ``action`` policies, None when there are none (no filter)."""
    chosen = [p for p in policies if ((p.get("spec") or {}).get("action") or ALLOW) == action]
    if not chosen:
        return None
    named: dict[str, Any] = {}
    for policy in chosen:
        meta, rules = policy["metadata"], (policy.get("spec") or {}).get("rules") or []
        base = f"ns[{meta['namespace']}]-policy[{meta['name']}]"
        for index, rule in enumerate(rules):
            named[f"{base}-rule[{index}]"] = _rule(rule, ignore_principals)
        if not rules:
            named[f"{base}-rule[0]"] = _MATCH_NEVER
    return {"action": action, "policies": named}


def _each_action(policies: list[Mapping[str, Any]], ignore_principals: bool) -> Iterable[tuple[str, dict]]:
    for action in (DENY, ALLOW):
        rules = rbac_rules(policies, action, ignore_principals=ignore_principals)
        if rules is not None:
            yield action, rules


def http_filters(policies: list[Mapping[str, Any]], *, ignore_principals: bool = False) -> list[dict[str, Any]]:
    """``envoy.filters.http.rbac`` filters, DENY before ALLOW, to go before the router."""
    return [{"name": "envoy.filters.http.rbac",
             "typed_config": {"@type": _T + "http.rbac.v3.RBAC", "rules": rules}}
            for _, rules in _each_action(policies, ignore_principals)]


def network_filters(policies: list[Mapping[str, Any]], stat: str, *, ignore_principals: bool = False
                    ) -> list[dict[str, Any]]:
    """``envoy.filters.network.rbac`` filters, DENY before ALLOW, to go before tcp_proxy."""
    return [{"name": "envoy.filters.network.rbac",
             "typed_config": {"@type": _T + "network.rbac.v3.RBAC", "stat_prefix": f"{stat}_{action.lower()}",
                              "rules": rules}}
            for action, rules in _each_action(policies, ignore_principals)]
