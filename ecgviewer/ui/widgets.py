"""Small widget factories shared by the panels, so that alike controls are set up alike."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox


def compact_combo(min_chars: int, tooltip: str) -> QComboBox:
    """A combo box as wide as ``min_chars`` characters (not as its longest item) with a tooltip.

    Dock panels stay narrow this way however long the names in the list are.
    """
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min_chars)
    combo.setToolTip(tooltip)
    return combo
