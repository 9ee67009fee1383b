"""``python -m meshproof.sweep``: remove what runs that are gone left behind (``make clean``).

Only runs whose owner process is gone are removed; live runs (in this
checkout, another clone or another terminal) are listed as skipped.
``--force RUN_ID`` removes a named run even while it lives (its owner is sent
SIGTERM first, so it ends as interrupted).

Exit codes: 0 done (removed and skipped are listed); 3 what is left cannot be
removed here: the reference mesh's network namespaces are root's and this is
not root, or the cluster could not be reached.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from .errors import MeshproofError
from . import owners

CANNOT_REMOVE = 3


def _local(only: str, force: list[str]) -> tuple[list[str], list[str]]:
    from .local import host

    if os.geteuid() != 0:
        dead = [r for r in host.host_runs(only) if r.netns and (r.owner is None or not r.owner.alive())]
        if dead:
            count = sum(len(r.netns) for r in dead)
            raise PermissionError(f"{count} network namespaces of {len(dead)} ended runs remain and only root can "
                                  "remove them (they are root's): run `sudo make clean`")
        return [], []
    swept = host.sweep(only, force=force)
    return swept.removed, swept.skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kube-context", default=os.environ.get("KUBE_CONTEXT") or None,
                        help="also delete what meshproof created in this cluster for runs that are over (default: the clusters earlier runs recorded)")
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--run-id", default=None, help="kube: only this run's objects (default: every dead run's)")
    parser.add_argument("--force", action="append", default=[], metavar="RUN_ID",
                        help="remove this run even though its owner is alive (repeatable)")
    parser.add_argument("--only", default="", metavar="PREFIX",
                        help="consider only reference-mesh runs whose id starts with PREFIX")
    parser.add_argument("--reports", type=Path, default=None, metavar="DIR",
                        help="also remove this evidence directory, unless a live run writes there")
    args = parser.parse_args(argv)
    try:
        removed, skipped = _local(args.only, args.force)
        if args.kube_context or args.kubeconfig:
            from . import kube

            removed += kube.sweep(args.kube_context, args.kubeconfig, args.run_id)
        else:
            from .kube.targets import remembered_any

            if remembered_any():  # clusters earlier runs used, recorded with their kubeconfig
                from . import kube

                removed += kube.sweep_remembered()
    except (MeshproofError, PermissionError) as error:
        print(f"meshproof clean: {error}", file=sys.stderr)
        return CANNOT_REMOVE
    if args.reports is not None and args.reports.exists():
        writer = owners.reports_in_use(args.reports)
        if writer is None:
            shutil.rmtree(args.reports, ignore_errors=True)
            removed.append(f"dir {args.reports}")
        else:
            skipped.append(f"evidence {args.reports} ({writer} writes there)")
    for item in removed:
        print(f"removed {item}")
    for item in skipped:
        print(f"skipped {item}: alive")
    print(f"meshproof clean: {len(removed)} leftovers removed, {len(skipped)} live runs skipped"
          f"{' (remove a run anyway with --force RUN_ID)' if skipped else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
