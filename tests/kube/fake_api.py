"""A tiny API server on 127.0.0.1 answering just what the preflight asks."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml


VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "gitCommit": "0", "gitTreeState": "clean",
           "buildDate": "2024-04-17T00:00:00Z", "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"}


class FakeApi:
    def __init__(self, *, denied: set[tuple[str, str]] = frozenset(), status: int = 200,
                 cluster_role: set[tuple[str, str]] | None = None,
                 role_bindings: dict[str, set[tuple[str, str]]] | None = None) -> None:
        #: (verb, resource[/subresource]) the SelfSubjectAccessReview denies
        self.denied = set(denied)
        #: when given, the only (verb, resource) granted cluster-wide (a ClusterRoleBinding); RBAC answers a
        #: namespaced review from it too, and from the RoleBindings of that namespace
        self.cluster_role = cluster_role
        #: namespace -> (verb, resource) its RoleBindings grant
        self.role_bindings = role_bindings or {}
        self.status = status
        self.reviews: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if api.status != 200:
                    return self._send(api.status, {"kind": "Status", "message": "Unauthorized"})
                self._send(200 if self.path.rstrip("/") == "/version" else 404, VERSION)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                attrs = body["spec"]["resourceAttributes"]
                api.reviews.append(attrs)
                resource = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
                body["status"] = {"allowed": api.allows(attrs["verb"], resource, attrs.get("namespace") or "")}
                self._send(201, body)

            def _send(self, code, doc):
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def allows(self, verb: str, resource: str, namespace: str) -> bool:
        if (verb, resource) in self.denied:
            return False
        if self.cluster_role is None:
            return True
        return (verb, resource) in self.cluster_role or (verb, resource) in self.role_bindings.get(namespace, set())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }))
    return path
