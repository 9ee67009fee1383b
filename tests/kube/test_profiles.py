"""Profile detection from recorded API objects of each platform, and the user's overrides."""
from __future__ import annotations

import dataclasses

import pytest

from meshproof.errors import ConfigError
from meshproof.kube.ingress import find_ingress
from meshproof.kube.profiles import CLUSTER_FEATURES, PROFILES, detect

from .recorded import load, platforms


@pytest.mark.parametrize("platform", platforms())
def test_detected_mesh_matches_the_platform(platform):
    snap, expect = load(platform)
    mesh = detect(snap).mesh
    assert (mesh.profile, mesh.platform, mesh.version, mesh.root_namespace) == (
        expect["profile"], expect["platform"], expect["version"], expect["root_namespace"])
    assert dict(mesh.injection_labels) == expect["injection_labels"]
    # recorded per platform: what the profile lacks beyond what no cluster claims (CLUSTER_FEATURES)
    assert CLUSTER_FEATURES - mesh.features == set(expect["without_features"])


@pytest.mark.parametrize("platform", platforms())
def test_ingress_gateway_is_found(platform):
    snap, expect = load(platform)
    gateway = find_ingress(snap, detect(snap).mesh)
    assert gateway is not None and gateway.describe() == expect["ingress"]


def test_every_platform_has_a_recording():
    assert {p.values[0] for p in platforms()} >= {"upstream", "revision-canary", "asm-managed", "aks",
                                                   "ossm2", "ossm3", "ambient"}


def test_ossm2_names_its_control_plane_for_enrolment():
    snap, _ = load("ossm2")
    assert detect(snap).control_plane == ("istio-system", "basic")


def test_aks_gateway_selector_is_the_external_one():
    snap, _ = load("aks")
    gateway = find_ingress(snap, detect(snap).mesh)
    assert gateway.selector == {"app": "aks-istio-ingressgateway-external",
                                "istio": "aks-istio-ingressgateway-external"}


def test_profile_option_overrides_detection():
    snap, _ = load("ambient")
    mesh = detect(snap, profile="upstream").mesh
    assert mesh.profile == "upstream"
    assert dict(mesh.injection_labels) == {"istio-injection": "enabled"}
    assert "sidecar" in mesh.features


def test_revision_option_overrides_the_default_tag():
    snap, _ = load("revision-canary")
    platform = detect(snap, revision="1-23-4")
    assert platform.revision == "1-23-4"
    assert dict(platform.mesh.injection_labels) == {"istio.io/rev": "1-23-4"}
    assert platform.mesh.version == "1.23.4"


def test_two_revisions_without_a_default_tag_ask_for_one():
    snap, _ = load("revision-canary")
    untagged = dataclasses.replace(snap, webhooks=tuple(
        h for h in snap.webhooks if "istio.io/tag" not in h["metadata"]["labels"]))
    with pytest.raises(ConfigError, match=r"several Istio revisions found \(1-23-4, 1-24-2\) and no 'default' "
                                          r"revision tag; pass --revision"):
        detect(untagged)


def test_a_revision_passed_alone_is_enough_with_two_revisions_and_no_default_tag():
    """Issue 12 item 7: ``--revision X`` must not be answered with "pass --revision"."""
    snap, _ = load("revision-canary")
    untagged = dataclasses.replace(snap, webhooks=tuple(
        h for h in snap.webhooks if "istio.io/tag" not in h["metadata"]["labels"]))
    platform = detect(untagged, revision="1-23-4")
    assert (platform.mesh.profile, platform.revision, platform.mesh.version) == ("revision", "1-23-4", "1.23.4")
    assert dict(platform.mesh.injection_labels) == {"istio.io/rev": "1-23-4"}


def test_the_mesh_profile_option_offers_exactly_the_profiles_detection_accepts():
    from meshproof.profiles import PROFILES as RECORDS, profile_help, profile_names

    assert profile_names() == PROFILES
    for name in profile_names():
        assert f"{name}: " in profile_help()
    snap, _ = load("upstream")
    for name in ("upstream", "ambient"):
        assert detect(snap, profile=name).mesh.profile == name
    assert detect(snap, profile="ambient").mesh.features == CLUSTER_FEATURES - RECORDS["ambient"].lacks


@pytest.mark.parametrize("profile, message", [
    ("linkerd", "unknown mesh profile 'linkerd'; choose one of upstream, revision, ossm2, ossm3, ambient"),
    ("istio", "unknown mesh profile 'istio'; choose one of upstream, revision, ossm2, ossm3, ambient"),
    ("ossm2", "profile 'ossm2' needs a ServiceMeshControlPlane; none found"),
    ("ossm3", "profile 'ossm3' needs an Istio resource (sailoperator.io); none found"),
    ("revision", "profile 'revision' needs a revision"),
])
def test_impossible_profile_is_one_clear_error(profile, message):
    snap, _ = load("upstream")
    with pytest.raises(ConfigError) as err:
        detect(snap, profile=profile)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_ingress_options_override_the_defaults():
    snap, _ = load("aks")
    mesh = detect(snap).mesh
    gateway = find_ingress(snap, mesh, selector={"istio": "aks-istio-ingressgateway-internal"})
    assert gateway.describe() == "aks-istio-ingress/aks-istio-ingressgateway-internal"
    assert find_ingress(snap, mesh, in_namespace="istio-system") is None
