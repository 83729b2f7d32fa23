"""PDF reports of one exam (a 12-lead printout on ECG paper) and of a set of exams.

Drawn with Qt's :class:`~PySide6.QtGui.QPdfWriter` and :class:`~PySide6.QtGui.QPainter`
only (no widgets), so it runs headless (``QT_QPA_PLATFORM=offscreen``) from the CLI and
from a worker thread of the viewer. The output is vector graphics with selectable text
and embedded fonts.

Exam report (:func:`write_exam_report`):

* page 1 — header (exam id, source, age/sex, acquisition, the preprocessing applied), the
  six findings with probability, threshold and decision, the labels of each attached
  :class:`~ecgviewer.labels.LabelSet`, and the 12-lead printout on ECG paper at true
  physical scale (1 mm minor and 5 mm major squares; 3×4 leads plus a rhythm strip; a
  1 mV calibration pulse per row);
* page 2 (and on) — SHAP saliency of one class per page: the network's input with a
  diverging heatmap (red pushes the probability up, blue down, white is zero) and the
  lead importance bars.

Set report (:func:`write_set_report`): a summary (counts per finding, statistics against
the reference labels when there are any) and one table row per exam; optionally the
12-lead page of every exam.

Every page carries a footer with the model (name, version, provenance), the software
version, the date of the report and the model's notice ("Not a medical device").

Files are written atomically: into a temporary file in the destination folder, then
renamed over the destination with :func:`os.replace`; a failure leaves no partial file.

Modules:
    style       page sizes, margins, fonts, colours, the SHAP colour map, number formats (no Qt).
    writer      the atomic QPdfWriter and the millimetre canvas (QtGui/QtCore only, no widgets).
    paper       ECG paper and traces at physical scale: grid, calibration pulses, 3×4 printout.
    page        what every page shares: footer (model, notice, date), patient and label text.
    exam_page   page 1 of the exam report and :func:`write_exam_report`.
    shap_page   one SHAP page per class: heatmap over the network input, lead importance.
    set_report  :func:`write_set_report`: summary, statistics, one row per exam.
"""

from ecgviewer.report.exam_page import write_exam_report
from ecgviewer.report.paper import ExamPageGeometry, exam_page_geometry
from ecgviewer.report.set_report import write_set_report
from ecgviewer.report.style import (
    CAL_PULSE_S,
    LAYOUT_3X4,
    MAJOR_MM,
    MINOR_MM,
    PAPERS,
    format_probability,
    shap_color,
)

__all__ = [
    "CAL_PULSE_S",
    "LAYOUT_3X4",
    "MAJOR_MM",
    "MINOR_MM",
    "PAPERS",
    "ExamPageGeometry",
    "exam_page_geometry",
    "format_probability",
    "shap_color",
    "write_exam_report",
    "write_set_report",
]
