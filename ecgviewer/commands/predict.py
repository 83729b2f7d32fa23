"""``ecgviewer predict PATH... --out FILE.csv|FILE.npy``: batch prediction, streamed with bounded memory."""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ecgviewer.atomic import temp_beside
from ecgviewer.errors import EcgViewerError, ModelError, exam_error

NAME = "predict"
HELP = (
    "Run the network on every exam in the given files and folders and write one row per exam: "
    "a CSV (exam id, source, six probabilities, six decisions) or an .npy array (N, 6) float32 "
    "as the paper's predict.py writes. Exit status 1 when some exams could not be read "
    "(they get an 'error' column in the CSV, NaN rows in the .npy)."
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="ECG files or folders (searched recursively)"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE.csv|FILE.npy",
        help="output: .csv (one row per exam) or .npy ((N, 6) float32, NaN rows for exams "
        "that could not be read)",
    )
    parser.add_argument("--model", metavar="MODEL.onnx", help="model to use (default: the bundled model)")
    parser.add_argument("--batch-size", type=int, default=32, help="exams per inference call (default 32)")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--cpu", action="store_true", help="do not try CUDA")
    parser.add_argument("--fs", type=float, help="sampling rate in Hz for files that do not state it")
    parser.add_argument("--units", help="amplitude unit for files that do not state it (mV, uV, 1e-4 V, ...)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary on stderr")


# --------------------------------------------------------------------------- progress bar


class ProgressBar:
    """A one-line progress bar on a terminal; a line every ~10 % when stderr is not a terminal."""

    def __init__(
        self, total: int, stream: TextIO | None = None, enabled: bool = True, label: str = ""
    ) -> None:
        self.total = max(int(total), 0)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, done: int, total: int | None = None) -> None:
        """Show ``done`` of ``total`` (default: the total given at construction)."""
        if total is not None:
            self.total = int(total)
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / self.total if self.total else 1.0
        if self.tty:
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            width = 30
            filled = round(width * frac)
            eta = (self.total - done) / rate if rate > 0 else 0.0
            self.stream.write(
                f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                f"{rate:6.1f} exams/s  eta {eta:5.0f} s "
            )
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile > self._last_decile:
                self._last_decile = decile
                self.stream.write(
                    f"{self.label}{done}/{self.total} exams ({100 * frac:.0f} %, {rate:.1f} exams/s)\n"
                )
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- writers


def _temp_beside(out: Path) -> Path:
    return temp_beside(out)


