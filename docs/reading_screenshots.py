"""Render the README's reading-study screenshots (blinded, then revealed) offscreen.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=$PWD python docs/reading_screenshots.py ../shared/data/code-test

The CODE test exams, the gold standard and one cardiologist are copied into a temporary folder, so
the reads are written there and the dataset is never touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from offscreen_window import shown_window, wait_until

TIMEOUT_S = 300.0  # per wait


def _wait(app, cond) -> None:
    wait_until(app, cond, TIMEOUT_S)


def main(code_test: Path, out_dir: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="reading-"))
    os.environ["ECGVIEWER_HOME"] = str(tmp / "home")
    exams = tmp / "exams"
    exams.mkdir()
    for p in sorted((code_test / "exams").glob("*.hdf5")):
        shutil.copyfile(p, exams / p.name)
    (tmp / "annotations").mkdir()
    for name in ("gold_standard.csv", "cardiologist1.csv"):
        shutil.copyfile(code_test / "annotations" / name, tmp / "annotations" / name)

    from PySide6.QtCore import Qt

    app, w = shown_window((1700, 1000), TIMEOUT_S)
    rd = w.reading
    rd.set_reader("Dr. A. Souza")
    rd.set_blinded(True)
    w.open_paths([exams])
    _wait(app, lambda: len(w.ws) == 10 and w.ws.analysed().all() and len(w.label_sources.store) >= 2)
    w.resizeDocks([w.browser_dock], [170], Qt.Orientation.Vertical)
    w.resizeDocks([w.findings_dock, rd.dock], [430, 330], Qt.Orientation.Horizontal)

    def row_of(exam_id: str) -> int:
        return next(r for r in range(len(w.ws)) if rd.session.row_key(r)[1] == exam_id)

    # two exams already read, blinded
    for exam_id, text in (("pacient_1", "normal ECG"), ("pacient_3", "sinus rhythm")):
        row = row_of(exam_id)
        w.browser.select_ws_row(row)
        _wait(app, lambda r=row: w.current_row == r and w.current_prediction is not None)
        rd.panel.statement.setPlainText(text)
        rd.commit((0, 0, 0, 0, 0, 0))
    # the exam being read: pacient_2 (gold standard: LBBB); the reader calls LBBB, AF uncertain
    row = row_of("pacient_2")
    w.browser.select_ws_row(row)
    _wait(app, lambda: w.current_row == row and w.current_prediction is not None)
    for _ in range(20):
        app.processEvents()
    rd.panel.set_calls((0, 0, 1, 0, 2, 0))
    rd.panel.statement.setPlainText("Left bundle branch block; AF?")
    w.grid.fit()
    for _ in range(20):
        app.processEvents()
    out_dir.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(out_dir / "screenshot-reading-blinded.png"))
    rd.commit()
    w.label_sources.dock.show()
    w.label_sources.dock.raise_()
    w.resizeDocks([w.findings_dock, w.label_sources.dock], [300, 460], Qt.Orientation.Vertical)
    w.resizeDocks([w.findings_dock, rd.dock], [430, 330], Qt.Orientation.Horizontal)
    _wait(app, lambda: "Dr. A. Souza" in w.label_sources.store.names())
    for _ in range(20):
        app.processEvents()
    w.grab().save(str(out_dir / "screenshot-reading-revealed.png"))
    print(f"wrote {out_dir}/screenshot-reading-blinded.png and screenshot-reading-revealed.png")
    w.cancel_all_jobs(wait=True)
    w.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent)
