"""Which local program stands in for which container image.

The manifests keep real upstream image names so they apply on a cluster; the
reference mesh runs a small local program with the same observable behaviour.
"""
from __future__ import annotations

import sys

from ..errors import ConfigError
from .apps.agnhost import SUBCOMMANDS as AGNHOST_SUBCOMMANDS

_PY = [sys.executable, "-m"]
PYTHONS = ("python", "python3")
AGNHOST = "e2e-test-images/agnhost"
#: stand-ins that take the container's own args (ports and prefix for tcp-echo, agnhost's subcommand and flags),
#: not ``--port``
TAKES_ARGS = frozenset({"istio/tcp-echo-server", AGNHOST})

#: image repository (registry and tag stripped) -> argv prefix; None runs the container's own command
STAND_INS: dict[str, list[str] | None] = {
    "istio/examples-bookinfo-details-v1": _PY + ["meshproof.local.apps.http_apps", "details"],
    "istio/examples-bookinfo-productpage-v1": _PY + ["meshproof.local.apps.http_apps", "productpage"],
    "mccutchen/go-httpbin": _PY + ["meshproof.local.apps.http_apps", "httpbin"],
    "istio/tcp-echo-server": _PY + ["meshproof.local.apps.tcp_echo"],
    AGNHOST: _PY + ["meshproof.local.apps.agnhost"],
    "curlimages/curl": None,
    "library/python": None,
}


def repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["library", *parts]
    return "/".join(parts)


def exec_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """A command exec'd into an app container: ``python``/``python3`` is the interpreter running the mesh, as for
    the python image's own command (the PATH's may be a slow launcher shim)."""
    return (sys.executable, *argv[1:]) if argv and argv[0] in PYTHONS else argv


def command_for(image: str, container: dict, port: int | None) -> list[str]:
    repo = repository(image)
    if repo not in STAND_INS:
        raise ConfigError(f"image {image} has no stand-in in the reference mesh (known: {', '.join(sorted(STAND_INS))})")
    stand_in = STAND_INS[repo]
    if stand_in is None:
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        if not argv:
            raise ConfigError(f"container {container.get('name')} ({image}) needs a command in the reference mesh")
        if argv[0] in PYTHONS:  # the python image's interpreter is the one running the mesh
            argv[0] = sys.executable
        return argv
    if repo in TAKES_ARGS:
        args = [str(a) for a in container.get("args") or []]
        if repo == AGNHOST and (not args or args[0] not in AGNHOST_SUBCOMMANDS):
            raise ConfigError(f"container {container.get('name')} ({image}): the reference mesh's agnhost runs "
                              f"{', '.join(AGNHOST_SUBCOMMANDS)} only, not {args[0] if args else 'no subcommand'}")
        return stand_in + args
    return stand_in + (["--port", str(port)] if port else [])
