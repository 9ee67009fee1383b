"""The ssl-mode model of seed 001: every valid combination accepted, every mistake refused by name."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from meshproof.errors import ConfigError
from meshproof.sslmode import (
    ENV,
    RULE_COMBINATION,
    RULE_KEYSTORE_PASSWORD,
    RULE_MODE,
    RULE_MUTUAL,
    RULE_NEEDED,
    RULE_READABLE,
    RULE_SUPERFLUOUS,
    VALID,
    Artefact,
    MutualTls,
    SslMode,
    SslSetting,
    connect_kwargs,
)

PASSWORD = "changeme"


def setting(mode: SslMode, mutual: MutualTls, artefacts, directory: Path | None = None) -> SslSetting:
    """A setting carrying exactly ``artefacts``; given a directory they are real files there."""
    paths = {a.value: (directory or Path("/nonexistent")) / f"{a.value}.pem" for a in artefacts}
    if directory:
        for path in paths.values():
            path.write_text("placeholder\n")
    password = PASSWORD if Artefact.CLIENT_KEYSTORE in artefacts else None
    return SslSetting(mode, mutual, keystore_password=password, **paths)


def refusal(build) -> str:
    with pytest.raises(ConfigError) as raised:
        build()
    message = str(raised.value)
    assert "\n" not in message, "a refusal is one line"
    return message


def test_the_table_has_the_six_valid_combinations_of_seed_001():
    assert set(VALID) == {
        (SslMode.DISABLE, MutualTls.DISABLE),
        (SslMode.TRUST, MutualTls.DISABLE),
        (SslMode.VERIFY_CA, MutualTls.DISABLE),
        (SslMode.VERIFY_CA, MutualTls.ENABLE),
        (SslMode.VERIFY_FULL, MutualTls.DISABLE),
        (SslMode.VERIFY_FULL, MutualTls.ENABLE),
    }
    assert VALID[SslMode.VERIFY_FULL, MutualTls.ENABLE] == set(Artefact)
    assert VALID[SslMode.VERIFY_CA, MutualTls.DISABLE] == {Artefact.CA}
    assert VALID[SslMode.TRUST, MutualTls.DISABLE] == set()


@pytest.mark.parametrize("combination", sorted(VALID), ids=lambda c: f"{c[0].value}+mutual-{c[1].value}")
def test_a_valid_combination_with_exactly_its_artefacts_is_accepted(combination):
    valid = setting(*combination, VALID[combination])
    assert valid.validate() is valid


@pytest.mark.parametrize("mode", [SslMode.DISABLE, SslMode.TRUST], ids=lambda m: m.value)
def test_mutual_tls_without_verification_is_refused_by_the_combination_rule(mode):
    message = refusal(lambda: setting(mode, MutualTls.ENABLE, set(Artefact)).validate())
    assert RULE_COMBINATION in message
    assert repr(mode.value) in message


MISSING = [
    (combination, artefact)
    for combination, needed in sorted(VALID.items())
    for artefact in sorted(needed)
]


@pytest.mark.parametrize(
    "combination,artefact", MISSING, ids=[f"{c[0].value}+mutual-{c[1].value}-without-{a.value}" for c, a in MISSING]
)
def test_a_missing_artefact_is_refused_naming_it(combination, artefact):
    message = refusal(lambda: setting(*combination, VALID[combination] - {artefact}).validate())
    assert RULE_NEEDED in message
    assert artefact.env in message


SUPERFLUOUS = [
    (combination, artefact)
    for combination, needed in sorted(VALID.items())
    for artefact in sorted(set(Artefact) - needed)
]


@pytest.mark.parametrize(
    "combination,artefact",
    SUPERFLUOUS,
    ids=[f"{c[0].value}+mutual-{c[1].value}-with-{a.value}" for c, a in SUPERFLUOUS],
)
def test_a_superfluous_artefact_is_refused_naming_it(combination, artefact):
    message = refusal(lambda: setting(*combination, VALID[combination] | {artefact}).validate())
    assert RULE_SUPERFLUOUS in message
    assert artefact.env in message


def test_a_keystore_without_its_password_is_refused():
    needed = VALID[SslMode.VERIFY_FULL, MutualTls.ENABLE]
    paths = {a.value: Path("/nonexistent") / a.value for a in needed}
    message = refusal(lambda: SslSetting(SslMode.VERIFY_FULL, MutualTls.ENABLE, **paths).validate())
    assert RULE_KEYSTORE_PASSWORD in message
    assert ENV["keystore_password"] in message


@pytest.mark.parametrize("mode,mutual,rule", [("verify", "disable", RULE_MODE), ("trust", "yes", RULE_MUTUAL)])
def test_an_unknown_value_is_refused_listing_the_known_ones(mode, mutual, rule):
    message = refusal(lambda: SslSetting.parse(mode, mutual))
    assert rule in message
    assert "verify-full" in message if rule == RULE_MODE else "enable" in message


def test_the_environment_round_trips_and_defaults_to_disable():
    full = SslSetting.parse(
        "verify-full", "enable", ca="/ca.pem", client_cert="/c.pem", client_key="/k.pem",
        client_keystore="/ks.jks", keystore_password=PASSWORD,
    )
    assert SslSetting.from_env(full.as_env()) == full
    assert full.as_env()["DB_SSL_MODE"] == "verify-full"
    assert SslSetting.from_env({}) == SslSetting(SslMode.DISABLE, MutualTls.DISABLE)
    assert SslSetting.from_env({"DB_SSL_MODE": "Verify-CA", "DB_CA": "/ca.pem"}).mode is SslMode.VERIFY_CA


def test_an_unreadable_artefact_is_refused_before_connecting(scratch):
    missing = scratch / "db-ca.pem"
    message = refusal(lambda: connect_kwargs(SslSetting(SslMode.VERIFY_CA, ca=missing)))
    assert RULE_READABLE in message
    assert str(missing) in message


def test_an_invalid_combination_never_becomes_connect_arguments():
    message = refusal(lambda: connect_kwargs(SslSetting(SslMode.TRUST, MutualTls.ENABLE)))
    assert RULE_COMBINATION in message


def test_disable_forbids_tls():
    assert connect_kwargs(SslSetting(SslMode.DISABLE)) == {"ssl_disabled": True}


def test_trust_requires_tls_without_verifying():
    """pymysql without ssl arguments only *prefers* TLS; trust must hand it a context to insist on it."""
    kwargs = connect_kwargs(SslSetting(SslMode.TRUST))
    context = kwargs["ssl"]
    assert set(kwargs) == {"ssl"}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


@pytest.mark.parametrize("mutual", list(MutualTls), ids=lambda m: f"mutual-{m.value}")
@pytest.mark.parametrize("mode,identity", [(SslMode.VERIFY_CA, False), (SslMode.VERIFY_FULL, True)], ids=["verify-ca", "verify-full"])
def test_verify_modes_check_the_server_and_mutual_adds_the_client_certificate(scratch, mode, identity, mutual):
    valid = setting(mode, mutual, VALID[mode, mutual], scratch)
    kwargs = connect_kwargs(valid)
    expected = {"ssl_ca": str(valid.ca), "ssl_verify_cert": True, "ssl_verify_identity": identity}
    if mutual is MutualTls.ENABLE:
        expected.update(ssl_cert=str(valid.client_cert), ssl_key=str(valid.client_key))
    assert kwargs == expected
