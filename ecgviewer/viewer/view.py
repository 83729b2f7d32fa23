"""How the exam is drawn: layout, gain, speed, rhythm lead and display filters (no Qt).

:class:`ViewSettings` is an evented dataclass (psygnal): ``view.events.gain.connect(f)``
calls ``f(new_value)`` whenever ``view.gain`` changes. The Qt lead grid observes it; a
notebook or a test can set it without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from psygnal import evented

from ecgviewer.display_filters import CART_DEFAULT, DisplayFilterSettings

LAYOUTS: tuple[str, ...] = ("3x4", "6x2", "12x1")
LAYOUT_NAMES: dict[str, str] = {"3x4": "3×4 + rhythm strip", "6x2": "6×2", "12x1": "12×1"}
GAINS: tuple[float, ...] = (5.0, 10.0, 20.0)
"""mm per mV."""
SPEEDS: tuple[float, ...] = (25.0, 50.0)
"""mm per s."""


@evented
@dataclass
class ViewSettings:
    """What the viewer shows and how.

    Attributes:
        layout: one of :data:`LAYOUTS` ("3x4" has a rhythm strip).
        gain: mm per mV, one of :data:`GAINS`.
        speed: mm per s, one of :data:`SPEEDS`.
        rhythm_lead: the lead of the 3×4 layout's rhythm strip.
        show_input: draw the network input (4096 samples at 400 Hz) instead of the recording.
        filter_text: the exam browser's filter (:mod:`ecgviewer.viewer.filtering`).
        show_identifiers: show patient names, ids and birth dates of clinical files (window
            header, info panel, report); off by default (:mod:`ecgviewer.viewer.clinical`).
        show_median_beats: show the cart's median beats, where the file has them.
        display_filters: baseline / notch / low-pass of the drawn and printed traces (never the
            network input), :data:`~ecgviewer.display_filters.CART_DEFAULT` = 0.05–150 Hz, notch off.
        show_fiducials: draw the measured P onset, QRS onset/offset and T offset of each beat.
    """

    layout: str = "3x4"
    gain: float = 10.0
    speed: float = 25.0
    rhythm_lead: str = "II"
    show_input: bool = False
    filter_text: str = ""
    show_identifiers: bool = False
    show_median_beats: bool = False
    display_filters: DisplayFilterSettings = CART_DEFAULT
    show_fiducials: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError naming the setting when a value is not one the viewer offers."""
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        if float(self.gain) not in GAINS:
            raise ValueError(f"gain {self.gain!r} mm/mV: expected one of {GAINS}")
        if float(self.speed) not in SPEEDS:
            raise ValueError(f"speed {self.speed!r} mm/s: expected one of {SPEEDS}")

    def next_gain(self) -> float:
        """Step to the next gain (5 → 10 → 20 → 5 mm/mV); returns it."""
        self.gain = GAINS[(GAINS.index(float(self.gain)) + 1) % len(GAINS)]
        return self.gain

    def next_speed(self) -> float:
        """Step to the next speed (25 → 50 → 25 mm/s); returns it."""
        self.speed = SPEEDS[(SPEEDS.index(float(self.speed)) + 1) % len(SPEEDS)]
        return self.speed
