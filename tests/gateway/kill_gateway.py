"""A child-run plugin for tests/gateway/test_machinery_fault.py: the reference gateway's Envoy dies before each check.

The SIGKILL comes from outside, as the OOM killer's or a crash would: the
suite's own machinery broke, the mesh under test did nothing wrong.
"""
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    envoy = item.funcargs["cluster"].gateway.envoy.process
    if envoy.alive():
        envoy.popen.kill()
        envoy.popen.wait()
