"""The lifetime a pod asks its agent for, and when the agent renews (no mesh)."""
from __future__ import annotations

import datetime as dt

import pytest

from meshproof.errors import ConfigError
from meshproof.local.rotation import go_duration, renewal_delay, secret_ttl
from meshproof.posture import PROXY_CONFIG_ANNOTATION, short_ttl_annotation


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1h30m", 5400), ("24h", 86400), ("1500ms", 1.5)])
def test_go_durations(text, seconds):
    assert go_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["30", "thirty seconds", "1d", "30s "])
def test_a_malformed_duration_is_one_line(text):
    with pytest.raises(ConfigError, match="is not a duration such as 30s, 10m or 24h"):
        go_duration(text)


def test_the_annotation_the_check_sets_asks_for_its_lifetime_and_the_agent_renews_at_half():
    ttl = secret_ttl(short_ttl_annotation(30))
    assert ttl == dt.timedelta(seconds=30) and renewal_delay(ttl) == 15.0


def test_pods_without_the_setting_keep_the_default():
    assert secret_ttl(None) is None
    assert secret_ttl({PROXY_CONFIG_ANNOTATION: "holdApplicationUntilProxyStarts: true"}) is None


def test_a_proxy_config_that_is_not_yaml_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="annotation proxy.istio.io/config is not YAML"):
        secret_ttl({PROXY_CONFIG_ANNOTATION: "proxyMetadata: {SECRET_TTL: [30s"})
