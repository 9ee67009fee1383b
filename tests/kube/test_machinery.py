"""The kube backend's health query: a failed check is an infrastructure error when the API server is gone."""
from kubernetes import client

from meshproof.kube.cluster import KubeCluster
from meshproof.kube.reach import Reach

from .fake_api import FakeApi
from .test_preflight import closed_port


def _cluster(host: str) -> KubeCluster:
    config = client.Configuration()
    config.host = host
    cluster = KubeCluster.__new__(KubeCluster)  # only the API client is needed for the health query
    cluster.api = client.ApiClient(config)
    cluster.reach, cluster._forwards = Reach(), {}
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
    assert len(faults) == 1 and faults[0].startswith(f"cannot reach the Kubernetes API at {host}: ")


def test_an_api_server_refusing_the_credentials_is_a_fault():
    api = FakeApi(status=401)
    try:
        (fault,) = _cluster(api.url).machinery_faults()
        assert fault.startswith(f"the Kubernetes API at {api.url} rejected the credentials: ") and "401" in fault
    finally:
        api.close()


def test_a_path_to_pods_found_broken_is_a_fault_even_while_the_api_server_answers():
    """Issue 12 item 10: exec or logs refused by the kubelet is the suite's machinery, never the mesh's doing."""
    api = FakeApi()
    try:
        cluster = _cluster(api.url)
        cluster.reach.broken("exec in bookinfo/sleep", ConnectionResetError("kubelet closed the stream"))
        (fault,) = cluster.machinery_faults()
        assert fault == ("the suite cannot reach pods through the API server "
                         "(exec in bookinfo/sleep: kubelet closed the stream)")
    finally:
        api.close()
