"""What the viewer says about an exam's signal quality and about unexpected errors (Qt-free).

The core marks a :class:`~ecgviewer.model.runtime.Prediction` of a poor recording
``unreliable`` (with ``quality_note``) and, for a non-signal, withholds every decision
(:mod:`ecgviewer.quality`). These helpers turn that into the lines the findings panel, the
exam table and the status bar show, and turn any exception met by a UI action into one line
(:func:`ecgviewer.errors.describe_unexpected`), with the traceback on stderr only when
``ECGVIEWER_DEBUG=1``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ecgviewer.errors import EcgViewerError, debug_enabled, describe_unexpected

QUALITY_COLOR = "#b26a00"
"""Amber: the colour of every quality note in the viewer."""


@dataclass(frozen=True)
class QualityView:
    """How to show one exam's prediction: ``unreliable``, ``withheld`` (no decision) and the line."""

    unreliable: bool = False
    withheld: bool = False
    note: str = ""

    @property
    def line(self) -> str:
        """ "Signal quality: …" ("" when the signal is fine)."""
        if not self.unreliable:
            return ""
        text = self.note or "unreliable"
        return f"Signal quality: {text}"


FINE = QualityView()


def quality_of(prediction: object | None = None, exam: object | None = None) -> QualityView:
    """The quality to show for a prediction (preferred) or, before one exists, an exam.

    Reads ``Prediction.unreliable`` / ``quality_note`` / ``decisions_withheld``, else the exam's
    ``quality`` (:class:`ecgviewer.quality.Quality`, attached by the readers' validation).
    """
    if prediction is not None and getattr(prediction, "unreliable", False):
        return QualityView(
            True, bool(getattr(prediction, "decisions_withheld", False)), str(prediction.quality_note or "")
        )
    if prediction is not None:
        return FINE
    quality = getattr(exam, "quality", None) if exam is not None else None
    if quality is not None and quality.unreliable:
        return QualityView(True, bool(quality.withhold), quality.note())
    return FINE


def error_line(err: BaseException, files: Iterable[str | Path] | str | Path = ()) -> str:
    """One line for an error met by a UI action: the project's own message, else
    :func:`describe_unexpected` (file, exception, the ``ECGVIEWER_DEBUG=1`` hint).

    With ``ECGVIEWER_DEBUG=1`` an unexpected error's traceback is printed to stderr."""
    if isinstance(err, EcgViewerError):
        return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if debug_enabled():
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    return describe_unexpected(err, files)
