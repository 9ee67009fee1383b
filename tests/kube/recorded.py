"""Recorded API objects of each platform (tests/kube/data/*.yaml) and what they must yield."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshproof.kube.snapshot import Snapshot

DATA = Path(__file__).parent / "data"


def load(platform: str) -> tuple[Snapshot, dict]:
    doc = yaml.safe_load((DATA / f"{platform}.yaml").read_text())
    return Snapshot.from_dict(doc["snapshot"]), doc["expect"]


def platforms() -> list:
    return [pytest.param(p.stem, id=p.stem) for p in sorted(DATA.glob("*.yaml"))]
