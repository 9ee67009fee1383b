"""Private keys never reach a results file, whatever form they take."""
import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from meshproof.report import REDACTED, scrub, scrub_tree

CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"


def _pem(key, fmt) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _body_line(pem: str) -> str:
    return pem.splitlines()[1]


def test_pkcs8_rsa_key_is_redacted_and_surroundings_kept():
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), serialization.PrivateFormat.PKCS8)
    clean = scrub(f"exit code 0\n--- stdout\n{pem}{CERT}done")
    assert clean == f"exit code 0\n--- stdout\n{REDACTED}\n{CERT}done"


def test_traditional_ec_key_is_redacted():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL)
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----")
    clean = scrub(pem)
    assert _body_line(pem) not in clean and clean.strip() == REDACTED


def test_key_cut_off_by_truncated_output_is_redacted_to_the_end():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    assert scrub("body: " + pem[:80]) == "body: " + REDACTED


def test_key_inside_json_with_escaped_newlines_is_redacted():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    escaped = pem.replace("\n", "\\n")
    assert scrub('{"message": "' + escaped + '"}') == '{"message": "' + REDACTED + '\\n"}'


def test_base64_key_in_secret_data_is_redacted_but_a_base64_certificate_is_not():
    key = base64.b64encode(_pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8).encode()).decode()
    cert = base64.b64encode(CERT.encode()).decode()
    manifest = f"data:\n  tls.key: {key}\n  tls.crt: {cert}\n"
    assert scrub(manifest) == f"data:\n  tls.key: {REDACTED}\n  tls.crt: {cert}\n"


def test_bare_marker_is_lowercased_so_grep_finds_nothing():
    assert scrub('grep -rl "PRIVATE KEY" /etc/certs') == 'grep -rl "private key" /etc/certs'
    assert "PRIVATE KEY" not in scrub("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----")


def test_text_without_keys_is_unchanged():
    text = f"curl: (56) Recv failure: Connection reset by peer\n{CERT}"
    assert scrub(text) == text


def test_scrub_tree_rewrites_only_text_files_with_keys(tmp_path):
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    (tmp_path / "sub").mkdir()
    leaky = tmp_path / "sub" / "a-attachment.txt"
    leaky.write_text(pem)
    clean = tmp_path / "b-result.json"
    clean.write_text('{"status": "passed"}')
    binary = tmp_path / "c.png"
    binary.write_bytes(b"\x89PNG\xff\xfe-----BEGIN PRIVATE KEY-----")
    assert scrub_tree(tmp_path) == [leaky]
    assert leaky.read_text() == REDACTED + "\n"
    assert clean.read_text() == '{"status": "passed"}'
    assert binary.read_bytes() == b"\x89PNG\xff\xfe-----BEGIN PRIVATE KEY-----"


def test_no_key_reaches_any_file_of_a_run(fake_suite):
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    run = fake_suite(f"""
        from helpers import *
        KEY = {pem!r}

        @strict
        def test_leaks_key_in_probe_output_and_failure():
            becomes("key stays in the proxy", answers(KEY), RESET, FAST)
    """)
    assert run.result.ret == 1
    files = [p for p in run.reports.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"conformance.json", "conformance.yaml", "junit.xml", "categories.json"}
    assert any(p.name.endswith("-attachment.txt") for p in files)
    leaks = [p for p in files if b"PRIVATE KEY" in p.read_bytes() or _body_line(pem).encode() in p.read_bytes()]
    assert leaks == []
