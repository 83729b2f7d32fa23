"""Headless subcommands of the ``ecgviewer`` command (see :mod:`ecgviewer.cli`).

Each module has ``NAME``, ``HELP``, ``register(parser)`` and ``run(args)``; the arguments most
of them take (the exam paths, ``--fs`` and ``--units`` for files that state neither) are added
with :func:`add_paths` and :func:`add_reading_options`; those of the commands that run on a Dask
cluster (``--cluster``, ``--exams-per-task``) with :func:`add_cluster_options`.
"""

from __future__ import annotations

import argparse

RECURSIVE_PATHS = "ECG files or folders (searched recursively)"


def add_paths(parser: argparse.ArgumentParser, help: str = RECURSIVE_PATHS) -> None:
    """The positional ``paths``: one or more ECG files or folders."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help=help)


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """``--fs`` and ``--units``: what to assume for files that do not state them."""
    parser.add_argument("--fs", type=float, help="sampling rate in Hz for files that do not state it")
    parser.add_argument("--units", help="amplitude unit for files that do not state it (mV, uV, 1e-4 V, ...)")


def add_cluster_options(parser: argparse.ArgumentParser, verb: str, metavar: str, note: str) -> None:
    """``--cluster`` (to ``verb`` there; ``note`` ends its help) and ``--exams-per-task``, one task's size."""
    parser.add_argument(
        "--cluster",
        metavar=metavar,
        help=f"{verb} on a Dask cluster: a running scheduler (tcp://host:8786) or local:N worker "
        f"processes on this machine{note}",
    )
    parser.add_argument(
        "--exams-per-task",
        type=int,
        default=512,
        help="with --cluster: exams per task (large HDF5 files are cut into ranges; default 512)",
    )
