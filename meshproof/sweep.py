"""``python -m meshproof.sweep``: remove what a killed run left (``make clean``)."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import MeshproofError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kube-context", default=os.environ.get("KUBE_CONTEXT") or None,
                        help="also delete objects labelled managed-by=meshproof in this cluster")
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args(argv)
    removed: list[str] = []
    try:
        if os.geteuid() == 0:
            from .local.host import sweep

            removed += sweep()
        if args.kube_context:
            from . import kube

            removed += kube.sweep(args.kube_context, args.kubeconfig)
    except MeshproofError as error:
        print(f"meshproof clean: {error}", file=sys.stderr)
        return 3
    for item in removed:
        print(f"removed {item}")
    print(f"meshproof clean: {len(removed)} leftovers removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
