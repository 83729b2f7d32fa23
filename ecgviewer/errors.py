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


DEBUG_ENV = "ECGVIEWER_DEBUG"


def debug_enabled() -> bool:
    """True when ``ECGVIEWER_DEBUG`` is set to a non-empty value other than 0: show tracebacks."""
    import os

    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def describe_unexpected(err: BaseException, files: object = ()) -> str:
    """One line for an exception that is not an :class:`EcgViewerError` (a last-resort guard).

    Names the file involved (the exception's own ``filename`` when it has one, else ``files``:
    the paths the action was working on), the exception and the hint to see the traceback.
    Used by the CLI's guard around each verb; the UI can use it around each action.
    """
    import os

    name = getattr(err, "filename", None)
    if name is not None:
        where = os.fsdecode(name) if isinstance(name, bytes | str | os.PathLike) else str(name)
    else:
        paths = [files] if isinstance(files, str | os.PathLike) else list(files or ())  # type: ignore[arg-type]
        where = ", ".join(
            os.fsdecode(p) if isinstance(p, bytes | str | os.PathLike) else str(p) for p in paths[:3]
        )
        if len(paths) > 3:
            where += f" (+{len(paths) - 3} more)"
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")[:300]
    what = f"{type(err).__name__}: {text}" if text else type(err).__name__
    prefix = f"{where}: " if where else ""
    return (
        f"{prefix}unexpected error ({what}); this is a bug in ecgviewer or an input it does not "
        f"handle. Set {DEBUG_ENV}=1 to see the traceback"
    )


def exam_error(source: str | Path | None, exam_id: str, err: BaseException) -> ExamReadError:
    """An error about one exam of a batch, naming its file and id (not the model that met it)."""
    problem = err.problem if isinstance(err, ExamReadError) else str(err)
    return ExamReadError(source, f"exam {exam_id}: {problem}" if exam_id else problem)
