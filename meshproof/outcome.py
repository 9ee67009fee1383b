"""The vocabulary of what a client saw, and the one classifier that maps raw results to it.

Tests assert on outcomes ("reset", "TLS rejected: unknown CA", "HTTP 200"),
never on exit codes.  An expected outcome leaves ``status``/``reason``/``code``
as None when any value is acceptable; a reason is only asserted where the
protocol makes it observable (TLS 1.2, or a TLS 1.3 alert read after the handshake).
"""
from __future__ import annotations

from dataclasses import dataclass

# kinds
OK_KIND = "OK"
RESET_KIND = "RESET"
TLS_KIND = "TLS_REJECTED"
REFUSED_KIND = "REFUSED"
TIMEOUT_KIND = "TIMEOUT"
DNS_KIND = "DNS_FAILURE"
DB_KIND = "DB_ERROR"
ERROR_KIND = "CLIENT_ERROR"
#: the peer closed the connection during the TLS handshake without sending an alert (curl's
#: ``SSL_ERROR_SYSCALL``, Python's ``SSLEOFError``): not a rejection the client could read a reason from
HANDSHAKE_DROPPED_KIND = "HANDSHAKE_DROPPED"
READY_KIND = "READY"
#: a sidecar's RBAC filter refused the request: HTTP 403 with Envoy's body ``RBAC: access denied``
#: (envoy source/extensions/filters/http/rbac/rbac_filter.cc); any other 403 is the app's, OK(403)
FORBIDDEN_KIND = "FORBIDDEN"
RBAC_DENIED_BODY = "RBAC: access denied"
NOT_READY_KIND = "NOT_READY"
#: the client's own sidecar could not get an answer from the upstream (refused, reset, failed mTLS) and answered
#: HTTP 503 itself, with Envoy's body ``upstream connect error or disconnect/reset before headers. [retried and the
#: latest ]reset reason: <reason>`` (envoy source/common/router/router.cc); any other 503 is the app's, OK(503)
UPSTREAM_FAILED_KIND = "UPSTREAM_FAILED"
UPSTREAM_FAILED_BODY = "upstream connect error or disconnect/reset before headers"
#: a listening port took plaintext: the server answered it, or held the connection open waiting for more
#: (meshproof.port_probe); ``reason`` says which
ACCEPTED_KIND = "ACCEPTED"
#: a gRPC Health/Check answer (grpc.health.v1.HealthCheckResponse.ServingStatus as reason)
HEALTH_KIND = "HEALTH"
#: a gRPC call the server answered with a status other than OK (the status code's name as reason)
GRPC_STATUS_KIND = "GRPC_STATUS"

# TLS rejection reasons
CERTIFICATE_REQUIRED = "certificate required"
UNKNOWN_CA = "unknown ca"
HANDSHAKE_FAILURE = "handshake failure"
CERTIFICATE_EXPIRED = "certificate expired"
BAD_CERTIFICATE = "bad certificate"
VERIFY_FAILED = "server certificate verify failed"
HOSTNAME_MISMATCH = "hostname mismatch"
PROTOCOL_VERSION = "protocol version"


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int | None = None
    reason: str | None = None
    code: int | None = None

    def matches(self, seen: "Outcome") -> bool:
        """True when ``seen`` is this expected outcome (None fields accept anything)."""
        if self.kind != seen.kind:
            return False
        return all(
            mine is None or mine == theirs
            for mine, theirs in ((self.status, seen.status), (self.reason, seen.reason), (self.code, seen.code))
        )

    def __str__(self) -> str:
        detail = self.status if self.status is not None else self.code if self.code is not None else self.reason
        return f"{self.kind}({detail})" if detail is not None else self.kind


def OK(status: int | None = 200) -> Outcome:
    return Outcome(OK_KIND, status=status)


def TLS_REJECTED(reason: str | None = None) -> Outcome:
    return Outcome(TLS_KIND, reason=reason)


def HEALTH(serving_status: str | None = None) -> Outcome:
    """What a gRPC health server answered: ``SERVING``, ``NOT_SERVING``, ``UNKNOWN`` or ``SERVICE_UNKNOWN``."""
    return Outcome(HEALTH_KIND, reason=serving_status)


def GRPC_STATUS(code: str | None = None) -> Outcome:
    """A gRPC server's error status by its name (``NOT_FOUND``, ``UNIMPLEMENTED``, ...)."""
    return Outcome(GRPC_STATUS_KIND, reason=code)


SERVING = HEALTH("SERVING")


