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


# --- key material in every form it reaches a file in (issue 9, item 6) ---------------------------

def _der(key, fmt) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def test_pem_block_with_a_lowercased_end_line_is_redacted_and_what_follows_kept():
    """What junit.xml held when the temp dir was full: the END line lower-cased."""
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    mangled = pem.replace("-----END PRIVATE KEY-----", "-----end private key-----")
    assert scrub(f"<failure>{mangled}</failure> next") == f"<failure>{REDACTED}\n</failure> next"


def test_pem_block_in_any_letter_case_is_redacted():
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), serialization.PrivateFormat.TraditionalOpenSSL)
    for variant in (pem.lower(), pem.replace("BEGIN RSA PRIVATE KEY", "Begin Rsa Private Key")):
        clean = scrub(variant)
        assert clean.strip() == REDACTED, variant[:40]


def test_base64_of_a_lowercased_pem_is_redacted():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8).lower()
    assert scrub("tls.key: " + base64.b64encode(pem.encode()).decode()) == "tls.key: " + REDACTED


def test_base64_der_keys_are_redacted_in_every_structure():
    """PKCS#8 and PKCS#1 RSA, SEC1 EC, PKCS#8 Ed25519: each one parsed by cryptography."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ders = {
        "pkcs8-rsa": _der(rsa_key, serialization.PrivateFormat.PKCS8),
        "pkcs1-rsa": _der(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL),
        "sec1-ec": _der(ec_key, serialization.PrivateFormat.TraditionalOpenSSL),
        "pkcs8-ec": _der(ec_key, serialization.PrivateFormat.PKCS8),
        "pkcs8-ed25519": _der(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.PKCS8),
    }
    for name, der in ders.items():
        encoded = base64.b64encode(der).decode()
        assert scrub(f'"key": "{encoded}"') == f'"key": "{REDACTED}"', name


def test_a_pem_body_without_its_header_lines_is_redacted():
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), serialization.PrivateFormat.PKCS8)
    body = "\n".join(pem.splitlines()[1:-1])
    assert scrub(f"output:\n{body}\nexit 0") == f"output:\n{REDACTED}\nexit 0"
    escaped = body.replace("\n", "\\n")
    assert scrub(f'{{"out": "{escaped}"}}') == f'{{"out": "{REDACTED}"}}'


def test_a_base64_der_key_cut_off_is_still_redacted():
    der = _der(rsa.generate_private_key(public_exponent=65537, key_size=2048), serialization.PrivateFormat.PKCS8)
    cut = base64.b64encode(der[:300]).decode()
    assert scrub(cut) == REDACTED


def test_certificates_public_keys_and_ordinary_base64_are_kept():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "details")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    texts = [
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        base64.b64encode(key.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        base64.b64encode(b'{"status": "passed", "name": "test_plaintext_is_reset"}' * 3).decode(),
    ]
    for text in texts:
        assert scrub(text) == text


def test_every_planted_form_is_gone_from_a_runs_files(fake_suite):
    """A run whose probe output holds each form: no file of the run keeps any of them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = _pem(key, serialization.PrivateFormat.PKCS8)
    der = _der(key, serialization.PrivateFormat.PKCS8)
    forms = [pem.replace("-----END PRIVATE KEY-----", "-----end private key-----"), pem.lower(),
             base64.b64encode(pem.encode()).decode(), base64.b64encode(der).decode()]
    run = fake_suite(f"""
        from helpers import *
        FORMS = {forms!r}

        @strict
        def test_leaks_keys():
            becomes("keys stay in the proxy", answers("\\n".join(FORMS)), RESET, FAST)
    """)
    assert run.result.ret == 1
    secret = _body_line(pem).encode()
    files = [p for p in run.reports.rglob("*") if p.is_file()]
    leaks = [p for p in files if secret in p.read_bytes() or secret.lower() in p.read_bytes()
             or base64.b64encode(der)[:64] in p.read_bytes() or b"LS0tLS1CRUdJTi" in p.read_bytes()]
    assert leaks == []
