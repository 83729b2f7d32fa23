"""The model and what it says: loading a model or an ensemble, the exam on screen, every open exam.

:class:`Analysis` (``window.analysis``) owns

* **the active model**: :meth:`Analysis.load_model` loads an ``.onnx`` (None: the bundled one)
  or a saved ensemble's ``.json`` in the background; :meth:`Analysis.load_ensemble` several
  installed models as one :class:`~ecgviewer.model.ensemble.EnsembleModel` (from the findings
  panel's *Choose ensemble…*, optionally saved). The model's classes become the findings bars,
  the exam table's probability columns and the filter's class words;
* **the prediction of the exam on screen** (:meth:`Analysis.predict_current`): an ensemble gives
  an :class:`~ecgviewer.model.ensemble.EnsemblePrediction` (mean, members' min–max, agreement);
* **batch analysis** (:meth:`Analysis.analyse_all`): every open exam not analysed yet, in
  batches on its own thread, with progress and cancel in the status bar.

The window keeps thin methods of the same names (``load_model``, ``set_model``, ``analyse_all``,
``_predict_current``) so its actions and the other parts call them as before.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from ecgviewer.errors import EcgViewerError
from ecgviewer.leads import LEADS
from ecgviewer.preprocess import MODEL_FS, MODEL_SAMPLES
from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.ui.workers import Task

BATCH = 32
ENSEMBLE_SUFFIX = ".json"


def _list_everything() -> tuple[list, list]:
    """(installed models, saved ensembles) for the selector; empty lists when unreadable."""
    from ecgviewer.model.runtime import list_models

    try:
        entries = list_models()
    except EcgViewerError:
        entries = []
    try:
        from ecgviewer.model.ensemble import list_ensembles

        ensembles = list_ensembles()
    except (EcgViewerError, OSError):
        ensembles = []
    return entries, ensembles


def is_ensemble(model: Any) -> bool:
    """True for an :class:`~ecgviewer.model.ensemble.EnsembleModel`."""
    return bool(getattr(model, "members", None))


def model_title(model: Any) -> str:
    """ "name version" of a model; an ensemble's name and how many members it has."""
    c = model.contract
    if is_ensemble(model):
        return f"{c.name} (ensemble of {len(model.members)})"
    return f"{c.name} {c.version}"


