"""The Qt viewer (PySide6 + pyqtgraph): presents the core and runs its slow work off the UI thread.

Modules:
    app         ``run_app(args)``: QApplication set-up, command-line paths, ``--screenshot``.
    mainwindow  the main window: a composition of the parts below (menus, toolbar, docks), the
                model, prediction and batch analysis.
    opening     File → Open, Open Folder, Open Recent, drag and drop, Close All; reading a row
                and putting its exam on screen; Next/Previous Exam.
    view_controls  layout, gain, speed, rhythm lead, N/R/C, zoom: actions and toolbar combos
                bound to ``viewer.view``, kept in the settings.
    banners     the exam header above the grid and the model's notice below it.
    jobs        background jobs in the status bar: progress, Cancel (Esc).
    messages    errors as one line: the guard around every action, error and warning dialogs.
    help_dialogs  Help → Keyboard Shortcuts, About.
    leadgrid    the 12 leads on ECG paper (layouts, gain, speed, calipers, per-lead overlays).
    paper_items the lead grid's items: ECG paper, the view box (pan, zoom, caliper drags), a cell.
    findings    a probability bar per class of the model (an ensemble's spread and agreement),
                the active model, the model selector and Choose ensemble….
    browser     the exam table (virtualised, sortable, filterable).
    infopanel   the exam's facts and the preprocessing report.
    workers     QRunnable tasks with progress, cancel and results delivered on the UI thread.
    settings    QSettings in an ini file under :func:`ecgviewer.paths.user_data_dir`.
    saliency_panel  SHAP heatmap strips in exam time, legend, lead-importance bars, explain worker.
    labels_panel    label sources with scopes, the per-exam comparison, the browser's agreement data.
    setstats        the "Set statistics" view (Table 2, kappa, McNemar, precision-recall curves).
    explanation_dock  the Explanation dock and its actions (Explain, SHAP heatmap).
    labels_dock       the Labels dock, Load Labels…, label discovery, the browser's label column.
    set_statistics    Set Statistics… (the dialog of :mod:`setstats` over the open exams).
    report_export     Export Report… (the PDF of the exam on screen, written in the background).
    analysis          loading models and ensembles, the exam on screen's prediction, Analyse All.
    model_import      Import Model… (the authors' model.zip, Keras .hdf5, ONNX) with a summary.
    measurements      the cart's measurements line, the findings cross-check, fiducials, display filters.
    device_panel      the clinical file's device reading and the patient-identifier option.
    median_beats      the cart's median beats dock.
    read_dock         the reader's own reads (blinded reading, the reading study).

The state it shows (open sets, current exam, model, results, labels, view settings) lives in
the Qt-free :mod:`ecgviewer.viewer`; the window keeps it in ``window.viewer``. Nothing outside
this package imports it; the core never imports Qt widgets.
"""

from ecgviewer.ui import _compat

_compat.apply()
