"""Weakened TLS settings of two defects.

``sidecar-negotiates-legacy-tls``: sidecars originate and accept mTLS only as TLS 1.2 with a CBC/SHA-1
suite (a mesh whose TLS settings were weakened on both sides; Envoy's default server suites would refuse
that suite, so the inbound side is weakened too).

``gateway-offers-legacy-tls`` and ``sidecar-accepts-legacy-tls``: the ingress gateway's TLS servers, or
the sidecars' inbound mTLS, accept TLS 1.0 and 1.1 and, besides Envoy's default server suites, CBC/SHA-1
ones (ECDHE with an ECDSA or RSA certificate, and static RSA key exchange); Envoy 1.40's BoringSSL still
negotiates all of them when asked to (measured with sslyze).
"""
from __future__ import annotations

import copy
from typing import Any

#: what the defective sidecars allow: TLS 1.2 at most, one suite outside every Mozilla recommendation
LEGACY_TLS_PARAMS = {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_2",
                        "cipher_suites": ["ECDHE-ECDSA-AES128-SHA"]}


def with_legacy_params(transport_socket: dict[str, Any]) -> dict[str, Any]:
    """A copy of an UpstreamTlsContext transport socket that negotiates :data:`LEGACY_TLS_PARAMS`."""
    socket = copy.deepcopy(transport_socket)
    socket["typed_config"]["common_tls_context"]["tls_params"] = dict(LEGACY_TLS_PARAMS)
    return socket


#: Envoy's default server cipher suites (TlsParameters.cipher_suites, envoy api v3 tls.proto), which a
#: ``cipher_suites`` list replaces rather than extends
ENVOY_SERVER_CIPHERS = ("[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]",
                        "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]",
                        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384")
#: what a defective server accepts: TLS 1.0 up, Envoy's suites and three outside every Mozilla recommendation
LEGACY_SERVER_TLS_PARAMS = {
    "tls_minimum_protocol_version": "TLSv1_0",
    "cipher_suites": [*ENVOY_SERVER_CIPHERS, "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-SHA"],
}
