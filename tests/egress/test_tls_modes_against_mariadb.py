"""Each ssl-mode against a real TLS-only MariaDB: the outcome the server gives, classified.

"It connected" proves nothing about verification (pymysql falls back
silently), so every success is checked with the TLS version and cipher the
*server* reports, and every failure with the classified outcome.
"""
from __future__ import annotations

import pytest

from meshproof.database import ACCESS_DENIED, PLAINTEXT_REFUSED
from meshproof.egress import account_for
from meshproof.database import ROWS_AS_JSON, TABLE
from meshproof.outcome import DB_ERROR, HOSTNAME_MISMATCH, OK, TLS_REJECTED, VERIFY_FAILED
from meshproof.sslmode import TLS_COMBINATIONS, MutualTls, SslMode, SslSetting, combination_id

SESSION_OK = OK(None)

@pytest.mark.parametrize("combination", TLS_COMBINATIONS, ids=combination_id)
def test_every_tls_mode_reads_the_rows_over_a_session_the_server_reports_as_tls(
    database, setting_for, query_database, combination
):
    setting = setting_for(combination)
    seen = query_database(database, setting, account_for(database, setting))
    assert seen.outcome == SESSION_OK, seen.output
    body = seen.json()
    assert body["tables"][TABLE] == ROWS_AS_JSON
    assert body["tls"]["version"].startswith("TLSv")
    assert body["tls"]["cipher"]


def test_disable_is_denied_by_the_tls_only_server(database, query_database):
    seen = query_database(database, SslSetting(SslMode.DISABLE), database.password_user)
    assert seen.outcome == DB_ERROR(PLAINTEXT_REFUSED["MariaDB"])


def test_disable_reads_plaintext_from_a_database_that_does_not_require_tls(
    database_without_required_tls, query_database
):
    """The defect the egress checks must catch: the session is accepted and is not TLS."""
    database = database_without_required_tls
    seen = query_database(database, SslSetting(SslMode.DISABLE), database.password_user)
    assert seen.outcome == SESSION_OK, seen.output
    assert seen.json()["tls"]["version"] == ""


def test_verify_ca_with_another_ca_fails_certificate_verification(database, query_database, artefacts):
    seen = query_database(database, SslSetting(SslMode.VERIFY_CA, ca=artefacts.wrong_ca), database.password_user)
    assert seen.outcome == TLS_REJECTED(VERIFY_FAILED), seen.output


def test_verify_ca_does_not_check_the_name(database, query_database):
    """verify-ca to the bare address succeeds where verify-full fails (next test): only the CA is checked."""
    seen = query_database(database, SslSetting(SslMode.VERIFY_CA, ca=database.ca_cert), database.password_user, database.host)
    assert seen.outcome == SESSION_OK, seen.output


def test_verify_full_to_an_address_not_in_the_certificate_fails_the_identity_check(database, query_database):
    assert database.host == "127.0.0.1" != database.server_name
    seen = query_database(database, SslSetting(SslMode.VERIFY_FULL, ca=database.ca_cert), database.password_user, database.host)
    assert seen.outcome == TLS_REJECTED(HOSTNAME_MISMATCH), seen.output


def test_the_x509_user_is_denied_without_a_client_certificate(database, query_database):
    seen = query_database(database, SslSetting(SslMode.VERIFY_CA, ca=database.ca_cert), database.x509_user)
    assert seen.outcome == DB_ERROR(ACCESS_DENIED)


def test_the_x509_user_gets_in_with_the_client_certificate(database, setting_for, query_database):
    seen = query_database(database, setting_for((SslMode.VERIFY_CA, MutualTls.ENABLE)), database.x509_user)
    assert seen.outcome == SESSION_OK, seen.output
