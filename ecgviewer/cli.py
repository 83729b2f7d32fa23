"""The ``ecgviewer`` command: the viewer by default, headless subcommands for batch work.

``ecgviewer [PATH ...]`` opens the window; ``ecgviewer SUBCOMMAND ...`` runs headless.
Each subcommand lives in a module of :mod:`ecgviewer.commands` exposing
``NAME``, ``HELP`` and ``register(parser)`` / ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from ecgviewer import __version__
from ecgviewer.errors import EcgViewerError, debug_enabled, describe_unexpected

# Subcommand modules, in the order `ecgviewer --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "ecgviewer.commands.info",
    "ecgviewer.commands.convert",
    "ecgviewer.commands.predict",
    "ecgviewer.commands.measure",
    "ecgviewer.commands.import_keras",
    "ecgviewer.commands.explain",
    "ecgviewer.commands.evaluate",
    "ecgviewer.commands.report",
    "ecgviewer.commands.finetune",
)


def _command_modules() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a real missing dependency, not a command yet to be written
                raise
            continue
        modules[module.NAME] = module
    return modules


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgviewer",
        description="12-lead ECG viewer with the network of Ribeiro et al. (2020). "
        "With no PATH it opens the bundled example exam. Headless subcommands: "
        + ", ".join(_command_modules())
        + " (ecgviewer SUBCOMMAND --help).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="ECG files or folders to open")
    parser.add_argument("--model", help="ONNX model to use instead of the bundled one")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window offscreen with the exam analysed, save it and exit",
    )
    parser.add_argument("--layout", choices=["3x4", "6x2", "12x1"], help="lead layout (with --screenshot)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check model, example, inference, SHAP and report; non-zero exit on failure",
    )
    parser.add_argument("--version", action="version", version=f"ecgviewer {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecgviewer`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid UTF-8 print, escaped
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
    commands = _command_modules()
    args: argparse.Namespace | None = None
    try:
        if argv and argv[0] in commands:
            module = commands[argv[0]]
            parser = argparse.ArgumentParser(prog=f"ecgviewer {module.NAME}", description=module.HELP)
            module.register(parser)
            args = parser.parse_args(argv[1:])
            return int(module.run(args) or 0)
        args = _gui_parser().parse_args(argv)
        if args.self_test:
            from ecgviewer.selftest import run_self_test

            return run_self_test()
        from ecgviewer.ui.app import run_app

        return run_app(args)
    except EcgViewerError as err:
        print(f"ecgviewer: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ecgviewer: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise  # argparse's usage errors and --help
    except BrokenPipeError:
        return 1
    except Exception as err:  # the last-resort guard: one line, never a traceback, never exit 0
        if debug_enabled():
            raise
        files = [getattr(args, "paths", None) or getattr(args, "path", None) or []] if args else []
        flat = files[0] if files and isinstance(files[0], list) else files
        print(f"ecgviewer: error: {describe_unexpected(err, flat)}", file=sys.stderr)
        return 3
