"""Secrets stay out of the evidence: secret options redacted at the source, key material scrubbed.

Two lines of defence.  Options that carry a secret are listed in
:data:`SECRET_OPTIONS` and their values never reach a report (the reproduce
command, the run's settings).  Whatever else a run writes goes through
:func:`scrub`, which recognises private keys by their content, not one
spelling: PEM blocks in any letter case (even cut off by truncated output),
base64 of a PEM file (Kubernetes Secret data), and base64 DER of a key
(PKCS#8, PKCS#1, SEC1 EC), which ``cryptography`` confirms by parsing it.
"""
from __future__ import annotations

import base64
import binascii
import re
import shlex
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.serialization import load_der_private_key

REDACTED = "[private key redacted by meshproof]"
SECRET_VALUE = "[redacted]"

#: command-line options whose value is a secret; a test checks every option naming a password is here
SECRET_OPTIONS = frozenset({"--external-db-password"})


def redact_argv(argv: Iterable[str]) -> list[str]:
    """``argv`` with the value of every secret option (``--opt=V`` or ``--opt V``) replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(SECRET_VALUE)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in SECRET_OPTIONS:
            out.append(f"{name}={SECRET_VALUE}" if eq else arg)
            hide_next = not eq
        else:
            out.append(arg)
    return out


def redact_command(command: str) -> str:
    """A shell command line (as ``shlex.join`` wrote it) with its secret options' values redacted."""
    if not any(option in command for option in SECRET_OPTIONS):
        return command
    try:
        return shlex.join(redact_argv(shlex.split(command)))
    except ValueError:  # unbalanced quotes: keep nothing after the secret option's name
        for option in SECRET_OPTIONS:
            if option in command:
                command = command[:command.index(option)] + f"{option}={SECRET_VALUE} ..."
        return command


# ---------------------------------------------------------------------------
# Key material.

# a PEM private-key block in any letter case, or one cut off by truncated output (then it runs to the end)
_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.IGNORECASE
)
# a run of base64, possibly over several lines (real or JSON-escaped newlines), long enough to hold a key:
# DER keys open with a SEQUENCE (0x30, base64 "M"), PEM files with dashes (base64 "LS0t"); the literal
# first characters keep the scan cheap, _redact_base64 checks that the run starts a token
_BASE64_RUN = re.compile(r"(?:M|LS0t)[A-Za-z0-9+/]{14,}(?:(?:\r?\n|\\n)[A-Za-z0-9+/]{4,})*={0,2}")
_BASE64_CHAR = re.compile(r"[A-Za-z0-9+/]")
_MIN_KEY_BYTES = 32
_MARKER = re.compile(r"PRIVATE KEY", re.IGNORECASE)


def _der_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, offset of the contents) of the ASN.1 element whose length octets start at ``at``."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if not 1 <= count <= 3 or at + 1 + count > len(data):
        return None
    return int.from_bytes(data[at + 1:at + 1 + count], "big"), at + 1 + count


def _looks_like_key_der(data: bytes) -> bool:
    """Whether ``data`` starts like a private key structure, complete or cut off.

    PKCS#8 (RFC 5208/5958), PKCS#1 (RFC 8017 A.1.2) and SEC1 (RFC 5915) keys all
    open with a SEQUENCE holding INTEGER version 0 or 1, followed by an
    AlgorithmIdentifier SEQUENCE (PKCS#8), the modulus INTEGER (PKCS#1) or the
    key OCTET STRING (SEC1).  Certificates and public keys open with two
    SEQUENCEs instead.
    """
    if len(data) < 8 or data[0] != 0x30:
        return False
    header = _der_length(data, 1)
    if header is None:
        return False
    _, body = header
    return data[body:body + 2] == b"\x02\x01" and data[body + 2:body + 3] in (b"\x00", b"\x01") \
        and data[body + 3:body + 4] in (b"\x30", b"\x02", b"\x04")


def _parses_as_key(data: bytes) -> bool:
    """``cryptography`` reads ``data`` as an unencrypted DER private key (PKCS#8, PKCS#1, SEC1)."""
    try:
        load_der_private_key(data, password=None)
        return True
    except Exception:  # not a key, or one of an algorithm this build lacks: the structure check decides
        return False


_LINE_BREAK = re.compile(r"\r?\n|\\n")


def _decoded(text: str) -> bytes | None:
    text = _LINE_BREAK.sub("", text).rstrip("=")
    if len(text) % 4 == 1:  # cut off mid-quantum: drop the odd character
        text = text[:-1]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _holds_key(text: str, *, complete: bool) -> bool:
    """Base64 of a PEM key, or of a DER key that ``cryptography`` parses (``complete``) or that starts like one."""
    decoded = _decoded(text)
    if decoded is None or len(decoded) < _MIN_KEY_BYTES:
        return False
    if _PEM_KEY.search(decoded.decode("latin-1")):
        return True
    return _parses_as_key(decoded) if complete else _looks_like_key_der(decoded)


def _redact_base64(match: re.Match[str]) -> str:
    """The run redacted up to the last of its lines that belongs to a key; ordinary text after it kept."""
    run, start, text = match.group(0), match.start(), match.string
    inside_token = start > 0 and _BASE64_CHAR.match(text[start - 1]) and text[start - 2:start] != "\\n"
    if inside_token:  # the middle of a longer token, whose start did not look like key material
        return run
    breaks = [m.start() for m in _LINE_BREAK.finditer(run)]
    for end in [len(run), *reversed(breaks)]:  # the whole run first, then without its last lines
        if _holds_key(run[:end], complete=True):
            return REDACTED + run[end:]
    return REDACTED if _holds_key(run, complete=False) else run  # a key cut off by truncated output


def scrub(text: str) -> str:
    """Redact private keys from ``text``: PEM in any case, base64 of PEM, base64 DER.

    A remaining bare mention of the PEM marker (a ``grep "PRIVATE KEY"`` in a
    probe's command, say) is lowercased, so that an auditor's
    ``grep -ri "BEGIN.*PRIVATE KEY" reports/`` finding nothing is a reliable check.
    """
    text = _PEM_KEY.sub(REDACTED, text)
    text = _BASE64_RUN.sub(_redact_base64, text)
    return _MARKER.sub("private key", text)


def scrub_tree(directory: Path) -> list[Path]:
    """Scrub every text file under ``directory`` in place; return the files changed.

    The last line of defence: it also covers what other plugins wrote
    (allure-pytest's failure traces, the JUnit XML).  Binary files are left alone.
    """
    changed = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        clean = scrub(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed.append(path)
    return changed
