"""Headless subcommands of the ``ecgviewer`` command (see :mod:`ecgviewer.cli`).

Each module has ``NAME``, ``HELP``, ``register(parser)`` and ``run(args)``; the arguments most
of them take (the exam paths, ``--fs`` and ``--units`` for files that state neither) are added
with :func:`add_paths` and :func:`add_reading_options`.
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
