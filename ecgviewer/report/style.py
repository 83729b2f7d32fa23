"""Page sizes, margins, fonts and colours of the reports, and how numbers are printed (no Qt)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecgviewer.errors import ReportError

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    pass

# --------------------------------------------------------------------------- constants

PAPERS: dict[str, tuple[float, float]] = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}
"""Landscape page sizes in mm (width, height)."""

MINOR_MM = 1.0
MAJOR_MM = 5.0
CAL_PULSE_S = 0.2
"""Width of the 1 mV calibration pulse in seconds (5 mm at 25 mm/s)."""

LAYOUT_3X4: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
"""The standard 3×4 arrangement: rows of the printout, columns are consecutive quarters of the strip."""

MARGIN_MM = 8.0
TOP_MM = 7.0
HEADER_MM = 45.0
FACTS_MM = 4.5  # the line of strip facts under the paper
FOOTER_MM = 11.0
BOTTOM_MM = 4.0
RES_DPI = 1200
MM = RES_DPI / 25.4  # device units per millimetre

FONT_FAMILIES = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "Noto Sans", "Sans Serif"]
MONO_FAMILIES = ["DejaVu Sans Mono", "Liberation Mono", "Consolas", "Menlo", "Courier New", "Monospace"]

# ECG paper colours: classic pink-red grid, dark trace.
GRID_MINOR = (246, 196, 196)
GRID_MAJOR = (226, 120, 120)
TRACE = (10, 10, 10)
TEXT = (20, 20, 20)
MUTED = (95, 95, 95)
POSITIVE = (180, 20, 30)
AGREE = (222, 240, 222)
DISAGREE = (255, 220, 170)
RULE = (150, 150, 150)


def format_probability(p: float) -> str:
    """A probability as the viewer and the report show it: three decimals (``0.873``)."""
    return "n/a" if p is None or not np.isfinite(p) else f"{float(p):.3f}"


def paper_key(paper: str) -> str:
    key = str(paper).strip().lower().replace(" ", "").replace("us", "")
    if key not in PAPERS:
        raise ReportError(f"unknown paper size {paper!r}: use A4 or Letter")
    return key


def page_size(paper: str) -> tuple[float, float]:
    """(width, height) in mm of a landscape page of ``paper`` ("A4" or "Letter", any case)."""
    return PAPERS[paper_key(paper)]


# --------------------------------------------------------------------------- colour map

# ColorBrewer RdBu (diverging), blue for negative, white at zero, red for positive.
_RDBU = np.array(
    [
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
    ],
    dtype=np.float64,
)


def shap_color(value: float, vmax: float) -> tuple[int, int, int]:
    """RGB of a SHAP value on the diverging map centred at zero (``±vmax`` saturate)."""
    if not vmax or not np.isfinite(value):
        return (247, 247, 247)
    u = float(np.clip(value / vmax, -1.0, 1.0))
    pos = (u + 1) / 2 * (len(_RDBU) - 1)
    i = min(int(pos), len(_RDBU) - 2)
    f = pos - i
    c = _RDBU[i] * (1 - f) + _RDBU[i + 1] * f
    r, g, b = (int(v + 0.5) for v in c)
    return (r, g, b)
