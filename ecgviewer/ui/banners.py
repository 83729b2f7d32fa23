"""The banners around the lead grid: the exam's header above it, the model's notice below.

:class:`Banners` (``window.banners``) owns both labels and the status bar's model label. The
exam header names the exam (id, file, fs, duration, age and sex, the header's diagnoses, "exam
n of N") plus what features add through ``banners.parts`` (functions ``f(exam) -> [html]``);
the model banner says which model produced the numbers and that it is not a medical device.
They follow the window's :class:`~ecgviewer.viewer.ViewerModel`: a new current exam or a change
of the open sets redraws them; the model region of the window calls :meth:`update` when the
model changes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


def dx_text(codes: Sequence[str], limit: int = 110) -> str:
    """Header diagnoses as names ("right bundle branch block (59118001)"), shortened to ``limit``."""
    from ecgviewer.labels import finding_name

    text = ", ".join(finding_name(str(c)) for c in codes)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rich_label(margins: tuple[int, int, int, int]) -> QLabel:
    label = QLabel("")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setContentsMargins(*margins)
    return label


class Banners(QObject):
    """The exam header and the model banner of one main window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.parts: list[Callable[[Any], list[str]]] = []  # features' f(exam) -> [html bits]
        self.hide_exam_labels = False  # blinded reading: the header leaves out the exam's own Dx
        self.exam_banner = _rich_label((6, 3, 6, 1))
        self.model_banner = _rich_label((6, 1, 6, 3))
        self.model_banner.setWordWrap(True)
        self.status_model = QLabel("")
        window.statusBar().addPermanentWidget(self.status_model)
        events = window.viewer.events
        events.exam_changed.connect(self.update)
        events.sets_changed.connect(self.update)

    def around(self, grid: QWidget) -> QWidget:
        """The window's central widget: the exam header, ``grid``, the model banner."""
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.exam_banner)
        lay.addWidget(grid, 1)
        lay.addWidget(self.model_banner)
        return central

    def update(self, *_: object) -> None:
        """Redraw both banners from the viewer's exam, row and model."""
        self.exam_banner.setText(self.exam_html())
        m = self.w.viewer.model
        if m is None:
            text = "<span style='color:#8a1c1c'><b>No model loaded.</b> Not a medical device.</span>"
            self.status_model.setText("No model")
        else:
            c = m.contract
            notice = c.notice or "Not a medical device."
            if "medical device" not in notice.lower():
                notice += " Not a medical device."
            text = (
                f"Findings by <b>{html.escape(c.name)}</b> version {html.escape(str(c.version))} "
                f"({html.escape(m.provider)}) · "
                f"<span style='color:#8a1c1c'><b>{html.escape(notice)}</b></span>"
            )
            self.status_model.setText(f"Model: {c.name} {c.version} · {m.provider}")
            self.status_model.setToolTip(m.provider_note)
        self.model_banner.setText(text)
        if m is not None and hasattr(self.w, "analysis"):
            self.w.analysis.name_ensemble(m)  # an ensemble: its name and members

    def exam_html(self) -> str:
        """The exam header's rich text."""
        vm = self.w.viewer
        exam = vm.exam
        if exam is None:
            return "<b>No exam open</b> — File → Open (Ctrl+O) or drop files or folders here"
        bits = [f"<b>{html.escape(exam.exam_id or '—')}</b>"]
        if exam.source is not None:
            bits.append(html.escape(exam.source.name))
        bits.append(f"{exam.fs:g} Hz · {exam.duration_s:.2f} s")
        if exam.age is not None or exam.sex:
            age = f"{exam.age:g} y" if exam.age is not None else ""
            bits.append(" ".join(x for x in (age, exam.sex or "") if x))
        for part in self.parts:
            bits += part(exam)
        dx = (exam.raw_labels or {}).get("dx")
        if dx and not self.hide_exam_labels:
            bits.append("Dx: " + html.escape(dx_text(dx)))
        if vm.row is not None and len(vm.workspace) > 1:
            bits.append(f"exam {vm.row + 1:,} of {len(vm.workspace):,}")
        return " · ".join(bits)
