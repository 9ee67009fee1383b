"""The defect ``sidecar-negotiates-legacy-tls``: sidecars originate and accept mTLS only as TLS 1.2 with a
CBC/SHA-1 suite (a mesh whose TLS settings were weakened on both sides; Envoy's default server suites
would refuse that suite, so the inbound side is weakened too)."""
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
