"""The viewer's state and what can be done to it, with no Qt: :class:`ViewerModel`.

The Qt window (:mod:`ecgviewer.ui`) observes a ``ViewerModel`` and runs its slow methods on
worker threads; a notebook or a test drives the same object directly::

    vm = ViewerModel()
    vm.open(["records/"])          # exam sets → rows of vm.workspace
    vm.show(0)                     # vm.exam: the Exam of row 0, samples in mV
    vm.load_model()                # the bundled model
    vm.analyse()                   # vm.prediction: (6,) probabilities of the exam on screen
    vm.explain(max_evals=500)      # vm.saliency: SHAP values (6, 12, segments)
    vm.add_labels("gold.csv")      # a label source; vm.comparison() puts it beside the model
    vm.report("exam.pdf")          # the PDF report of the exam on screen

Every state change is announced on ``vm.events`` (psygnal signals, emitted on the thread that
made the change); view settings are in ``vm.view`` (:class:`~ecgviewer.viewer.view.ViewSettings`,
evented per field). Slow methods take the core's ``progress=`` and ``cancel=`` callbacks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from ecgviewer.exam import Exam
from ecgviewer.io import ExamSet, open_exams
from ecgviewer.labels import ExamComparison, LabelSet, load_label_file
from ecgviewer.viewer.reading import ReadingSession
from ecgviewer.viewer.view import ViewSettings
from ecgviewer.viewer.workspace import Workspace

PathLike = str | os.PathLike


class ViewerEvents(SignalGroup):
    """What changed in a :class:`ViewerModel` (each signal carries the new value)."""

    sets_changed = Signal(int)  # number of rows open
    exam_changed = Signal(object)  # Exam now current, or None
    model_changed = Signal(object)  # EcgModel now active
    prediction_changed = Signal(object)  # Prediction of the current exam, or None
    saliency_changed = Signal(object)  # Saliency of the current exam, or None
    labels_changed = Signal(int)  # number of label sources attached
    measurements_changed = Signal(object)  # Measurements of the current exam, or None


class ViewerModel:
    """Open exam sets, the current exam, the active model and its results, label sources, view.

    Attributes:
        workspace: every open exam set as rows 0..N-1, with the per-row probabilities.
        view: layout, gain, speed, rhythm lead and filter (evented).
        row: the current row (None when the exam did not come from a row, or nothing is shown).
        exam: the current :class:`~ecgviewer.exam.Exam` (``signal_mv`` (samples, leads) mV).
        model: the active :class:`~ecgviewer.model.runtime.EcgModel`, or None.
        prediction: the model's :class:`~ecgviewer.model.runtime.Prediction` of ``exam``.
        saliency: the :class:`~ecgviewer.explain.Saliency` of ``exam``, or None.
        label_sources: attached :class:`~ecgviewer.labels.LabelSet` s, in the order added.
        reading: the reading session (:class:`~ecgviewer.viewer.reading.ReadingSession`): the
            reader, blinded reading and every reader's reads of the open exams.
    """

    def __init__(self) -> None:
        self.events = ViewerEvents()
        self.workspace = Workspace()
        self.view = ViewSettings()
        self.row: int | None = None
        self.exam: Exam | None = None
        self.model: Any = None
        self.prediction: Any = None
        self.saliency: Any = None
        self.label_sources: list[LabelSet] = []
        self.reading = ReadingSession(self.workspace)  # the reader's own reads (reading study)

    # -- exam sets -------------------------------------------------------------------------
    def add_set(self, exam_set: ExamSet) -> range:
        """Append an opened set; returns its rows."""
        rows = self.workspace.add(exam_set)
        self.events.sets_changed.emit(len(self.workspace))
        return rows

    def open(self, paths: PathLike | Iterable[PathLike], **kwargs: Any) -> range:
        """Open files and folders as one set (:func:`ecgviewer.io.open_exams` arguments,
        including ``progress``/``cancel``); returns its rows. Raises ExamReadError."""
        return self.add_set(open_exams(paths, **kwargs))

    def close_all(self) -> None:
        """Close every set and forget the current exam and its results."""
        self.workspace.clear()
        self.reading.rescan()
        self.set_exam(None, None)
        self.events.sets_changed.emit(0)

    # -- the current exam ------------------------------------------------------------------
    def set_exam(self, exam: Exam | None, row: int | None = None) -> None:
        """Make ``exam`` current (its prediction and saliency are forgotten)."""
        self.row, self.exam = row, exam
        self.prediction = None
        self.saliency = None
        self.events.exam_changed.emit(exam)

    def show(self, row: int) -> Exam:
        """Read the exam of a row and make it current (raises ExamReadError, IndexError)."""
        exam = self.workspace.read(row)
        self.set_exam(exam, row)
        return exam

    # -- model and results -----------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        """Make ``model`` active: every probability in the workspace is forgotten."""
        self.model = model
        c = model.contract
        self.workspace.set_model(f"{c.name} {c.version}", c.thresholds, c.classes)
        self.set_prediction(None)
        self.events.model_changed.emit(model)

    def load_model(self, path: PathLike | None = None) -> Any:
        """Load an ONNX model (default: the bundled one) and make it active."""
        from ecgviewer.model.runtime import bundled_model_path, load_model

        model = load_model(Path(path) if path is not None else bundled_model_path())
        self.set_model(model)
        return model

    def set_prediction(self, prediction: Any) -> None:
        """Store the current exam's prediction (and its row's probabilities)."""
        self.prediction = prediction
        self.saliency = None
        if prediction is not None and self.row is not None:
            self.workspace.set_probabilities([self.row], np.asarray(prediction.probabilities)[None])
        self.events.prediction_changed.emit(prediction)

    def _need(self, what: str) -> None:
        if self.exam is None:
            raise ValueError(f"{what}: no exam is shown")
        if self.model is None:
            raise ValueError(f"{what}: no model is loaded")

    def analyse(self) -> Any:
        """Run the active model on the current exam; returns the Prediction (PreprocessError
        when the exam cannot be prepared)."""
        self._need("analyse")
        self.set_prediction(self.model.predict_exam(self.exam))
        return self.prediction

    def set_saliency(self, saliency: Any) -> None:
        self.saliency = saliency
        self.events.saliency_changed.emit(saliency)

    def explain(self, **kwargs: Any) -> Any:
        """SHAP values of the current exam (:func:`ecgviewer.explain.explain_cached` arguments,
        e.g. ``segments``, ``max_evals``, ``progress``, ``cancel``); analyses first if needed."""
        from ecgviewer.explain import explain_cached

        self._need("explain")
        if self.prediction is None:
            self.analyse()
        pred = self.prediction
        sal = explain_cached(self.model, pred.input, report=pred.report, **kwargs)
        self.set_saliency(sal)
        return sal

    # -- measurements ----------------------------------------------------------------------
    def measure(self) -> Any:
        """The current exam's :class:`~ecgviewer.measure.Measurements`, cached per row in
        ``workspace.measurements`` (slow only the first time: run it off the UI thread)."""
        if self.exam is None:
            raise ValueError("measure: no exam is shown")
        m = self.workspace.measurements.measure(self.exam, self.row)
        self.events.measurements_changed.emit(m)
        return m

    def measurements(self) -> Any:
        """The current exam's cached measurements, or None when it was not measured yet."""
        if self.exam is None:
            return None
        return self.workspace.measurements.get(self.row, self.exam)

    # -- labels ----------------------------------------------------------------------------
    def attach_labels(self, labels: LabelSet) -> None:
        """Attach a label source (replacing one of the same name)."""
        self.label_sources = [ls for ls in self.label_sources if ls.name != labels.name] + [labels]
        self.events.labels_changed.emit(len(self.label_sources))

    def add_labels(self, path: PathLike, *, name: str | None = None) -> LabelSet:
        """Read a label file (CSV/TSV class table or metadata) and attach it; raises LabelError."""
        labels = load_label_file(path, name=name)
        self.attach_labels(labels)
        return labels

    def exam_labels(self) -> list[LabelSet]:
        """Label sources with a row for the current exam, its own header labels first."""
        from ecgviewer.labels import labels_from_exam

        if self.exam is None:
            return []
        own = labels_from_exam(self.exam)
        index = 0 if self.row is None else self.workspace.locate(self.row)[1]
        found = [ls for ls in self.label_sources if ls.row_of(self.exam.exam_id, index) is not None]
        return ([own] if own is not None else []) + found

    def comparison(self) -> ExamComparison:
        """The current exam's classes (the model's: the paper's six by default): the model's
        decisions beside every label source ("n/a", -1, where a source lacks a model class)."""
        from ecgviewer.viewer.model_classes import compare_for_classes

        if self.exam is None:
            raise ValueError("compare: no exam is shown")
        index = 0 if self.row is None else self.workspace.locate(self.row)[1]
        pred = self.prediction
        sources: Sequence[LabelSet] = self.exam_labels()
        return compare_for_classes(
            self.exam.exam_id,
            index,
            sources,
            self.workspace.classes if pred is None else tuple(pred.classes),
            decisions=None if pred is None else pred.decisions,
            probabilities=None if pred is None else pred.probabilities,
            model_name=pred.model_name if pred is not None else "Model",
        )

    # -- report ----------------------------------------------------------------------------
    def report(self, out: PathLike, **kwargs: Any) -> Path:
        """Write the PDF report of the current exam at the view's gain and speed, with the patient
        identifiers only when the view shows them (:func:`ecgviewer.report.write_exam_report`
        arguments); returns the written path."""
        from ecgviewer.report import write_exam_report

        self._need("report")
        if self.prediction is None:
            self.analyse()
        kwargs.setdefault("gain_mm_mv", float(self.view.gain))
        kwargs.setdefault("speed_mm_s", float(self.view.speed))
        kwargs.setdefault("rhythm_lead", self.view.rhythm_lead)
        kwargs.setdefault("labels", self.exam_labels())
        kwargs.setdefault("identifiers", bool(self.view.show_identifiers))
        kwargs.setdefault("reads", [] if self.row is None else self.reading.reads_of(self.row))
        kwargs.setdefault("display_filters", self.view.display_filters)
        kwargs.setdefault("measurements", self.measurements())
        return Path(
            write_exam_report(
                out, self.exam, self.prediction, saliency=self.saliency, model=self.model, **kwargs
            )
        )
