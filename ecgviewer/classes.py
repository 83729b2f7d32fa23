"""The six findings of Ribeiro et al. (2020), in the network's output order."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
"""Short names, in the order of the network's six outputs."""

CLASS_NAMES: dict[str, str] = {
    "1dAVb": "First-degree AV block",
    "RBBB": "Right bundle branch block",
    "LBBB": "Left bundle branch block",
    "SB": "Sinus bradycardia",
    "AF": "Atrial fibrillation",
    "ST": "Sinus tachycardia",
}

CLASS_DEFINITIONS: dict[str, str] = {
    "1dAVb": "PR interval > 200 ms",
    "RBBB": "QRS ≥ 120 ms with rsR′ in V1 and wide S in I and V6",
    "LBBB": "QRS ≥ 120 ms with broad notched R in I, aVL, V5–V6 and deep S in V1",
    "SB": "sinus rhythm < 50 bpm",
    "AF": "irregular RR intervals, no P waves",
    "ST": "sinus rhythm > 100 bpm",
}

PAPER_THRESHOLDS: tuple[float, ...] = (0.124, 0.07, 0.05, 0.278, 0.390, 0.174)
"""Per-class thresholds of the published network (the paper's generate_figures_and_tables.py)."""
