"""The ssl-mode model of seed 001, as code.

A database client is configured with an ssl-mode (disable, trust, verify-ca,
verify-full) and a mutual-TLS switch (enable, disable).  Only some
combinations are valid and each valid one needs exactly a given set of
artefacts (CA certificate, client certificate, client key, client keystore):
a missing artefact and a superfluous one are both configuration errors, as in
the seed's tables.  Every such mistake is refused here, with one line naming
the broken rule, before anything connects.

:func:`connect_kwargs` turns a valid setting into pymysql arguments.  Note
that pymysql's default is *opportunistic, unverified* TLS, so ``trust`` must
explicitly require TLS, and only the ``verify-*`` modes check the server.
"""
from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError


class SslMode(str, enum.Enum):
    DISABLE = "disable"
    TRUST = "trust"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


class MutualTls(str, enum.Enum):
    DISABLE = "disable"
    ENABLE = "enable"


class Artefact(str, enum.Enum):
    """The files a setting may carry; the value is the :class:`SslSetting` field holding it."""

    CA = "ca"
    CLIENT_CERT = "client_cert"
    CLIENT_KEY = "client_key"
    CLIENT_KEYSTORE = "client_keystore"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def env(self) -> str:
        return ENV[self.value]


_LABELS = {
    Artefact.CA: "CA certificate",
    Artefact.CLIENT_CERT: "client certificate",
    Artefact.CLIENT_KEY: "client key",
    Artefact.CLIENT_KEYSTORE: "client keystore",
}

_CLIENT_MATERIAL = frozenset({Artefact.CLIENT_CERT, Artefact.CLIENT_KEY, Artefact.CLIENT_KEYSTORE})

#: seed 001's table of valid combinations, each with the artefacts it needs (all others are errors)
VALID: Mapping[tuple[SslMode, MutualTls], frozenset[Artefact]] = {
    (SslMode.DISABLE, MutualTls.DISABLE): frozenset(),
    (SslMode.TRUST, MutualTls.DISABLE): frozenset(),
    (SslMode.VERIFY_CA, MutualTls.DISABLE): frozenset({Artefact.CA}),
    (SslMode.VERIFY_CA, MutualTls.ENABLE): frozenset({Artefact.CA}) | _CLIENT_MATERIAL,
    (SslMode.VERIFY_FULL, MutualTls.DISABLE): frozenset({Artefact.CA}),
    (SslMode.VERIFY_FULL, MutualTls.ENABLE): frozenset({Artefact.CA}) | _CLIENT_MATERIAL,
}
#: the valid combinations that use TLS, in a stable order for parametrized checks
TLS_COMBINATIONS = sorted(c for c in VALID if c[0] is not SslMode.DISABLE)


def combination_id(combination: tuple[SslMode, MutualTls]) -> str:
    mode, mutual = combination
    return f"{mode.value}+mutual-{mutual.value}"

#: the environment variables of the app's configuration, by setting field
ENV = {
    "mode": "DB_SSL_MODE",
    "mutual_tls": "DB_MUTUAL_TLS",
    "ca": "DB_CA",
    "client_cert": "DB_CLIENT_CERT",
    "client_key": "DB_CLIENT_KEY",
    "client_keystore": "DB_CLIENT_KEYSTORE",
    "keystore_password": "DB_CLIENT_KEYSTORE_PASSWORD",
}

# rule names, quoted in every refusal so a user can look the rule up
RULE_MODE = "ssl-mode"
RULE_MUTUAL = "mutual-tls"
RULE_COMBINATION = "valid-combination"
RULE_NEEDED = "needed-artefact"
RULE_SUPERFLUOUS = "superfluous-artefact"
RULE_KEYSTORE_PASSWORD = "keystore-password"
RULE_READABLE = "readable-artefact"
RULE_KEYSTORE_MATCHES = "keystore-matches"


def refuse(rule: str, message: str) -> ConfigError:
    """The one shape of every refusal: the rule's name, then what is wrong, on one line."""
    return ConfigError(f"ssl settings break rule {rule}: {message}")


def _parse(kind: type[enum.Enum], value: str, rule: str) -> Any:
    try:
        return kind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise refuse(rule, f"{value!r} is not one of {allowed}") from None


