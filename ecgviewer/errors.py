"""One exception family per kind of failure; every message names the file and the fix."""

from __future__ import annotations

from pathlib import Path


class EcgViewerError(Exception):
    """Base class of every error the application reports to the user (never a traceback)."""


class ExamReadError(EcgViewerError):
    """A file or folder could not be read as an ECG exam.

    ``str(err)`` reads ``"<path>: <problem>"`` so it can be shown as it is.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class PreprocessError(EcgViewerError):
    """An exam cannot be turned into the network's input (e.g. missing leads)."""


class ModelError(EcgViewerError):
    """A model could not be loaded or run (bad file, missing contract, wrong shape)."""


class LabelError(EcgViewerError):
    """A label file could not be read or matched to the exams."""


class ReportError(EcgViewerError):
    """A report could not be written."""


class Cancelled(EcgViewerError):  # noqa: N818 - a user's choice, not an error
    """A long operation (batch prediction, SHAP, conversion) was stopped by the user's cancel callback."""
