"""``dicomlens viewer install``: fetch and prepare the pinned OHIF build served at
``/viewer/`` (see :mod:`dicomlens.viewer.ohif`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dicomlens.config import Settings
from dicomlens.domain.errors import DicomlensError
from dicomlens.viewer import ohif


def add_parser(subparsers: Any) -> None:
    """Add ``viewer`` to the ``dicomlens`` command."""
    viewer = subparsers.add_parser("viewer", help="the OHIF viewer served at /viewer/")
    actions = viewer.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install", help=f"fetch {ohif.OHIF_PACKAGE}@{ohif.OHIF_VERSION} (npm) and prepare it"
    )
    install.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="the build cache (default: DICOMLENS_VIEWER_DIR or ~/.cache/dicomlens/ohif)",
    )
    install.set_defaults(run=run_install)


def run_install(args: argparse.Namespace) -> int:
    """Install the build (nothing to do when it is there); 1 when it cannot."""
    cache = args.dir or Settings().viewer_dir or ohif.default_cache_dir()
    try:
        dist = ohif.install(cache)
    except DicomlensError as exc:
        print(f"viewer install failed: {exc.message}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{ohif.OHIF_PACKAGE}@{ohif.OHIF_VERSION} ready in {dist}")  # noqa: T201
    return 0
