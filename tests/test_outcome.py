"""The classifier, fed with what curl and Python really printed on this machine (DESIGN.md)."""
from __future__ import annotations

import socket
import ssl

import pytest

from meshproof.outcome import (
    CERTIFICATE_REQUIRED, HANDSHAKE_DROPPED, HANDSHAKE_FAILURE, HOSTNAME_MISMATCH, OK, PROTOCOL_VERSION, RESET, REFUSED,
    TIMEOUT, TLS_REJECTED, UNKNOWN_CA,
    DNS_FAILURE, VERIFY_FAILED, Outcome, classify_curl, classify_database_error, classify_exception,
    classify_python_error, FORBIDDEN, UPSTREAM_FAILED, classify_http, GRPC_STATUS, HEALTH, SERVING,
    classify_grpc_error,
)
from meshproof.probe import STATUS_MARK, parse_curl


@pytest.mark.parametrize("exit_code, stderr, expected", [
    (56, "curl: (56) Recv failure: Connection reset by peer", RESET),
    (35, "curl: (35) OpenSSL/3.0.19: error:0A000410:SSL routines::sslv3 alert handshake failure",
     TLS_REJECTED(HANDSHAKE_FAILURE)),
    (35, "curl: (35) error:1401E418:SSL routines:CONNECT_CR_FINISHED:tlsv1 alert unknown ca", TLS_REJECTED(UNKNOWN_CA)),
    (56, "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0",
     TLS_REJECTED(CERTIFICATE_REQUIRED)),
    (16, "curl: (16) Send failure: Broken pipe", TLS_REJECTED(None)),
    (7, "curl: (7) Failed to connect to details port 9080: Connection refused", REFUSED),
    (28, "curl: (28) Operation timed out after 5001 milliseconds", TIMEOUT),
    (6, "curl: (6) Could not resolve host: details", DNS_FAILURE),
    (60, "curl: (60) SSL certificate problem: unable to get local issuer certificate", TLS_REJECTED(VERIFY_FAILED)),
    # a client offering only TLS 1.1 (--tlsv1.1 --tls-max 1.1) to Envoy's TLS 1.2 floor: the server's alert
    (35, "curl: (35) OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol version",
     TLS_REJECTED(PROTOCOL_VERSION)),
])
def test_curl_failures_are_classified_by_exit_code_and_message(exit_code, stderr, expected):
    seen = classify_curl(exit_code, stderr, None)
    assert seen == expected


def test_a_curl_answer_carries_its_http_status():
    outcome, body = parse_curl(0, '{"id": 1}' + STATUS_MARK + "503", "")
    assert outcome == OK(503) and body == '{"id": 1}'


def test_rbacs_403_is_forbidden_and_an_apps_own_403_is_an_answer():
    """Envoy's RBAC filter answers a denied request with 403 and the body ``RBAC: access denied``."""
    outcome, _ = parse_curl(0, "RBAC: access denied" + STATUS_MARK + "403", "")
    assert outcome == FORBIDDEN and not OK(403).matches(outcome)
    outcome, _ = parse_curl(0, '{"error": "no"}' + STATUS_MARK + "403", "")
    assert outcome == OK(403)
    assert classify_http(403, "RBAC: access denied\n") == FORBIDDEN and classify_http(200, "") == OK(200)


@pytest.mark.parametrize("body, reason", [
    # measured on the reference mesh: DISABLE toward a STRICT server (the server's sidecar closes the connection)
    ("upstream connect error or disconnect/reset before headers. reset reason: connection termination",
     "connection termination"),
    # ISTIO_MUTUAL toward a server without sidecar, or naming another identity: the handshake fails, istiod's
    # default retries run out
    ("upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote "
     "connection failure", "remote connection failure"),
    # as Istio's users report it, with the TLS error appended
    ("upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote "
     "connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:"
     "CERTIFICATE_VERIFY_FAILED:TLS_error_end", "remote connection failure"),
])
def test_the_client_sidecars_own_503_is_upstream_failed_and_an_apps_503_is_an_answer(body, reason):
    """Envoy's router answers 503 with ``upstream connect error ...`` when it got no response from upstream."""
    outcome, _ = parse_curl(0, body + STATUS_MARK + "503", "")
    assert outcome == Outcome("UPSTREAM_FAILED", status=503, reason=reason)
    assert UPSTREAM_FAILED.matches(outcome) and not OK(503).matches(outcome)
    assert classify_http(503, '{"error": "overloaded"}') == OK(503)


def test_an_expected_outcome_without_reason_accepts_any_reason_but_not_another_kind():
    assert TLS_REJECTED().matches(TLS_REJECTED(UNKNOWN_CA))
    assert not TLS_REJECTED(HANDSHAKE_FAILURE).matches(TLS_REJECTED(UNKNOWN_CA))
    assert not OK(200).matches(OK(503))
    assert not RESET.matches(TLS_REJECTED())


