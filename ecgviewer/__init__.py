"""ecgviewer: a desktop viewer for 12-lead ECGs with the ResNet of Ribeiro et al. (2020).

The core (io, preprocess, model, explain, labels, metrics, report) never imports Qt
widgets; the Qt layer lives in :mod:`ecgviewer.ui`.
"""

__version__ = "0.1.0"
