"""The clinical file's own content in the window: the cart's reading and the patient identifiers.

:class:`ClinicalDisplay` is one feature part of the main window (``window.clinical``):

* a **device section** under the findings panel's bars (:class:`DeviceReadingPanel`) with the
  cart's own interpretation statements and measurements, each line ``device (<name>): …``, on a
  grey-blue background and headed "not the network's", so it is never read as the network's output;
  hidden for files that carry none;
* **View → Show Patient Identifiers** (checkable, off by default, remembered in the settings): the
  patient's name, id and birth date in the window header, the info panel and the exported report.
  The acquisition (time, device, site, cart filters) is always in the info panel and the header.

The state is ``window.viewer.view.show_identifiers`` (:mod:`ecgviewer.viewer.view`); this module
observes it. Texts come from :mod:`ecgviewer.viewer.clinical` (no Qt).
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ecgviewer.ui import settings as S  # noqa: N812
from ecgviewer.viewer.clinical import acquisition_text, device_reading, identity_text

DEVICE_STYLE = (
    "QFrame#device_reading { background:#eef3f8; border-left:3px solid #607d8b; border-radius:3px; }"
)


class DeviceReadingPanel(QFrame):
    """The cart's own statements and measurements of the exam on screen (hidden when none)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("device_reading")
        self.setStyleSheet(DEVICE_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 5, 6, 5)
        layout.setSpacing(2)
        self.heading = QLabel("")
        self.heading.setWordWrap(True)
        self.statements = QLabel("")
        self.statements.setWordWrap(True)
        self.statements.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.measurements = QLabel("")
        self.measurements.setWordWrap(True)
        self.measurements.setStyleSheet("color:#455a64;")
        for w in (self.heading, self.statements, self.measurements):
            w.setTextFormat(Qt.TextFormat.RichText)
            layout.addWidget(w)
        self.reading = None
        self.hide()

    def set_exam(self, exam: Any, *, identifiers: bool = False) -> None:
        """Show the reading of ``exam`` (a clinical file's ``exam.clinical.device_report``)."""
        reading = device_reading(exam, identifiers=identifiers) if exam is not None else None
        self.reading = reading
        if reading is None:
            self.hide()
            return
        e = html.escape
        who = reading.source + (f" ({reading.interpreter})" if reading.interpreter else "")
        self.heading.setText(
            f"<b>{e(reading.heading)}</b>"
            + (f" · {e(who)}" if who else "")
            + "<br><span style='color:#546e7a'>the cart's reading in the file, not the network's</span>"
        )
        # each line names the device once in the heading: "device: ATRIAL FIBRILLATION"
        short = [line.split(": ", 1)[1] if ": " in line else line for line in reading.statements]
        self.statements.setText(
            "<br>".join(f"<span style='color:#455a64'>device:</span> {e(line)}" for line in short)
        )
        self.statements.setVisible(bool(short))  # some files keep the measurements only
        self.measurements.setText(
            "device measurements: " + " · ".join(e(m) for m in reading.measurements)
            if reading.measurements
            else ""
        )
        self.measurements.setVisible(bool(reading.measurements))
        self.show()

    def text(self) -> str:
        """What the panel shows, as plain lines (empty when hidden)."""
        if self.reading is None:
            return ""
        return "\n".join([*self.reading.statements, *self.reading.measurements])


class ClinicalDisplay(QObject):
    """The device section and the patient-identifier option of one main window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.view = window.viewer.view
        self.device = DeviceReadingPanel()
        window.findings.add_section(self.device)
        window.banners.parts.append(self._banner_bits)

        self.act_identifiers = window.make_action(
            "Show Patient &Identifiers",
            self._on_action,
            checkable=True,
            tip="Show patient names, ids and birth dates of clinical files in the header, the exam "
            "panel and exported reports (off by default)",
        )
        window.register_action(self.act_identifiers, "view")
        if window.interactive:  # --screenshot: identifiers stay hidden, settings untouched
            self.view.show_identifiers = S.get_bool(window.settings, S.SHOW_IDENTIFIERS, False)
        self.act_identifiers.setChecked(bool(self.view.show_identifiers))
        window.info.set_show_identifiers(bool(self.view.show_identifiers))
        self.view.events.show_identifiers.connect(self._on_identifiers_changed)

        window.exam_shown.connect(self._refresh)
        window.exams_closed.connect(lambda: self.device.set_exam(None))

    @property
    def show_identifiers(self) -> bool:
        return bool(self.view.show_identifiers)

    def set_show_identifiers(self, on: bool) -> None:
        """View → Show Patient Identifiers (also what the exported report includes)."""
        self.view.show_identifiers = bool(on)

    def _on_action(self, on: bool) -> None:
        self.set_show_identifiers(bool(on))

    def _on_identifiers_changed(self, on: bool) -> None:
        w = self.w
        if self.act_identifiers.isChecked() != bool(on):
            self.act_identifiers.setChecked(bool(on))
        if w.interactive:
            w.settings.setValue(S.SHOW_IDENTIFIERS, bool(on))
        w.info.set_show_identifiers(bool(on))
        self._refresh(w.current_exam)
        w.banners.update()

    def _refresh(self, exam: Any) -> None:
        self.device.set_exam(exam, identifiers=self.show_identifiers)
        if self.device.reading is not None:
            self._fit_findings_dock()

    def _fit_findings_dock(self) -> None:
        """Grow the findings dock (never shrink it) so that the device's statements are not
        scrolled out of sight under the bars; the docks below give up the height."""
        w = self.w
        dock = getattr(w, "findings_dock", None)
        if dock is None or dock.isFloating() or not dock.isVisible():
            return
        findings = w.findings
        needed = findings.layout().totalHeightForWidth(max(200, findings.width()))
        needed = needed if needed > 0 else findings.sizeHint().height()
        needed += 60 - findings.model_box.sizeHint().height()  # down to the device section; title bar
        limit = int(w.height() * 0.75)  # leave the docks below something
        if dock.height() < min(needed, limit):
            w.resizeDocks([dock], [min(needed, limit)], Qt.Orientation.Vertical)

    def _banner_bits(self, exam: Any) -> list[str]:
        bits = []
        if who := identity_text(exam, identifiers=self.show_identifiers):
            bits.append(f"<b>{html.escape(who)}</b>")
        if acq := acquisition_text(exam):
            bits.append(html.escape(acq))
        return bits