def DB_ERROR(code: int | None = None) -> Outcome:
    return Outcome(DB_KIND, code=code)


RESET = Outcome(RESET_KIND)
REFUSED = Outcome(REFUSED_KIND)
TIMEOUT = Outcome(TIMEOUT_KIND)
DNS_FAILURE = Outcome(DNS_KIND)
HANDSHAKE_DROPPED = Outcome(HANDSHAKE_DROPPED_KIND)
FORBIDDEN = Outcome(FORBIDDEN_KIND, status=403)
#: the client sidecar's own 503 for an upstream it could not reach; ``reason`` is Envoy's reset reason
UPSTREAM_FAILED = Outcome(UPSTREAM_FAILED_KIND, status=503)
#: a pod's readiness: the kubelet's probes are the client, the backend reports their verdict
READY = Outcome(READY_KIND)
NOT_READY = Outcome(NOT_READY_KIND)
#: reasons of ``ACCEPTED``
ANSWERED, HELD_OPEN = "answered", "held open"
ACCEPTED = Outcome(ACCEPTED_KIND)


_TLS_REASONS = (
    ("certificate required", CERTIFICATE_REQUIRED),
    ("unknown ca", UNKNOWN_CA),
    ("unknown_ca", UNKNOWN_CA),
    ("certificate expired", CERTIFICATE_EXPIRED),
    ("certificate_expired", CERTIFICATE_EXPIRED),
    ("certificate has expired", CERTIFICATE_EXPIRED),
    ("bad certificate", BAD_CERTIFICATE),
    ("bad_certificate", BAD_CERTIFICATE),
    ("protocol version", PROTOCOL_VERSION),
    ("unsupported protocol", PROTOCOL_VERSION),
    ("handshake failure", HANDSHAKE_FAILURE),
    ("handshake_failure", HANDSHAKE_FAILURE),
    ("ip address mismatch", HOSTNAME_MISMATCH),
    ("hostname mismatch", HOSTNAME_MISMATCH),
    ("no alternative certificate subject name matches", HOSTNAME_MISMATCH),
    ("doesn't match", HOSTNAME_MISMATCH),
    ("certificate verify failed", VERIFY_FAILED),
    ("unable to get local issuer certificate", VERIFY_FAILED),
    ("self-signed certificate", VERIFY_FAILED),
    ("self signed certificate", VERIFY_FAILED),
)


def tls_reason(text: str) -> str | None:
    """The TLS alert or verification failure named in a client's message, if any."""
    lowered = text.lower()
    for needle, reason in _TLS_REASONS:
        if needle in lowered:
            return reason
    return None


# curl exit codes: https://curl.se/libcurl/c/libcurl-errors.html
_CURL_DNS = {6}
_CURL_REFUSED = {7}
_CURL_TIMEOUT = {28}
_CURL_HANDSHAKE = 35
_CURL_PEER_VERIFY = {60, 83, 90}
_CURL_TLS = {58, 59, 77, 80, 91}
_CURL_RECV_SEND = {52, 55, 56, 16}


def classify_curl(exit_code: int, stderr: str, http_status: int | None, body: str = "") -> Outcome:
    """Classify one curl run (``-sS -w '%{http_code}'``) from its exit code, message and response body.

    A 403 whose body is Envoy's RBAC denial is ``FORBIDDEN``, a proxy's 503 without upstream answer
    ``UPSTREAM_FAILED``, any other status ``OK(status)`` (:func:`classify_http`).

    A failed handshake (exit 35) is ``TLS_REJECTED(reason)`` only when curl
    names the alert it received; a reset during the handshake is ``RESET`` and
    a close without an alert (``SSL_ERROR_SYSCALL``) is ``HANDSHAKE_DROPPED``,
    as the raw outputs recorded in tests/test_outcome.py show.
    """
    if exit_code == 0 and http_status:
        return classify_http(http_status, body)
    reason = tls_reason(stderr)
    if exit_code == _CURL_HANDSHAKE:
        return _broken_handshake(stderr, reason)
    if exit_code in _CURL_PEER_VERIFY:  # the client refused the server's certificate
        return TLS_REJECTED(reason or VERIFY_FAILED)
    if exit_code in _CURL_TLS:
        return TLS_REJECTED(reason)
    if exit_code in _CURL_RECV_SEND:
        if reason is not None:  # TLS 1.3 delivers the server's alert after the client's handshake ended
            return TLS_REJECTED(reason)
        if exit_code == 16 or "ssl" in stderr.lower():  # the TLS exchange broke off: a rejection, reason unreadable
            return TLS_REJECTED(None)
        return RESET
    if exit_code in _CURL_DNS:
        return DNS_FAILURE
    if exit_code in _CURL_REFUSED:
        return REFUSED
    if exit_code in _CURL_TIMEOUT:
        return TIMEOUT
    return Outcome(ERROR_KIND, code=exit_code, reason=stderr.strip()[-200:] or None)


