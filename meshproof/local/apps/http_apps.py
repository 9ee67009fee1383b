"""Stand-ins for the upstream images the manifests name: bookinfo details and
productpage, and httpbin (an echo of the request headers).

Each answers on the container port the manifest declares and, once listening,
creates the file named by MESHPROOF_READY_FILE so the pod can turn ready.
"""
from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # keep access logs short and on stdout
        print(f"{self.address_string()} {format % args}", flush=True)

    def send_json(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Details(_Handler):
    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "details" and parts[1].isdigit():
            self.send_json(200, {"id": int(parts[1]), "author": "William Shakespeare", "year": 1595,
                                 "type": "paperback", "pages": 200, "publisher": "PublisherA",
                                 "language": "English", "ISBN-10": "1234567890"})
        elif self.path == "/health":
            self.send_json(200, {"status": "Details is healthy"})
        else:
            self.send_json(404, {"error": "not found"})


class ProductPage(_Handler):
    """Calls details like the real productpage, through whatever the pod's network does."""

    def do_GET(self) -> None:
        if not self.path.startswith("/productpage"):
            self.send_json(200 if self.path == "/health" else 404, {"path": self.path})
            return
        details = os.environ.get("DETAILS_HOSTNAME", "details")
        url = f"http://{details}:9080/details/0"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                self.send_json(200, {"details": json.loads(response.read()), "details_status": response.status})
        except (OSError, urllib.error.URLError) as exc:
            self.send_json(503, {"error": f"details unavailable: {exc}"})


class HttpBin(_Handler):
    def do_GET(self) -> None:
        if self.path.startswith("/headers"):
            self.send_json(200, {"headers": {k: self.headers.get_all(k) for k in self.headers.keys()}})
        elif self.path.startswith("/status/"):
            code = self.path.rsplit("/", 1)[-1]
            self.send_json(int(code) if code.isdigit() else 400, {})
        else:
            self.send_json(200, {"url": self.path})


APPS = {"details": Details, "productpage": ProductPage, "httpbin": HttpBin}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("0.0.0.0", args.port), APPS[args.app])
    ready = os.environ.get("MESHPROOF_READY_FILE")
    if ready:
        Path(ready).touch()
    server.serve_forever()


if __name__ == "__main__":
    main()
