"""Write meshproof/validation/istio_schemas.json from Istio's CustomResourceDefinitions.

Usage: python scripts/extract_istio_schemas.py SOURCE CRD_FILE [CRD_FILE ...] > meshproof/validation/istio_schemas.json

CRD_FILE is Istio's ``manifests/charts/base/files/crd-all.gen.yaml``.  Only what
an API server uses to admit an object is kept: per kind its group, scope and,
per *served* version, the ``openAPIV3Schema`` with ``description`` texts
dropped (they are documentation, not rules; CEL ``x-kubernetes-validations``
and enums stay).  The shipped file came from istio/istio commit
86c9f01fd735fb01d8192f5bcaf0d424afb7f14c (the file under ../shared/istio/);
tests/test_validation.py checks it still equals this extraction.  SOURCE, a
free text naming where CRD_FILE came from, is kept in the output's "source".
"""
from __future__ import annotations

import json
import sys
from typing import Any

import yaml


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        # a documentation text is a string; a schema field named "description" is a mapping and stays
        return {k: _strip(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def extract(documents: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for crd in documents:
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        kinds[f"{spec['group']}/{spec['names']['kind']}"] = {
            "group": spec["group"],
            "kind": spec["names"]["kind"],
            "namespaced": spec["scope"] == "Namespaced",
            "versions": {v["name"]: _strip(v["schema"]["openAPIV3Schema"])
                         for v in spec["versions"] if v.get("served")},
        }
    return dict(sorted(kinds.items()))


def main(source: str, paths: list[str]) -> None:
    documents = [d for path in paths for d in yaml.safe_load_all(open(path))]
    json.dump({"source": source, "kinds": extract(documents)}, sys.stdout, indent=None, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