def classify_http(status: int, body: str) -> Outcome:
    """An HTTP answer: ``FORBIDDEN`` for the RBAC filter's 403, ``UPSTREAM_FAILED(reset reason)`` for a proxy's
    503 without upstream answer, else ``OK(status)``."""
    text = body.strip()
    if status == 403 and text == RBAC_DENIED_BODY:
        return FORBIDDEN
    if status == 503 and text.startswith(UPSTREAM_FAILED_BODY):
        reason = text.partition("reset reason: ")[2].split(",")[0].strip()
        return Outcome(UPSTREAM_FAILED_KIND, status=503, reason=reason or None)
    return OK(status)


def _broken_handshake(message: str, reason: str | None) -> Outcome:
    """What a client whose TLS handshake failed saw: an alert, a reset, a close without alert, or else."""
    lowered = message.lower()
    if reason is not None:
        return TLS_REJECTED(reason)
    if "reset by peer" in lowered:
        return RESET
    if any(sign in lowered for sign in _DROPPED_SIGNS):
        return HANDSHAKE_DROPPED
    return TLS_REJECTED(None)  # an alert or failure this classifier has no name for


#: how curl, OpenSSL and Python name a peer's close without alert in the middle of a handshake
_DROPPED_SIGNS = ("ssl_error_syscall", "unexpected eof", "unexpected_eof", "eof occurred in violation of protocol")


def classify_exception(exc: BaseException) -> Outcome:
    """Classify an exception raised by requests, urllib, ssl, socket or pymysql."""
    import socket
    import ssl

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        wrapped = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = seen.__cause__ or seen.__context__ or wrapped or getattr(seen, "reason", None)
        if not isinstance(seen, BaseException):
            seen = None
    text = " | ".join(f"{type(e).__name__}: {e}" for e in chain)
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return TLS_REJECTED(tls_reason(str(err)) or VERIFY_FAILED)
    for err in chain:
        if isinstance(err, ssl.SSLError):
            return _broken_handshake(text, tls_reason(text))
    # after the ssl errors: pymysql wraps a failed handshake in OperationalError(2003, ...)
    for err in chain:
        code = _mysql_code(err)
        if code is not None:
            return DB_ERROR(code)
    wrapped_tls = _wrapped_tls(text)
    if wrapped_tls is not None:
        return wrapped_tls
    for err in chain:
        if isinstance(err, ConnectionResetError) or "reset by peer" in str(err).lower():
            return RESET
        if isinstance(err, ConnectionRefusedError) or "refused" in str(err).lower():
            return REFUSED
        if isinstance(err, (socket.timeout, TimeoutError)) or "timed out" in str(err).lower():
            return TIMEOUT
        if isinstance(err, socket.gaierror) or "name or service not known" in str(err).lower():
            return DNS_FAILURE
    if "eof" in text.lower() and "ssl" in text.lower():
        return _broken_handshake(text, None)
    if "remotedisconnected" in text.lower() or "connection aborted" in text.lower():
        return RESET
    return Outcome(ERROR_KIND, reason=text[-200:])


def classify_database_error(code: int | None, message: str) -> Outcome:
    """A database error reported as code and message (the /query app's 502 body).

    As in :func:`classify_exception`, a TLS failure the driver wrapped in a
    connection error (2003 "...CERTIFICATE_VERIFY_FAILED...") is a TLS
    rejection, not the wrapper's code.
    """
    return _wrapped_tls(message) or DB_ERROR(code)


def _wrapped_tls(text: str) -> Outcome | None:
    """A TLS failure named inside another error's message: a driver's wrapper, the app's JSON."""
    reason = tls_reason(text)
    if reason is not None and ("ssl" in text.lower() or "tls" in text.lower()):
        return TLS_REJECTED(reason)
    return None


def _mysql_code(err: BaseException) -> int | None:
    """pymysql errors carry (code, message) in args; the code is what we assert on."""
    module = type(err).__module__ or ""
    if module.startswith("pymysql") and err.args and isinstance(err.args[0], int):
        return err.args[0]
    return None