def test_python_exceptions_are_classified():
    assert classify_exception(ConnectionResetError(104, "Connection reset by peer")) == RESET
    assert classify_exception(ConnectionRefusedError(111, "Connection refused")) == REFUSED
    assert classify_exception(socket.timeout("timed out")) == TIMEOUT
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                             "IP address mismatch, certificate is not valid for '10.0.0.1'.")
    assert classify_exception(verify) == TLS_REJECTED(HOSTNAME_MISMATCH)


def test_a_pymysql_error_is_a_database_error_with_its_code():
    import pymysql

    assert classify_exception(pymysql.err.OperationalError(1045, "Access denied for user 'app'")) == Outcome("DB_ERROR", code=1045)


WRAPPED_VERIFY_FAILURE = ("Can't connect to MySQL server on 'mysql.external.example' ([SSL: CERTIFICATE_VERIFY_FAILED] "
                          "certificate verify failed: unable to get local issuer certificate (_ssl.c:1006))")


def test_a_tls_failure_pymysql_wraps_in_2003_is_a_tls_rejection():
    import pymysql

    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLError as inner:
            raise pymysql.err.OperationalError(2003, WRAPPED_VERIFY_FAILURE) from inner
    except pymysql.err.OperationalError as wrapped:
        assert classify_exception(wrapped) == TLS_REJECTED(VERIFY_FAILED)


@pytest.mark.parametrize("code, message, expected", [
    (2003, WRAPPED_VERIFY_FAILURE, TLS_REJECTED(VERIFY_FAILED)),
    (2003, "Can't connect to MySQL server on '10.244.0.9' ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
           "failed: Hostname mismatch, certificate is not valid for 'db-alias.example'. (_ssl.c:1006))",
     TLS_REJECTED(HOSTNAME_MISMATCH)),
    (1045, "Access denied for user 'app'@'10.244.0.5' (using password: YES)", Outcome("DB_ERROR", code=1045)),
    (3159, "Connections using insecure transport are prohibited while --require_secure_transport=ON.",
     Outcome("DB_ERROR", code=3159)),
    (2013, "Lost connection to MySQL server during query", Outcome("DB_ERROR", code=2013)),
])
def test_the_query_apps_database_errors_are_classified(code, message, expected):
    assert classify_database_error(code, message) == expected


@pytest.mark.parametrize("type_name, message, expected", [
    ("ConnectionResetError", "[Errno 104] Connection reset by peer", RESET),
    ("RemoteDisconnected", "Remote end closed connection without response", RESET),
    ("SSLError", "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca", TLS_REJECTED(UNKNOWN_CA)),
    ("gaierror", "[Errno -2] Name or service not known", DNS_FAILURE),
])
def test_errors_printed_by_the_in_pod_python_client_are_classified(type_name, message, expected):
    assert classify_python_error(type_name, message) == expected


#: What clients printed, measured on this machine (curl 7.88.1 with OpenSSL 3.0.19, Python 3.11's ssl) against the
#: reference mesh's real Envoy (the BoringSSL of the Envoy Istio ships): a MUTUAL ingress gateway and a STRICT
#: inbound sidecar, each called without a client certificate, with ``--tls-max`` 1.2 and 1.3.  Under TLS 1.2 the
#: server's ``handshake_failure`` alert ends the handshake and every client names it, so the gateway and sidecar
#: checks assert TLS_REJECTED(handshake failure) with TLS 1.2.  Under TLS 1.3 the client's handshake is over before
#: the server checks the certificate: curl races the ``certificate_required`` alert against the close and sees
#: either, so no check asserts a TLS 1.3 reason from curl.
MEASURED_ON_THE_REFERENCE_MESH = [
    ("gateway, curl, TLS 1.2", 35,
     "curl: (35) OpenSSL/3.0.19: error:0A000410:SSL routines::sslv3 alert handshake failure",
     TLS_REJECTED(HANDSHAKE_FAILURE)),
    ("gateway, curl, TLS 1.3 (alert lost to the close)", 56, "curl: (56) Recv failure: Connection reset by peer",
     RESET),
    ("gateway, curl, TLS 1.3 (alert read)", 56,
     "curl: (56) OpenSSL SSL_read: OpenSSL/3.0.19: error:0A00045C:SSL routines::tlsv13 alert certificate required, "
     "errno 0", TLS_REJECTED(CERTIFICATE_REQUIRED)),
    ("sidecar, curl, TLS 1.2", 35,
     "curl: (35) OpenSSL/3.0.19: error:0A000410:SSL routines::sslv3 alert handshake failure",
     TLS_REJECTED(HANDSHAKE_FAILURE)),
    ("sidecar, curl, TLS 1.3", 55, "curl: (55) Send failure: Broken pipe", RESET),
    ("sidecar, curl, TLS 1.3 (default)", 55,
     "curl: (55) getpeername() failed with errno 107: Transport endpoint is not connected", RESET),
    # a server that reads the ClientHello and closes (FIN) or resets (RST) without an alert, TLS 1.2 and 1.3 alike
    ("dropped during the handshake, curl", 35,
     "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:40109", HANDSHAKE_DROPPED),
    ("reset during the handshake, curl", 35, "curl: (35) Recv failure: Connection reset by peer", RESET),
]


