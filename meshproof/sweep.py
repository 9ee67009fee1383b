"""``python -m meshproof.sweep``: remove what a killed run left (``make clean``)."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import MeshproofError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kube-context", default=os.environ.get("KUBE_CONTEXT") or None,
                        help="also delete what meshproof created in this cluster for runs that are over (default: the clusters earlier runs recorded)")
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--run-id", default=None, help="kube: only this run's objects (default: every dead run's)")
    args = parser.parse_args(argv)
    removed: list[str] = []
    try:
        if os.geteuid() == 0:
            from .local.host import sweep

            removed += sweep()
        if args.kube_context or args.kubeconfig:
            from . import kube

            removed += kube.sweep(args.kube_context, args.kubeconfig, args.run_id)
        else:
            from .kube.targets import remembered_any

            if remembered_any():  # clusters earlier runs used, recorded with their kubeconfig
                from . import kube

                removed += kube.sweep_remembered()
    except MeshproofError as error:
        print(f"meshproof clean: {error}", file=sys.stderr)
        return 3
    for item in removed:
        print(f"removed {item}")
    print(f"meshproof clean: {len(removed)} leftovers removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