_PYTHON_ERRORS = (
    ("ConnectionResetError", RESET),
    ("RemoteDisconnected", RESET),
    ("ConnectionRefusedError", REFUSED),
    ("gaierror", DNS_FAILURE),
    ("TimeoutError", TIMEOUT),
    ("timeout", TIMEOUT),
)


def classify_python_error(type_name: str, message: str) -> Outcome:
    """Classify an error a Python client printed as ``<type>: <message>`` inside a pod."""
    if "SSL" in type_name or "ssl" in message.lower():
        return _broken_handshake(f"{type_name}: {message}", tls_reason(message))
    for needle, outcome in _PYTHON_ERRORS:
        if needle in type_name or needle in message:
            return outcome
    return Outcome(ERROR_KIND, reason=f"{type_name}: {message}"[-200:])


#: a TCP exchange that got its reply (no status: TCP has none)
ECHOED = Outcome(OK_KIND)


def classify_tcp_exchange(exit_code: int, reply: str, error: str) -> Outcome:
    """One line sent over TCP (optionally TLS), the reply line read (or the close that came instead).

    ``error`` is what the client printed as ``<type>: <message>`` when it
    failed. A reply is ``ECHOED``. A connection the server closed before any
    reply is ``RESET``: that is how an Envoy listener with no filter chain for
    the connection (STRICT, plaintext) refuses it, by close or by reset,
    whichever the client saw first.
    """
    if exit_code == 0:
        return ECHOED if reply else RESET
    type_name, _, message = error.strip().rpartition("\n")[-1].partition(": ")
    return classify_python_error(type_name, message)


#: what the port prober (meshproof.port_probe) records for one port -> the outcome
_PORT_PROBE = {
    "answered": Outcome(ACCEPTED_KIND, reason=ANSWERED),
    "open": Outcome(ACCEPTED_KIND, reason=HELD_OPEN),
    "reset": RESET,
    "closed": RESET,
    "refused": REFUSED,
    "timeout": TIMEOUT,
}


def classify_port_probe(result: str, detail: str = "") -> Outcome:
    """One plaintext probe of a listening port (meshproof.port_probe), by what the prober saw.

    ``answered``: bytes came back, so plaintext reached a server. ``open``: the
    connection was still open, with no reply, when the per-port window ended: a
    server took the bytes and waits for more (a sidecar that refuses plaintext
    under STRICT closes at once, having found no filter chain for it).
    ``reset`` or ``closed`` before any reply is ``RESET``, as
    :func:`classify_tcp_exchange` counts it: how an Envoy listener with no
    filter chain for plaintext refuses it.  ``refused`` (nothing accepted the
    SYN), ``timeout`` (no SYN-ACK within the window); anything else is a client error.
    """
    outcome = _PORT_PROBE.get(result)
    if outcome is not None:
        return outcome
    return Outcome(ERROR_KIND, reason=f"{result}: {detail}"[-200:])


#: gRPC codes a client library reports for a failure of its own connection or deadline, not a server's answer
_GRPC_TRANSPORT = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN", "INTERNAL")
#: how grpcio (C core) words a connection the peer closed or reset before the HTTP/2 exchange completed
_GRPC_CLOSED = ("reset by peer", "socket closed", "connection closed", "end of tcp stream", "broken pipe")


def classify_grpc_error(code: str, details: str) -> Outcome:
    """A failed gRPC call, from its status code name (``grpc.StatusCode.X.name``) and details.

    A status the server sent (``NOT_FOUND`` for an unknown health service,
    ``UNIMPLEMENTED`` for a server without the health service) is
    ``GRPC_STATUS(code)``.  A failure of the client's own connection is named
    as for other clients: a peer that closed or reset it is ``RESET`` (an Envoy
    listener with no filter chain for plaintext), ``REFUSED``, ``TIMEOUT`` for a
    deadline that ran out, ``DNS_FAILURE``; anything else is a client error
    with the details.
    """
    lowered = details.lower()
    if code not in _GRPC_TRANSPORT:
        return GRPC_STATUS(code)
    if code == "DEADLINE_EXCEEDED" or "timed out" in lowered or "deadline exceeded" in lowered:
        return TIMEOUT
    if any(sign in lowered for sign in _GRPC_CLOSED):
        return RESET
    if "refused" in lowered:
        return REFUSED
    if "dns resolution failed" in lowered or "name or service not known" in lowered:
        return DNS_FAILURE
    return Outcome(ERROR_KIND, reason=f"{code}: {details}"[-200:])