class Analysis(QObject):
    """Model loading, the prediction of the exam on screen and the batch analysis of one window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.batch_task: Task | None = None
        self.load_task: Task | None = None
        self._saved_name: str | None = None  # an unsaved ensemble's name, for the selector
        window.findings.ensemble_selected.connect(window.guarded(self.load_ensemble, "Ensemble"))

    # ================================================================== models
    def load_model(self, path: str | Path | None = None) -> Task:
        """Load a model (None: the bundled one; a ``.json``: a saved ensemble) in the background
        and make it active."""

        def work(task: Task):
            from ecgviewer.model.runtime import load_model

            t0 = time.perf_counter()
            if path is not None and Path(path).suffix.lower() == ENSEMBLE_SUFFIX:
                from ecgviewer.model.ensemble import load_ensemble

                model = load_ensemble(Path(path))
            else:
                model = load_model(path)
            seconds = time.perf_counter() - t0
            return (model, *_list_everything(), seconds)

        what = "ensemble" if path is not None and Path(path).suffix.lower() == ENSEMBLE_SUFFIX else "model"
        return self._start_load(work, f"Loading the {what}", path)

    def load_ensemble(self, choice: Any) -> Task:
        """Several installed models as one (a :class:`~ecgviewer.ui.findings.EnsembleChoice`:
        name, member files, save); saved ensembles go to ``<models folder>/ensembles``."""
        members = [Path(p) for p in choice.members]
        name = str(choice.name)
        save = bool(getattr(choice, "save", False))

        def work(task: Task):
            from ecgviewer.model.ensemble import EnsembleModel, save_ensemble
            from ecgviewer.model.runtime import load_model

            t0 = time.perf_counter()
            models = []
            for i, p in enumerate(members):
                if task.cancelled():
                    return None
                task.progress(i, len(members))
                models.append(load_model(p))
            model = EnsembleModel(models, name=name)
            if save:
                model.path = save_ensemble(name, members)
            seconds = time.perf_counter() - t0
            return (model, *_list_everything(), seconds)

        return self._start_load(work, f"Loading {name} ({len(members)} models)", None, track=True)

    def _start_load(self, work, label: str, path: str | Path | None, track: bool = False) -> Task:
        w = self.w
        task = Task(work, label)
        task.signals.done.connect(self._on_model_loaded)
        task.signals.failed.connect(lambda err, p=path: self._on_model_failed(p, err))
        w.findings.model_info.setText(html.escape(label) + "…")
        self.load_task = task
        if track:
            w.track_task(task, label)
        w.runner.start(task)
        return task

    def set_model(self, path: str | Path) -> None:
        """Switch to another model or saved ensemble (from the selector); probabilities are recomputed."""
        path = Path(path)
        m = self.w.model
        if m is not None and not is_ensemble(m) and Path(m.path).resolve() == path.resolve():
            return
        if m is not None and is_ensemble(m) and Path(m.path).resolve() == path.resolve():
            return  # the saved ensemble in use
        self.w._model_from_cli = False
        self.load_model(path)

    def refresh_models(self) -> None:
        """List the installed models and saved ensembles again (e.g. after an import)."""
        w = self.w
        entries, ensembles = _list_everything()
        self._fill_selector(w.model, entries, ensembles)

    def _fill_selector(self, model: Any, entries: list, ensembles: list) -> None:
        f = self.w.findings
        if model is None:
            f.set_models(entries, None, ensembles)
            return
        saved = is_ensemble(model) and Path(model.path).suffix.lower() == ENSEMBLE_SUFFIX
        unsaved = is_ensemble(model) and not saved
        f.set_models(entries, model.path, ensembles, current_name=model.contract.name if unsaved else None)

    def _on_model_loaded(self, result) -> None:
        if result is None:  # cancelled between members
            return
        w = self.w
        model, entries, ensembles, seconds = result
        w.timings["model"] = seconds
        if self.batch_task is not None:
            self.batch_task.cancel()
        w.model = model
        w.ws.set_model(model_title(model), model.thresholds, model.classes)
        w.findings.set_model(model)
        self._fill_selector(model, entries, ensembles)
        w.browser.set_classes(tuple(model.classes))
        w.browser.probabilities_changed(None)
        w._update_banners()  # names an ensemble's members too (name_ensemble)
        if (
            not w._model_from_cli
            and w.interactive
            and not (is_ensemble(model) and Path(model.path).suffix.lower() != ENSEMBLE_SUFFIX)
        ):  # an unsaved ensemble is not remembered (its first member's file would be)
            w.settings.setValue(S.MODEL, str(model.path))
        w.model_changed.emit(model)
        if w.current_exam is not None:
            w.findings.set_status("Analysing…")
            self.predict_current(w._generation)

    def name_ensemble(self, model: Any) -> None:
        """An ensemble: the model banner and the status bar name it and its members (called by
        the window's banner update)."""
        if not is_ensemble(model):
            return
        w = self.w
        names = [m.contract.name for m in model.members]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        notice = next((m.contract.notice for m in model.members if m.contract.notice), "") or ""
        if "medical device" not in notice.lower():
            notice = (notice + " " if notice else "") + "Not a medical device."
        w.model_banner.setText(
            f"Findings by the ensemble <b>{html.escape(model.contract.name)}</b>: the mean of "
            f"{len(names)} members ({html.escape(shown)}) ({html.escape(model.provider)}) · "
            f"<span style='color:#8a1c1c'><b>{html.escape(notice)}</b></span>"
        )
        w.model_banner.setToolTip(
            "Members:\n" + "\n".join(f"{n} ({m.path})" for n, m in zip(names, model.members, strict=True))
        )
        w.status_model.setText(f"Ensemble: {model.contract.name} ({len(names)} members) · {model.provider}")
        w.status_model.setToolTip("\n".join(names) + f"\n{model.threshold_note}")

    def _on_model_failed(self, path, err: BaseException) -> None:
        w = self.w
        w.show_error("Cannot load the model", str(err))
        if w.model is not None:
            w.findings.set_model(w.model)
            self.refresh_models()
        else:
            w.findings.set_model(None)
            w.findings.set_status(
                "<span style='color:#b71c1c'>No model: the exam is shown without findings.</span>"
            )
            w.analysis_finished.emit()

    # ================================================================== the exam on screen
    def predict_current(self, gen: int) -> None:
        """Analyse the exam on screen in the background (``gen``: the window's exam generation)."""
        w = self.w
        if w.model is None or w.current_exam is None or gen != w._generation:
            return
        model = w.model
        exam = w.current_exam
        model_input = w.current_input
        t_start = time.perf_counter()

        def work(task: Task):
            if task.cancelled():
                return None
            c = model.contract
            standard = c.fs == MODEL_FS and int(c.input_shape[1]) == MODEL_SAMPLES and tuple(c.leads) == LEADS
            if standard and model_input is not None:
                x, report = model_input
                t = time.perf_counter()
                if is_ensemble(model):  # every member's output: mean, spread and agreement
                    every = model.predict_members(x[None], batch_size=1)[:, 0]
                    return model.member_prediction(every, x, report, time.perf_counter() - t)
                probs = model.predict(x[None], batch_size=1)[0]
                return model.prediction(probs, x, report, time.perf_counter() - t)
            return model.predict_exam(exam)

        task = Task(work, "Analysing")
        task.signals.done.connect(lambda pred, g=gen, m=model, t=t_start: self._on_prediction(g, m, pred, t))
        task.signals.failed.connect(lambda err, g=gen: self._on_prediction_failed(g, err))
        w._predict_task = task
        w.runner.start(task)

    def _on_prediction(self, gen: int, model, pred, t_start: float) -> None:
        w = self.w
        if gen != w._generation or pred is None or model is not w.model:
            return
        w.timings["predict"] = time.perf_counter() - t_start
        w.current_prediction = pred
        w.findings.set_prediction(pred)
        if pred.unreliable:
            from ecgviewer.viewer.quality_view import quality_of

            w.statusBar().showMessage(quality_of(pred).line, 15000)
        if w.current_row is not None:
            w.ws.set_probabilities([w.current_row], pred.probabilities[None])
            w.ws.row_errors.pop(w.current_row, None)
            w.browser.probabilities_changed(np.array([w.current_row]))
        report = w.current_input[1] if w.current_input is not None else pred.report
        w.info.show_exam(w.current_exam, report, pred, w.model)
        w._update_banners()  # names an ensemble's members too (name_ensemble)
        w.prediction_shown.emit(pred)
        w.analysis_finished.emit()

    def _on_prediction_failed(self, gen: int, err: BaseException) -> None:
        w = self.w
        if gen != w._generation:
            return
        from ecgviewer.viewer.quality_view import error_line

        text = error_line(err, [w.current_exam.display_name()] if w.current_exam is not None else ())
        w.findings.set_status(f"<span style='color:#b71c1c'>Analysis failed: {html.escape(text)}</span>")
        w.statusBar().showMessage(f"Analysis failed: {text}", 10000)
        if w.current_row is not None:
            w.ws.row_errors[w.current_row] = f"analysis: {text}"
        w.analysis_finished.emit()

    # ================================================================== batch analysis
    def analyse_all(self) -> Task | None:
        """Analyse every open exam not analysed yet, in the background, filling the browser."""
        w = self.w
        if w.model is None:
            w.statusBar().showMessage("No model loaded yet", 4000)
            return None
        if self.batch_task is not None and self.batch_task.state in ("queued", "running"):
            return self.batch_task
        todo = np.flatnonzero(~w.ws.analysed())
        todo = np.array([r for r in todo if r not in w.ws.row_errors], dtype=np.int64)
        if not len(todo):
            w.statusBar().showMessage("Every open exam is analysed", 4000)
            return None
        model = w.model
        ws = w.ws
        n_classes = len(model.classes)

        def work(task: Task):
            from ecgviewer.labels import labels_from_exam

            done = 0
            total = len(todo)
            for start in range(0, total, BATCH):
                if task.cancelled():
                    break
                rows = todo[start : start + BATCH]
                xs, ok, errors, own = [], [], {}, {}
                for r in rows:
                    if task.cancelled():
                        break
                    try:
                        exam = ws.read(int(r))
                        own[int(r)] = labels_from_exam(exam)  # e.g. WFDB #Dx, for the label column
                        x, _ = model.prepare(exam)
                        xs.append(x)
                        ok.append(int(r))
                    except EcgViewerError as err:
                        errors[int(r)] = str(err)
                probs = (
                    model.predict(np.stack(xs), batch_size=BATCH)
                    if xs
                    else np.zeros((0, n_classes), np.float32)
                )
                task.partial((model, np.array(ok, dtype=np.int64), probs, errors, own))
                done += len(rows)
                task.progress(done, total)
            return done

        label = f"Analysing {len(todo):,} exams" + (
            f" with {len(model.members)} models" if is_ensemble(model) else ""
        )
        task = Task(work, label)
        task.signals.partial.connect(self._on_batch_partial)
        task.signals.done.connect(lambda _: self._on_batch_end("done"))
        task.signals.cancelled.connect(lambda: self._on_batch_end("cancelled"))
        task.signals.failed.connect(
            lambda err: (w.show_error("Analysis stopped", str(err)), self._on_batch_end("failed"))
        )
        self.batch_task = task
        w._batch_task = task
        w.track_task(task, label)
        w.batch_runner.start(task)
        return task

    def _on_batch_partial(self, part) -> None:
        w = self.w
        model, rows, probs, errors, own = part
        if model is not w.model:
            return
        if len(rows):
            w.ws.set_probabilities(rows, probs)
        w.ws.row_errors.update({r: f"analysis: {m}" for r, m in errors.items()})
        changed = np.concatenate([rows, np.array(list(errors), dtype=np.int64)])
        w.browser.probabilities_changed(changed)
        w.rows_analysed.emit(rows, own)

    def _on_batch_end(self, how: str) -> None:
        w = self.w
        if self.batch_task is not None:
            w._untrack(self.batch_task)  # the status bar is clear when batch_finished is emitted
        n = int(w.ws.analysed().sum())
        w.statusBar().showMessage(f"Analysis {how}: {n:,} of {len(w.ws):,} exams analysed", 6000)
        w.browser.probabilities_changed(None)
        w.batch_finished.emit(how)