class _CsvWriter:
    def __init__(self, out: Path, classes: tuple[str, ...]) -> None:
        self.tmp = _temp_beside(out)
        self.out = out
        # backslashreplace: a file name that is not valid UTF-8 (surrogate escapes) is written
        # readably instead of failing the whole batch
        self.fh = open(self.tmp, "w", newline="", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - closed in finish/abort
        self.writer = csv.writer(self.fh)
        self.classes = classes
        self.writer.writerow(
            ["exam_id", "source", "index", *[f"prob_{c}" for c in classes], *classes, "error", "quality"]
        )

    def write(
        self,
        i: int,
        exam_id: str,
        source: str,
        index: int,
        probs: np.ndarray | None,
        decisions: np.ndarray | None,
        error: str = "",
        quality: str = "",
    ) -> None:
        if probs is None or decisions is None:
            values = [""] * (2 * len(self.classes))
        else:
            values = [f"{p:.9g}" for p in probs] + [str(int(d)) for d in decisions]
        self.writer.writerow([exam_id, source, index, *values, error, quality])

    def finish(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class _NpyWriter:
    def __init__(self, out: Path, n: int, n_classes: int) -> None:
        self.tmp = _temp_beside(out)
        self.out = out
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float32, shape=(n, n_classes))
        self.array[:] = np.nan

    def write(
        self,
        i: int,
        exam_id: str,
        source: str,
        index: int,
        probs: np.ndarray | None,
        decisions: np.ndarray | None,
        error: str = "",
        quality: str = "",
    ) -> None:
        if probs is not None:
            self.array[i] = probs

    def finish(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if hasattr(self, "array"):
            del self.array
        self.tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- streaming


@dataclass
class _Item:
    position: int
    exam_id: str
    source: str
    index: int
    x: np.ndarray | None
    error: str
    quality: str = ""
    withhold: bool = False


def _describe_exam(exams, i: int) -> tuple[str, str, int]:
    try:
        h = exams.header(i)
        return h.exam_id, str(h.source) if h.source is not None else "", int(h.index)
    except Exception:  # the header may be as unreadable as the exam
        return "", "", i


def iter_inputs(exams, prepare: Callable) -> Iterator[_Item]:
    """Read and preprocess one exam at a time; unreadable ones come with ``error`` set."""
    for i in range(len(exams)):
        try:
            exam = exams[i]
            x, report = prepare(exam)
            quality = report.quality
            yield _Item(
                i,
                exam.exam_id,
                str(exam.source) if exam.source is not None else "",
                exam.index,
                x,
                "",
                quality.note(),
                quality.withhold,
            )
        except EcgViewerError as err:
            exam_id, source, index = _describe_exam(exams, i)
            yield _Item(i, exam_id, source, index, None, str(err))


def predict_exams(
    model,
    exams,
    write: Callable[..., None],
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Stream ``exams`` through ``model`` in batches.

    ``write(i, exam_id, source, index, probs, decisions, error, quality=...)``
    is called once per exam, in order (``quality`` is the signal-quality note, "" when fine; the
    decisions of a non-signal are withheld, all False). One exam the model cannot take gets its
    error row; the others are scored. Memory holds one batch. Returns (n_ok, n_failed)."""
    from ecgviewer.errors import Cancelled

    n = len(exams)
    buf = np.empty((batch_size, model.n_samples, model.n_leads), dtype=np.float32)
    pending: list[_Item] = []
    ok = failed = done = 0

    def flush() -> None:
        nonlocal ok, failed, done
        ready = [item for item in pending if item.x is not None]
        try:
            probs: list = list(model.predict(buf[: len(ready)], batch_size=batch_size)) if ready else []
        except ModelError:  # isolate the exam(s) at fault: score the batch one exam at a time
            probs = []
            for k, item in enumerate(ready):
                try:
                    probs.append(model.predict(buf[k : k + 1], batch_size=1)[0])
                except ModelError as err:
                    probs.append(None)
                    item.error = str(exam_error(item.source or None, item.exam_id, err))
        k = 0
        for item in pending:
            p = None
            if item.x is not None:
                p = probs[k]
                k += 1
            if p is None:
                write(item.position, item.exam_id, item.source, item.index, None, None, item.error)
                failed += 1
            else:
                decisions = model.decide(p)
                if item.withhold:
                    decisions = np.zeros_like(decisions)
                write(item.position, item.exam_id, item.source, item.index, p, decisions, "", item.quality)
                ok += 1
        done += len(pending)
        pending.clear()
        if progress is not None:
            progress(done, n)

    filled = 0
    for item in iter_inputs(exams, model.prepare):
        if cancel is not None and cancel():
            raise Cancelled(f"prediction cancelled after {done} of {n} exams")
        if item.x is not None:
            buf[filled] = item.x
            filled += 1
        pending.append(item)
        if filled == batch_size or len(pending) >= 4 * batch_size:
            flush()
            filled = 0
    if pending:
        flush()
    return ok, failed


def run(args: argparse.Namespace) -> int:
    from ecgviewer.io import NotAnExamError, open_exams
    from ecgviewer.model.runtime import load_model

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ModelError(f"{out}: --out must end in .csv or .npy")
    if args.batch_size < 1:
        raise ModelError(f"--batch-size must be ≥ 1, got {args.batch_size}")
    if not out.parent.exists():
        raise ModelError(f"{out.parent}: the output folder does not exist")
    model = load_model(args.model, prefer_cuda=not args.cpu, threads=args.threads)
    quiet = args.quiet
    for w in model.warnings:
        print(f"ecgviewer: warning: {w}", file=sys.stderr)
    exams = open_exams(args.paths, fs=args.fs, units=args.units)
    try:
        n = len(exams)
        # files that hold no ECG (a model, a label table) are ignored quietly; damaged exams are reported
        damaged = [err for err in exams.errors if not isinstance(err, NotAnExamError)]
        ignored = len(exams.errors) - len(damaged)
        for err in damaged:
            print(f"ecgviewer: skipped {err}", file=sys.stderr)
        if ignored and not quiet:
            print(f"ecgviewer: ignored {ignored} file(s) that hold no ECG", file=sys.stderr)
        if n == 0:
            raise ModelError("no readable exams in " + ", ".join(map(str, args.paths)))
        if not quiet:
            print(f"{model.describe()}: {n} exams, batch {args.batch_size}", file=sys.stderr)
        try:
            writer = (
                _CsvWriter(out, model.classes) if suffix == ".csv" else _NpyWriter(out, n, len(model.classes))
            )
        except OSError as err:
            raise EcgViewerError(f"{out}: cannot write the output ({err.strerror or err})") from None
        bar = ProgressBar(n, enabled=not quiet)
        start = time.perf_counter()
        shown = 0

        flagged = 0

        def write(i, exam_id, source, index, probs, decisions, error="", quality=""):
            nonlocal shown, flagged
            flagged += bool(quality)
            if (error or quality) and not quiet and shown < 5:
                shown += 1
                lead = "\n" if bar.tty else ""
                what = f"not predicted: {error}" if error else quality
                print(f"{lead}ecgviewer: exam {i} ({exam_id or source}): {what}", file=sys.stderr)
            writer.write(i, exam_id, source, index, probs, decisions, error, quality)

        try:
            ok, failed = predict_exams(model, exams, write, batch_size=args.batch_size, progress=bar.update)
            writer.finish()
        except OSError as err:
            writer.abort()
            raise EcgViewerError(f"{out}: cannot write the output ({err.strerror or err})") from None
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
        seconds = time.perf_counter() - start
    finally:
        exams.close()
    if not quiet:
        where = "see the 'error' column" if suffix == ".csv" else "NaN rows"
        print(
            f"wrote {out}: {ok} exams in {seconds:.1f} s ({ok / seconds if seconds else 0:.1f} exams/s)"
            + (f"; {failed} could not be read ({where})" if failed else "")
            + (f"; {flagged} of unreliable signal quality (the 'quality' column)" if flagged else ""),
            file=sys.stderr,
        )
    return 1 if failed or damaged else 0
