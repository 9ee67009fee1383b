"""Which cluster each run used, so ``make clean`` reaches it without being told the kubeconfig again.

At connect a run writes ``<state dir>/kube-runs/<run id>.json`` with its
context and kubeconfig path (never credentials), and removes it when it
closes.  ``make clean`` sweeps every cluster named by a file it finds, then
removes files whose sweep succeeded.  The state directory is
``$XDG_STATE_HOME/meshproof`` (default ``~/.local/state/meshproof``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class Target:
    run_id: str
    context: str | None
    kubeconfig: str | None

    def describe(self) -> str:
        return f"context {self.context or '(current)'} of {self.kubeconfig or '$KUBECONFIG or ~/.kube/config'}"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "meshproof" / "kube-runs"


def remember(target: Target) -> Path:
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{target.run_id}.json"
    kubeconfig = os.path.abspath(target.kubeconfig) if target.kubeconfig else os.environ.get("KUBECONFIG")
    path.write_text(json.dumps({"run_id": target.run_id, "context": target.context, "kubeconfig": kubeconfig}))
    return path


def forget(run_id: str) -> None:
    (state_dir() / f"{run_id}.json").unlink(missing_ok=True)


def remembered() -> list[Target]:
    """Every run's target still on record, one per (context, kubeconfig) pair."""
    found: dict[tuple, Target] = {}
    for path in sorted(state_dir().glob("*.json")) if state_dir().is_dir() else ():
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        target = Target(doc.get("run_id", path.stem), doc.get("context"), doc.get("kubeconfig"))
        found.setdefault((target.context, target.kubeconfig), target)
    return list(found.values())


def forget_cluster(target: Target, keep: Iterable[str] = ()) -> None:
    """Drop the records of every run that used ``target``'s cluster (after a successful sweep of it), but
    those of the runs in ``keep`` (still alive there)."""
    keep = set(keep)
    for path in state_dir().glob("*.json") if state_dir().is_dir() else ():
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (doc.get("context"), doc.get("kubeconfig")) == (target.context, target.kubeconfig) \
                and doc.get("run_id", path.stem) not in keep:
            path.unlink(missing_ok=True)


def remembered_any() -> bool:
    """Cheap check before the Kubernetes client is loaded."""
    return state_dir().is_dir() and any(state_dir().glob("*.json"))
