"""AuthorizationPolicy to Envoy RBAC as istiod translates it (meshproof/local/authz.py), and its admission.

Expected matchers are istiod's (istio/istio pilot/pkg/security/authz/matcher/string.go
StringMatcherWithPrefix, model/generator.go srcNamespaceGenerator, builder/builder.go).
"""
from __future__ import annotations

import pytest

from meshproof.errors import ConfigError
from meshproof.local import authz
from meshproof.policies import authorization_policy, from_sources
from meshproof.validation import validate

NS, ROOT = "bookinfo", "istio-system"


@pytest.mark.parametrize("value, matcher", [
    ("*", {"safe_regex": {"regex": ".+"}}),
    ("cluster.local/ns/bookinfo/sa/sleep", {"exact": "spiffe://cluster.local/ns/bookinfo/sa/sleep"}),
    ("cluster.local/ns/bookinfo/*", {"prefix": "spiffe://cluster.local/ns/bookinfo/"}),
    ("*/sa/sleep", {"safe_regex": {"regex": "spiffe://.*/sa/sleep"}}),
])
def test_principal_values_become_istiods_matchers_on_the_spiffe_uri(value, matcher):
    assert authz.string_matcher(value, authz.SPIFFE_PREFIX) == matcher


def rules_of(*policies, action="ALLOW", **options):
    return authz.rbac_rules(list(policies), action, **options)


def test_a_source_ands_its_fields_ors_their_values_and_negates_not_values():
    policy = authorization_policy(NS, "p", rules=[from_sources(principals=["a/ns/x/sa/y", "b/ns/x/sa/z"],
                                                               notNamespaces=["legacy-*"])])
    (name, rbac_policy), = rules_of(policy)["policies"].items()
    assert name == "ns[bookinfo]-policy[p]-rule[0]"
    assert rbac_policy["permissions"] == [{"any": True}]
    (principal,) = rbac_policy["principals"]
    assert principal == {"and_ids": {"ids": [
        {"or_ids": {"ids": [{"authenticated": {"principal_name": {"exact": "spiffe://a/ns/x/sa/y"}}},
                            {"authenticated": {"principal_name": {"exact": "spiffe://b/ns/x/sa/z"}}}]}},
        {"not_id": {"or_ids": {"ids": [{"authenticated": {"principal_name": {
            "safe_regex": {"regex": ".*/ns/legacy\\-.*/.*"}}}}]}}}]}}


def test_an_allow_without_rules_never_matches_and_an_empty_rule_matches_everyone():
    nothing = rules_of(authorization_policy(NS, "nothing"))
    assert nothing["action"] == "ALLOW"
    assert list(nothing["policies"].values()) == [{"permissions": [{"not_rule": {"any": True}}],
                                                  "principals": [{"not_id": {"any": True}}]}]
    everyone = rules_of(authorization_policy(NS, "all", rules=[{}]))
    assert list(everyone["policies"].values()) == [{"permissions": [{"any": True}], "principals": [{"any": True}]}]


def test_deny_filters_come_before_allow_filters_and_no_policy_gives_no_filter():
    allow = authorization_policy(NS, "a", rules=[{}])
    deny = authorization_policy(NS, "d", action="DENY", rules=[from_sources(notPrincipals=["*"])])
    filters = authz.http_filters([allow, deny])
    assert [f["typed_config"]["rules"]["action"] for f in filters] == ["DENY", "ALLOW"]
    network = authz.network_filters([allow, deny], "inbound_9080")
    assert [f["name"] for f in network] == ["envoy.filters.network.rbac"] * 2
    assert authz.http_filters([]) == [] and authz.network_filters([], "s") == []


def test_ignoring_principals_lets_any_peer_match_but_keeps_a_policy_without_rules_closed():
    policy = authorization_policy(NS, "p", rules=[from_sources(principals=["cluster.local/ns/x/sa/y"])])
    assert list(rules_of(policy, ignore_principals=True)["policies"].values())[0]["principals"] == [{"any": True}]
    closed = rules_of(authorization_policy(NS, "nothing"), ignore_principals=True)
    assert list(closed["policies"].values())[0]["principals"] == [{"not_id": {"any": True}}]


def test_policies_apply_from_the_root_and_the_workloads_namespace_narrowed_by_selector():
    root_selected = authorization_policy(ROOT, "root-details", selector={"app": "details"}, rules=[{}])
    root_all = authorization_policy(ROOT, "root-all", rules=[{}])
    own = authorization_policy(NS, "own", rules=[{}])
    other_ns = authorization_policy("other", "other", rules=[{}])
    other_app = authorization_policy(NS, "httpbin", selector={"app": "httpbin"}, rules=[{}])
    stored = [root_selected, root_all, own, other_ns, other_app]
    found = authz.applicable(iter(stored), namespace=NS, labels={"app": "details"}, root_namespace=ROOT)
    assert found == [root_selected, root_all, own]
    local = authz.applicable(stored, namespace=NS, labels={"app": "details"}, root_namespace=ROOT, root_applies=False)
    assert local == [own]


@pytest.mark.parametrize("spec, problem", [
    ({"action": "DENY"}, "DENY action without `rules` is meaningless"),
    ({"rules": [{"from": []}]}, "`from` must not be empty, found at rule 0"),
    ({"rules": [{"from": [{"source": {}}]}]}, "`from.source` must not be empty, found at rule 0"),
    ({"rules": [{"from": [{"source": {"principals": [""]}}]}]}, "empty value not allowed, found in Principals"),
])
def test_istiods_webhook_refuses_meaningless_authorization_policies(spec, problem):
    """istio/istio pkg/config/validation/validation.go ValidateAuthorizationPolicy."""
    with pytest.raises(ConfigError, match=r"^[^\n]*" + problem.replace("`", ".").replace("(", r"\(")):
        validate({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                  "metadata": {"name": "p", "namespace": NS}, "spec": spec})
