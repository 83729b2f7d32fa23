"""The viewer without Qt: what is open, what is shown, what the model said, how it is drawn.

Modules:
    model       :class:`ViewerModel`: open exam sets, the current exam, the active model, its
                prediction and explanation, label sources, view settings; psygnal events.
    view        :class:`ViewSettings` (layout, gain, speed, rhythm lead, filter) and the values offered.
    workspace   the open exam sets as rows and the per-row predictions and label agreement.
    filtering   the browser's filter language, e.g. ``AF > 0.5 and fs >= 500``.
    paper_layout  where each lead sits on the ECG sheet (3×4 + rhythm, 6×2, 12×1) and caliper readings.

The Qt window (:mod:`ecgviewer.ui`) observes this package; nothing here imports Qt, so the
viewer can be driven from a test or a notebook.
"""

from ecgviewer.viewer.model import ViewerEvents, ViewerModel
from ecgviewer.viewer.view import ViewSettings
from ecgviewer.viewer.workspace import Workspace

__all__ = ["ViewSettings", "ViewerEvents", "ViewerModel", "Workspace"]