@dataclass(frozen=True)
class SslSetting:
    """One client's TLS configuration; build it with :meth:`parse` or :meth:`from_env`."""

    mode: SslMode
    mutual_tls: MutualTls = MutualTls.DISABLE
    ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_keystore: Path | None = None
    keystore_password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, mode: str, mutual_tls: str = "disable", **artefacts: str | Path | None) -> "SslSetting":
        """Build from the strings a user writes; unknown mode names are refused here."""
        password = artefacts.pop("keystore_password", None)
        unknown = set(artefacts) - {a.value for a in Artefact}
        if unknown:
            raise TypeError(f"unknown artefacts {sorted(unknown)}")
        paths = {name: Path(value) for name, value in artefacts.items() if value}
        return cls(
            mode=_parse(SslMode, mode, RULE_MODE),
            mutual_tls=_parse(MutualTls, mutual_tls, RULE_MUTUAL),
            keystore_password=str(password) if password else None,
            **paths,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SslSetting":
        """Read the ``DB_*`` variables of the app's configuration (empty means absent)."""
        given = {name: env.get(variable) or None for name, variable in ENV.items()}
        mode = given.pop("mode") or SslMode.DISABLE.value  # seed 001: disable is the default
        mutual_tls = given.pop("mutual_tls") or MutualTls.DISABLE.value
        return cls.parse(mode, mutual_tls, **given)

    def as_env(self) -> dict[str, str]:
        """The ``DB_*`` variables that configure the app with this setting."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {ENV[name]: str(getattr(value, "value", value)) for name, value in values.items() if value is not None}

    def given(self) -> frozenset[Artefact]:
        return frozenset(a for a in Artefact if getattr(self, a.value) is not None)

    def validate(self) -> "SslSetting":
        """Check the setting against the seed's tables; raise :class:`ConfigError` naming the rule."""
        combination = (self.mode, self.mutual_tls)
        if combination not in VALID:
            allowed = " or ".join(mode.value for mode, mutual in VALID if mutual is self.mutual_tls)
            raise refuse(
                RULE_COMBINATION,
                f"mutual TLS {self.mutual_tls.value!r} needs ssl-mode {allowed}, not {self.mode.value!r}",
            )
        needed = VALID[combination]
        missing = sorted(needed - self.given())
        if missing:
            raise refuse(RULE_NEEDED, f"{self._describe()} needs the {_names(missing)}")
        superfluous = sorted(self.given() - needed)
        if superfluous:
            raise refuse(RULE_SUPERFLUOUS, f"{self._describe()} must not be given the {_names(superfluous)}")
        if (self.client_keystore is None) != (self.keystore_password is None):
            raise refuse(RULE_KEYSTORE_PASSWORD, f"a client keystore and its password ({ENV['keystore_password']}) go together")
        return self

    def check_files(self) -> "SslSetting":
        """Every artefact the setting names is a readable file."""
        for artefact in sorted(self.given()):
            path: Path = getattr(self, artefact.value)
            try:
                path.read_bytes()
            except OSError as exc:
                raise refuse(RULE_READABLE, f"{artefact.label} ({artefact.env}) {path}: {exc.strerror}") from None
        return self

    def _describe(self) -> str:
        return f"ssl-mode {self.mode.value!r} with mutual TLS {self.mutual_tls.value!r}"


def _names(artefacts: list[Artefact]) -> str:
    return ", ".join(f"{a.label} ({a.env})" for a in artefacts)


def check_keystore(setting: SslSetting) -> SslSetting:
    """The client keystore opens with its password and holds exactly the client certificate and key.

    Separate from :meth:`SslSetting.check_files` because pymysql never reads
    the keystore (Java clients do): the app stays free of pyjks, the fixtures
    that build keystores call this.
    """
    from .keystores import read_keystore

    if setting.client_keystore is None:
        return setting
    assert setting.client_cert and setting.client_key and setting.keystore_password
    entry = read_keystore(setting.client_keystore, setting.keystore_password)
    if not entry.holds(setting.client_cert.read_bytes(), setting.client_key.read_bytes()):
        raise refuse(
            RULE_KEYSTORE_MATCHES,
            f"client keystore {setting.client_keystore} does not hold the client certificate and key "
            f"({setting.client_cert}, {setting.client_key})",
        )
    return setting


def _trust_context() -> ssl.SSLContext:
    """TLS required, nothing verified: what ``trust`` means (pymysql's default would not insist on TLS)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect_kwargs(setting: SslSetting) -> dict[str, Any]:
    """pymysql ``connect()`` arguments for a setting, refused first if it is invalid."""
    setting.validate().check_files()
    if setting.mode is SslMode.DISABLE:
        return {"ssl_disabled": True}
    if setting.mode is SslMode.TRUST:
        return {"ssl": _trust_context()}
    kwargs: dict[str, Any] = {
        "ssl_ca": str(setting.ca),
        "ssl_verify_cert": True,
        "ssl_verify_identity": setting.mode is SslMode.VERIFY_FULL,
    }
    if setting.mutual_tls is MutualTls.ENABLE:
        kwargs.update(ssl_cert=str(setting.client_cert), ssl_key=str(setting.client_key))
    return kwargs
