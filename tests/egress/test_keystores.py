"""PKCS#12 and JKS client keystores built from PEM, read back: alias, chain, key, password."""
from __future__ import annotations

import stat

import pytest

from meshproof.errors import ConfigError
from meshproof.keystores import ALIAS, build_jks, build_pkcs12, read_keystore
from meshproof.pki import CertificateAuthority, write_private
from meshproof.sslmode import RULE_KEYSTORE_MATCHES, MutualTls, SslMode, SslSetting, check_keystore

PASSWORD = "changeme"
FORMATS = {"pkcs12": (build_pkcs12, "client-keystore.p12"), "jks": (build_jks, "client-keystore.jks")}


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("meshproof database CA")


@pytest.fixture(scope="module")
def client(ca):
    return ca.issue("mariadbclient", server=False)


@pytest.fixture(params=sorted(FORMATS))
def keystore(request, scratch, client):
    build, name = FORMATS[request.param]
    return write_private(scratch / name, build(client.cert_pem, client.key_pem(), PASSWORD))


def test_the_keystore_holds_the_client_entry_under_the_seed_alias(keystore, client, ca):
    entry = read_keystore(keystore, PASSWORD)
    assert entry.alias == ALIAS == "mariadbclient"
    assert entry.chain == (client.cert,)
    assert entry.key_matches()
    entry.certificate.verify_directly_issued_by(ca.cert)
    assert entry.holds(client.cert_pem, client.key_pem())


def test_the_keystore_is_private_to_its_owner(keystore):
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600


def test_a_wrong_password_does_not_open_the_keystore(keystore):
    with pytest.raises(ConfigError, match="wrong password"):
        read_keystore(keystore, "not-" + PASSWORD)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_pem_bundle_becomes_the_chain_in_its_order(fmt, scratch, ca):
    """The leaf first, then what followed it in the PEM (the CA here), as keytool keeps a chain."""
    leaf = ca.issue("mariadbclient", server=False)
    build, name = FORMATS[fmt]
    path = write_private(scratch / name, build(leaf.cert_pem + ca.cert_pem, leaf.key_pem(), PASSWORD))
    assert read_keystore(path, PASSWORD).chain == (leaf.cert, ca.cert)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_key_that_is_not_the_certificates_is_refused(fmt, client, ca):
    stranger = ca.issue("someone else", server=False)
    build, _name = FORMATS[fmt]
    with pytest.raises(ConfigError, match="does not match"):
        build(client.cert_pem, stranger.key_pem(), PASSWORD)


def _mutual_setting(scratch, client, keystore) -> SslSetting:
    ca_file = scratch / "db-ca.pem"
    ca_file.write_bytes(client.cert_pem)
    cert, key = client.write(scratch, "db-client")
    return SslSetting(
        SslMode.VERIFY_FULL, MutualTls.ENABLE, ca=ca_file, client_cert=cert, client_key=key,
        client_keystore=keystore, keystore_password=PASSWORD,
    )


def test_a_keystore_holding_the_client_material_passes_the_keystore_check(scratch, client, keystore):
    setting = _mutual_setting(scratch, client, keystore)
    assert check_keystore(setting) is setting


def test_a_keystore_of_another_client_is_refused_by_name(scratch, client, ca):
    other = ca.issue("another client", server=False)
    keystore = write_private(scratch / "other.jks", build_jks(other.cert_pem, other.key_pem(), PASSWORD))
    with pytest.raises(ConfigError, match=RULE_KEYSTORE_MATCHES):
        check_keystore(_mutual_setting(scratch, client, keystore))
