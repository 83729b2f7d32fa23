"""The exam's facts and the preprocessing report (what was done to make the network's input)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from ecgviewer.exam import Exam
from ecgviewer.preprocess import PreprocessReport


def exam_html(
    exam: Exam | None,
    report: PreprocessReport | None,
    prediction=None,
    model=None,
    *,
    identifiers: bool = False,
) -> str:
    """HTML describing the exam, the preprocessing and (if any) the model that analysed it.

    For a clinical file, its acquisition rows (time, device, site, cart filters) are listed, and the
    patient identifiers only with ``identifiers`` (View → Show Patient Identifiers)."""
    from ecgviewer.viewer.clinical import info_rows

    if exam is None:
        return "<p>No exam open.</p>"
    e = html.escape
    rows = [
        ("Exam", exam.exam_id or "—"),
        ("File", str(exam.source) if exam.source is not None else "in memory"),
        ("Format", exam.format or "—"),
    ]
    if exam.index:
        rows.append(("Exam in file", str(exam.index + 1)))
    rows += [
        ("Sampling rate", f"{exam.fs:g} Hz"),
        ("Length", f"{exam.n_samples} samples, {exam.duration_s:.2f} s"),
        ("Leads", ", ".join(exam.leads)),
    ]
    if exam.age is not None:
        rows.append(("Age", f"{exam.age:g}"))
    if exam.sex:
        rows.append(("Sex", exam.sex))
    if exam.recorded is not None:
        rows.append(("Recorded", exam.recorded.isoformat(sep=" ")))
    for key, value in (exam.raw_labels or {}).items():
        text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        rows.append((f"Labels ({key})", text or "—"))
    clinical_rows = info_rows(exam, identifiers=identifiers)
    rows += clinical_rows
    shown = {"device", "cart filters"} if clinical_rows else set()  # already in the clinical rows
    for key, value in [kv for kv in (exam.meta or {}).items() if kv[0] not in shown][:12]:
        rows.append((str(key), str(value)))
    parts = ["<h3 style='margin-bottom:2px'>Exam</h3><table cellspacing='0' cellpadding='2'>"]
    parts += [
        f"<tr><td style='color:#546e7a;padding-right:10px'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows
    ]
    parts.append("</table>")
    if exam.notes:
        parts.append("<h3 style='margin-bottom:2px'>Assumptions while reading</h3><ul>")
        parts += [f"<li>{e(n)}</li>" for n in exam.notes]
        parts.append("</ul>")
    parts.append("<h3 style='margin-bottom:2px'>Preprocessing for the network</h3>")
    if report is None:
        parts.append("<p><i>Not available (the exam could not be prepared for the network).</i></p>")
    else:
        lines = report.describe()
        notes = set(exam.notes)
        parts.append("<ol>" + "".join(f"<li>{e(line)}</li>" for line in lines if line not in notes) + "</ol>")
        parts.append(
            f"<p style='color:#546e7a'>Network input window: {report.offset_s:+.3f} s to "
            f"{report.offset_s + report.output_samples / report.output_fs:+.3f} s of the recording "
            f"(press N to see it, padding shaded).</p>"
        )
    if model is not None:
        c = model.contract
        parts.append("<h3 style='margin-bottom:2px'>Model</h3>")
        provenance = c.provenance or "provenance unknown"
        parts.append(
            f"<p><b>{e(c.name)}</b> version {e(str(c.version))} — {e(provenance)}"
            f"<br>{e(model.provider_note)}<br><span style='color:#8a1c1c'><b>"
            f"{e(c.notice or 'Not a medical device.')}</b></span></p>"
        )
    if prediction is not None:
        parts.append(
            "<table cellspacing='0' cellpadding='2'><tr><th align='left'>Class</th>"
            "<th align='right'>Probability</th><th align='right'>Threshold</th>"
            "<th>Decision</th></tr>"
        )
        for c, p, t, d in zip(
            prediction.classes,
            prediction.probabilities,
            prediction.thresholds,
            prediction.decisions,
            strict=True,
        ):
            parts.append(
                f"<tr><td>{e(c)}</td><td align='right'>{p:.4f}</td><td align='right'>{t:.3f}</td>"
                f"<td>{'<b>positive</b>' if d else 'negative'}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)


class ExamInfoPanel(QWidget):
    """A read-only page with :func:`exam_html`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.browser)
        self.show_identifiers = False
        self._shown: tuple = (None, None, None, None)
        self.show_exam(None, None)

    def show_exam(
        self, exam: Exam | None, report: PreprocessReport | None, prediction=None, model=None
    ) -> None:
        self._shown = (exam, report, prediction, model)
        self.browser.setHtml(exam_html(exam, report, prediction, model, identifiers=self.show_identifiers))

    def set_show_identifiers(self, on: bool) -> None:
        """Show the patient identifiers of clinical files (redraws the page)."""
        self.show_identifiers = bool(on)
        self.show_exam(*self._shown)

    def text(self) -> str:
        return self.browser.toPlainText()
