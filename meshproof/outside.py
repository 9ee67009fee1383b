"""Clients outside the mesh that call the ingress gateway by its host name.

The gateway is reached at whatever address the backend gives (a load
balancer, a port-forward on 127.0.0.1) while TLS must carry the host name
the Gateway serves: curl gets ``--resolve``, ``requests`` an adapter that
connects to the address and sends the name as SNI, Host and the name to verify.
"""
from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass

from cryptography import x509

from .cluster import Endpoint
from .probe import LEGACY_CIPHERS, LEGACY_VERSIONS, ProbeResult, TLSOptions, curl_outside, python_call


@dataclass(frozen=True)
class GatewayAddress:
    """A host name the gateway serves and the endpoint at which this machine reaches it."""

    host: str
    endpoint: Endpoint

    def url(self, path: str = "/") -> str:
        return f"https://{self.host}:{self.endpoint.port}{path}"


@dataclass(frozen=True)
class ClientTLS:
    """What an outside client presents and trusts; ``max_version="1.2"`` makes alert reasons observable;
    ``min_version`` and ``max_version`` "1.1" make a client that offers only TLS 1.1."""

    ca: str | None = None
    cert: tuple[str, str] | None = None  # (certificate chain, key) paths
    max_version: str | None = None
    min_version: str | None = None


def curl(address: GatewayAddress, path: str, client: ClientTLS, *, timeout: float) -> ProbeResult:
    """The seed's ``curl --cacert ... --cert ... --key ... https://$GATEWAY_URL``."""
    endpoint = address.endpoint
    options = TLSOptions(
        ca=client.ca, cert=client.cert[0] if client.cert else None, key=client.cert[1] if client.cert else None,
        max_version=client.max_version, resolve=f"{address.host}:{endpoint.port}:{endpoint.host}",
        min_version=client.min_version,
    )
    return curl_outside(address.url(path), timeout=timeout, tls=options)


def _client_context(client: ClientTLS) -> ssl.SSLContext:
    """urllib3's default context limited to the client's versions; TLS 1.0 / 1.1 at OpenSSL security level 0."""
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context()
    with warnings.catch_warnings():  # Python deprecates TLS 1.0 / 1.1, which a legacy client uses on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        if client.min_version:
            context.minimum_version = ssl.TLSVersion[f"TLSv{client.min_version.replace('.', '_')}"]
            if client.min_version in LEGACY_VERSIONS:
                context.set_ciphers(LEGACY_CIPHERS)
        if client.max_version:
            context.maximum_version = ssl.TLSVersion[f"TLSv{client.max_version.replace('.', '_')}"]
    return context


def _adapter(server_name: str, client: ClientTLS):
    from requests.adapters import HTTPAdapter

    class NamedHostAdapter(HTTPAdapter):
        """Connect to an address, speak TLS to a name: what ``curl --resolve`` does."""

        def init_poolmanager(self, *args, **kwargs):
            kwargs["server_hostname"] = kwargs["assert_hostname"] = server_name
            if client.max_version or client.min_version:
                kwargs["ssl_context"] = _client_context(client)
            super().init_poolmanager(*args, **kwargs)

    return NamedHostAdapter()


def requests_get(address: GatewayAddress, path: str, client: ClientTLS, *, timeout: float) -> ProbeResult:
    """A partner's Python client: ``requests.get(url, cert=(crt, key), verify=ca)``."""
    import requests

    endpoint = address.endpoint
    url = f"https://{endpoint.host}:{endpoint.port}{path}"

    def call() -> tuple[int, str]:
        with requests.Session() as session:
            session.mount("https://", _adapter(address.host, client))
            response = session.get(url, headers={"Host": f"{address.host}:{endpoint.port}"}, timeout=timeout,
                                   verify=client.ca or True, cert=client.cert)
            return response.status_code, response.text

    shown = f"requests.get({address.url(path)!r}, verify={client.ca!r}, cert={client.cert!r}"
    shown += f", TLS >= {client.min_version}" if client.min_version else ""
    shown += f", TLS <= {client.max_version})" if client.max_version else ")"
    return python_call(f"outside (requests) -> {address.url(path)}", f"{shown}  # connected to {endpoint.host}:{endpoint.port}", call)


CLIENTS = {"curl": curl, "requests": requests_get}


def served_certificate(address: GatewayAddress, *, timeout: float) -> x509.Certificate:
    """The certificate the gateway presents for its host name (not verified: this reads, it does not trust)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address.endpoint.host, address.endpoint.port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=address.host) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)
