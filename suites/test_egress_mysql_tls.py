"""Egress TLS: does an in-mesh app still reach an external TLS-only MySQL while the mesh is STRICT?

Automates seeds 000 and 001.  The /query app runs in a mesh namespace behind
the ingress gateway (plain HTTP from outside, mTLS inside); the database is
outside the mesh and requires TLS.  With STRICT in force (for the namespace,
and again mesh-wide) the app gets its rows in every valid ssl-mode, and the
*database* reports the session as TLS: pymysql falls back to plaintext
silently, so "it connected" alone would prove nothing.  Each mode also fails
where the seed says it must: disable against a TLS-only server, a wrong CA,
a name not in the certificate, the X509 user without its certificate.  And
REGISTRY_ONLY blocks the database until a ServiceEntry registers it.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from meshproof import check, manifests
from meshproof.capabilities import mark
from meshproof.database import ACCESS_DENIED, LOST_CONNECTION
from meshproof.egress import account_for
from meshproof.database import ROWS_AS_JSON, TABLE
from meshproof.outcome import DB_ERROR, HOSTNAME_MISMATCH, OK, RESET, TLS_REJECTED, VERIFY_FAILED
from meshproof.peerauthn import STRICT
from meshproof.policies import outbound_traffic_policy, peer_authentication
from meshproof.sslmode import TLS_COMBINATIONS, MutualTls, SslMode, combination_id

pytestmark = [mark("egress-tls"),
              pytest.mark.requires("sidecar", "peer-authentication", "ingress-gateway", "external-database")]



@pytest.fixture(params=[pytest.param("namespace", id="namespace-STRICT"),
                        pytest.param("mesh", id="mesh-wide-STRICT", marks=pytest.mark.requires("mesh-wide-policy"))])
def strict(request, egress_scene, cluster, policies, traffic, timeouts):
    """STRICT for the app's namespace (or the whole mesh), proven in force before the test goes on."""
    app = egress_scene.app.workload
    scope = app.namespace if request.param == "namespace" else cluster.mesh().root_namespace
    policies.apply(peer_authentication(scope, STRICT))
    check.becomes(f"{request.param} STRICT is in force: a client without sidecar is reset by the app",
                  traffic.curl(egress_scene.legacy_sleep, app.url("/healthz")), RESET, timeouts)
    return egress_scene


@pytest.mark.parametrize("combination", TLS_COMBINATIONS, ids=combination_id)
def test_the_app_returns_the_rows_over_a_session_the_database_reports_as_tls(strict, combination, timeouts):
    setting = strict.artefacts.setting(*combination)
    strict.app.configure(setting, account_for(strict.database.database, setting))
    rows_over_tls = check.expect(OK(200)).and_(
        f"the app returned every row of {TABLE}", lambda seen: seen.json()["tables"].get(TABLE) == ROWS_AS_JSON,
    ).and_(
        "the database reports the session as TLS, with a version and a cipher",
        lambda seen: seen.json()["tls"]["version"].startswith("TLS") and bool(seen.json()["tls"]["cipher"]))
    check.becomes(f"GET /query through the ingress returns the rows ({setting.mode.value}, "
                  f"mutual TLS {setting.mutual_tls.value})", strict.app.query(), rows_over_tls, timeouts)


def test_disable_is_refused_by_the_tls_only_database(strict, timeouts):
    strict.app.configure(strict.artefacts.setting(SslMode.DISABLE), strict.database.database.password_user)
    refused = strict.database.refuses_plaintext_with
    check.becomes(f"ssl-mode disable gets the database's refusal ({strict.database.product}: {refused})",
                  strict.app.query(), DB_ERROR(refused), timeouts)


def test_verify_ca_with_another_ca_fails_certificate_verification(strict, timeouts):
    wrong_ca = replace(strict.artefacts.setting(SslMode.VERIFY_CA), ca=strict.artefacts.wrong_ca)
    strict.app.configure(wrong_ca, strict.database.database.password_user)
    check.becomes("verify-ca with a CA that did not issue the server certificate fails verification",
                  strict.app.query(), TLS_REJECTED(VERIFY_FAILED), timeouts)


def test_verify_full_to_a_name_not_in_the_certificate_fails(strict, timeouts):
    strict.app.configure(strict.artefacts.setting(SslMode.VERIFY_FULL), strict.database.database.password_user,
                         host=strict.database.unlisted_name)
    check.becomes(f"verify-full to {strict.database.unlisted_name} (not in the certificate) fails the name check",
                  strict.app.query(), TLS_REJECTED(HOSTNAME_MISMATCH), timeouts)


def test_the_x509_user_without_a_client_certificate_is_denied(strict, timeouts):
    strict.app.configure(strict.artefacts.setting(SslMode.VERIFY_FULL), strict.database.database.x509_user)
    check.becomes("the REQUIRE X509 user over TLS without a client certificate is denied",
                  strict.app.query(), DB_ERROR(ACCESS_DENIED), timeouts)


@pytest.mark.requires("egress-registry-only")
def test_registry_only_blocks_the_database_until_a_service_entry_registers_it(strict, policies, timeouts):
    app = strict.app
    setting = strict.artefacts.setting(SslMode.VERIFY_FULL, MutualTls.ENABLE)
    app.configure(setting, account_for(strict.database.database, setting))
    check.becomes("with the default ALLOW_ANY the app reaches the database", app.query(), OK(200), timeouts)

    policies.apply(outbound_traffic_policy(app.workload.namespace, "REGISTRY_ONLY"))
    check.becomes("REGISTRY_ONLY blocks the unregistered database (the sidecar drops the connection)",
                  app.query(), DB_ERROR(LOST_CONNECTION), timeouts)

    database = strict.database.database
    entry, = manifests.filled(manifests.load("egress/service-entry.yaml"),
                              {"DB_HOST": database.server_name, "DB_PORT_NUMBER": database.port})
    entry["metadata"]["namespace"] = app.workload.namespace
    policies.apply(entry)
    check.becomes("a ServiceEntry (TCP, MESH_EXTERNAL, tcp-mysql) lets the app reach the database again",
                  app.query(), OK(200), timeouts)
