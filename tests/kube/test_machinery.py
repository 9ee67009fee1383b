"""The kube backend's health query: a failed check is an infrastructure error when the API server is gone."""
from kubernetes import client

from meshproof.kube.cluster import KubeCluster

from .fake_api import FakeApi
from .test_preflight import closed_port


def _cluster(host: str) -> KubeCluster:
    config = client.Configuration()
    config.host = host
    cluster = KubeCluster.__new__(KubeCluster)  # only the API client is needed for the health query
    cluster.api = client.ApiClient(config)
    return cluster


def test_an_answering_api_server_is_no_fault():
    api = FakeApi()
    try:
        assert _cluster(api.url).machinery_faults() == []
    finally:
        api.close()


def test_an_api_server_that_is_gone_is_named():
    host = f"http://127.0.0.1:{closed_port()}"
    faults = _cluster(host).machinery_faults()
    assert len(faults) == 1 and faults[0].startswith(f"the API server at {host} does not answer: ")


def test_an_api_server_refusing_the_credentials_is_a_fault():
    api = FakeApi(status=401)
    try:
        (fault,) = _cluster(api.url).machinery_faults()
        assert "does not answer" in fault and "401" in fault
    finally:
        api.close()