@pytest.mark.parametrize("exit_code, stderr, expected",
                         [case[1:] for case in MEASURED_ON_THE_REFERENCE_MESH],
                         ids=[case[0] for case in MEASURED_ON_THE_REFERENCE_MESH])
def test_what_curl_saw_on_the_reference_mesh_is_classified_as_what_it_was(exit_code, stderr, expected):
    assert classify_curl(exit_code, stderr, None) == expected


def test_a_handshake_dropped_without_alert_is_no_tls_rejection():
    """A gateway that drops connections must not pass a check expecting a handshake alert (issue 10 item 9)."""
    dropped = classify_curl(35, "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:40109",
                            None)
    assert not TLS_REJECTED(HANDSHAKE_FAILURE).matches(dropped) and not TLS_REJECTED().matches(dropped)
    assert str(dropped) == "HANDSHAKE_DROPPED"


MEASURED_FROM_PYTHON = [
    # requests against the MUTUAL gateway without a client certificate
    ("gateway, requests, TLS 1.2", "SSLError: HTTPSConnectionPool(host='127.0.0.1', port=36367): Max retries exceeded "
     "with url: /headers (Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake "
     "failure (_ssl.c:1006)')))", TLS_REJECTED(HANDSHAKE_FAILURE)),
    ("gateway, requests, TLS 1.3", "SSLError: HTTPSConnectionPool(host='127.0.0.1', port=36367): Max retries exceeded "
     "with url: /headers (Caused by SSLError(SSLError(1, '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert "
     "certificate required (_ssl.c:2580)')))", TLS_REJECTED(CERTIFICATE_REQUIRED)),
]


@pytest.mark.parametrize("printed, expected", [case[1:] for case in MEASURED_FROM_PYTHON],
                         ids=[case[0] for case in MEASURED_FROM_PYTHON])
def test_what_requests_saw_on_the_reference_mesh_is_classified_as_what_it_was(printed, expected):
    type_name, _, message = printed.partition(": ")
    assert classify_python_error(type_name, message) == expected


def test_python_sees_a_dropped_handshake_as_curl_does():
    """Measured: Python's ssl reports the same close without alert as SSLEOFError, a reset as ConnectionResetError."""
    eof = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (_ssl.c:1006)")
    assert classify_exception(eof) == HANDSHAKE_DROPPED
    assert classify_python_error("SSLEOFError", "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of "
                                                "protocol (_ssl.c:1006)") == HANDSHAKE_DROPPED
    assert classify_exception(ConnectionResetError(104, "Connection reset by peer")) == RESET


def test_pythons_report_of_a_protocol_version_alert_is_that_rejection():
    """requests offering only TLS 1.1 to Envoy's TLS 1.2 floor, as it printed the error (tests/posture/test_tls_scan.py
    provokes it live)."""
    seen = classify_python_error("SSLError", "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version "
                                             "(_ssl.c:1006)")
    assert seen == TLS_REJECTED(PROTOCOL_VERSION)


@pytest.mark.parametrize("code, details, expected", [
    ("UNAVAILABLE", "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:15798: "
                    "recvmsg:Connection reset by peer (104)", RESET),
    ("UNAVAILABLE", "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:15799: "
                    "Failed to connect to remote host: Connection refused", REFUSED),
    ("DEADLINE_EXCEEDED", "Deadline Exceeded", TIMEOUT),
    ("NOT_FOUND", "unknown service", GRPC_STATUS("NOT_FOUND")),
    ("UNIMPLEMENTED", "Method not found!", GRPC_STATUS("UNIMPLEMENTED")),
    ("UNAVAILABLE", "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:15701: Failed "
                    "parsing HTTP/2 (Expected SETTINGS frame as the first frame, got frame type 79)",
     Outcome("CLIENT_ERROR")),
])
def test_what_grpcio_saw_is_classified(code, details, expected):
    """grpcio 1.85 (C core) on this machine: a Health/Check to a server that reset the connection, to a closed port,
    to a server that never answered (1 s deadline), to agnhost with an unknown service, to a server without the
    health service, and to an HTTP/1.1 server."""
    assert expected.matches(classify_grpc_error(code, details))


def test_a_health_answer_is_its_serving_status():
    assert SERVING.matches(HEALTH("SERVING")) and not SERVING.matches(HEALTH("NOT_SERVING"))
    assert str(HEALTH("NOT_SERVING")) == "HEALTH(NOT_SERVING)"
