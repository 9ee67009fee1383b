"""Connecting to the API server, and saying in one line why a call failed."""
from __future__ import annotations

import json
import os

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic.exceptions import DynamicApiError
from yaml import YAMLError

from ..errors import PreflightError

#: seconds a single API call may take before the server counts as unreachable
REQUEST_TIMEOUT = 10


def api_client(context: str | None, kubeconfig: str | None) -> client.ApiClient:
    """A client for the named context; in-cluster credentials when no kubeconfig exists at all."""
    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        if kubeconfig or context or any(os.path.exists(p) for p in path.split(os.pathsep)):
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                    persist_config=False)
        else:
            config.load_incluster_config(client_configuration=cfg)
    except (ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError, YAMLError) as exc:
        where = f"context {context!r} of " if context else ""
        raise PreflightError(f"cannot use {where}kubeconfig {path}: {one_line(exc)}") from None
    # fail fast: urllib3 would otherwise retry a refused connection three times
    cfg.retries = urllib3.Retry(total=1, connect=1, read=0, status=0, backoff_factor=0)
    return client.ApiClient(cfg)


def one_line(exc: BaseException) -> str:
    """The reason an API call failed, with no traceback and no response dump."""
    if isinstance(exc, (client.ApiException, DynamicApiError)):
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError, TypeError):
            pass
        if exc.status == 0:
            return _handshake(str(exc.reason)) or _squash(str(exc.reason))
        return _squash(f"{exc.status} {exc.reason}" + (f": {message}" if message else ""))
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return one_line(exc.reason)
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.PoolError)):
        return _squash(str(exc).split(": ", 1)[-1])
    return _squash(str(exc) or type(exc).__name__)


def _handshake(text: str) -> str:
    """A refused websocket upgrade without its header dump: ``403 Forbidden: <the Status message>``."""
    if not text.startswith("Handshake status "):
        return ""
    parts = text.split(" -+-+- ")
    status = parts[0][len("Handshake status "):]
    message = ""
    if len(parts) > 2:
        body = parts[-1].strip()
        if body[:2] in ("b'", 'b"'):
            body = body[2:-1]
        for text in (body, body.encode().decode("unicode_escape", "replace")):
            try:
                message = json.loads(text).get("message", "")
                break
            except (ValueError, AttributeError):
                continue
    return _squash(status + (f": {message}" if message else ""))


def _squash(text: str) -> str:
    return " ".join(text.split())
