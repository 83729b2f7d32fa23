"""Writing exams in the paper's HDF5 layout (what ``ecgviewer convert`` does)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ecgviewer import __version__
from ecgviewer.atomic import apply_umask
from ecgviewer.errors import Cancelled, EcgViewerError, ExamReadError
from ecgviewer.io.examset import ExamSet
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import MODEL_FS, MODEL_SAMPLES, to_model_input

_BATCH = 32


@dataclass
class ExportResult:
    """What :func:`write_code_hdf5` wrote."""

    path: Path
    written: int
    exam_ids: list[str] = field(default_factory=list)
    failures: list[EcgViewerError] = field(default_factory=list)


def _id_dataset(ids: list[str]) -> np.ndarray:
    """Integer ids (as in CODE) when every id is an integer, else UTF-8 strings."""
    try:
        ints = [int(i) for i in ids]
        if all(str(v) == i.strip() for v, i in zip(ints, ids, strict=True)):
            return np.asarray(ints, dtype=np.int64)
    except ValueError:
        pass
    return np.asarray(ids, dtype=h5py.string_dtype("utf-8"))


def write_code_hdf5(
    exams: ExamSet,
    out: str | os.PathLike,
    *,
    start_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write every exam, preprocessed, as the paper's input file.

    The file holds ``tracings`` (N, 4096, 12) float32 in mV at 400 Hz (what the paper's
    ``predict.py`` feeds its network unscaled), leads I, II, III,
    aVR, aVL, aVF, V1–V6, and ``exam_id`` (N,) (int64 when every id is an integer, else
    strings), plus ``source`` (N,) file paths, ``original_fs`` (N,) Hz and ``offset_s`` (N,)
    (original time of sample 0). Exams are streamed one batch at a time, so memory stays
    small whatever N. The file appears only when complete (temporary file + ``os.replace``).
    Exams that cannot be read or preprocessed are skipped and returned in ``failures``.

    Raises:
        ExamReadError: ``out`` is one of the inputs, its folder does not exist, or nothing
            could be converted.
        Cancelled: ``cancel()`` returned True (no file is left behind).
    """
    out = Path(out)
    inputs = {Path(src.path).resolve() for src in exams.sources}
    if out.resolve() in inputs:
        raise ExamReadError(out, "the output would overwrite an input file; choose another name")
    if not out.parent.is_dir():
        raise ExamReadError(out, f"folder {out.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    apply_umask(tmp_name)
    tmp = Path(tmp_name)
    result = ExportResult(path=out, written=0)
    sources: list[str] = []
    fs_list: list[float] = []
    offsets: list[float] = []
    total = len(exams)
    try:
        with h5py.File(tmp, "w") as h:
            ds = h.create_dataset(
                "tracings",
                shape=(0, MODEL_SAMPLES, len(LEADS)),
                maxshape=(None, MODEL_SAMPLES, len(LEADS)),
                dtype=np.float32,
                chunks=(1, MODEL_SAMPLES, len(LEADS)),
            )
            batch: list[np.ndarray] = []

            def flush() -> None:
                if batch:
                    n = ds.shape[0]
                    ds.resize(n + len(batch), axis=0)
                    ds[n : n + len(batch)] = np.stack(batch)
                    batch.clear()

            for i in range(total):
                if cancel is not None and cancel():
                    raise Cancelled(f"conversion stopped after {i} of {total} exams")
                try:
                    exam = exams[i]
                    x, report = to_model_input(exam, start_s=start_s)
                except EcgViewerError as err:
                    result.failures.append(err)
                    continue
                batch.append(x)
                result.exam_ids.append(exam.exam_id or str(i))
                sources.append(str(exam.source or ""))
                fs_list.append(exam.fs)
                offsets.append(report.offset_s)
                if len(batch) >= _BATCH:
                    flush()
                if progress is not None:
                    progress(i + 1, total)
            flush()
            result.written = int(ds.shape[0])
            if result.written == 0:
                raise ExamReadError(
                    out,
                    "no exam could be converted"
                    + (f" (first problem: {result.failures[0]})" if result.failures else " (no exams)"),
                )
            h.create_dataset("exam_id", data=_id_dataset(result.exam_ids))
            h.create_dataset("source", data=np.asarray(sources, dtype=h5py.string_dtype("utf-8")))
            h.create_dataset("original_fs", data=np.asarray(fs_list, dtype=np.float64))
            h.create_dataset("offset_s", data=np.asarray(offsets, dtype=np.float64))
            h.attrs["fs"] = MODEL_FS
            h.attrs["units"] = "mV"
            h.attrs["leads"] = np.asarray(LEADS, dtype=h5py.string_dtype("utf-8"))
            h.attrs["created_by"] = f"ecgviewer {__version__} convert"
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result
