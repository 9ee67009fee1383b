"""A deployed workload as tests name it: its namespace and its ``app`` label (= its Service name)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    namespace: str
    app: str
    port: int = 80

    def url(self, path: str = "/", *, port: int | None = None, scheme: str = "http", short: bool = False) -> str:
        host = self.app if short else f"{self.app}.{self.namespace}.svc.cluster.local"
        return f"{scheme}://{host}:{port or self.port}{path}"

    @property
    def selector(self) -> dict[str, str]:
        return {"app": self.app}

    def __str__(self) -> str:
        return f"{self.namespace}/{self.app}"
