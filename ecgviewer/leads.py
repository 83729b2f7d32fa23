"""Canonical 12-lead names, their aliases, and the derivation of the limb leads.

The order everywhere in ecgviewer is the model's: I, II, III, aVR, aVL, aVF, V1–V6.
"""

from __future__ import annotations

import re

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""The 12 standard leads in the network's order."""

INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""The 8 leads from which the other four (III, aVR, aVL, aVF) follow."""

DERIVED_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

# Spellings seen in real files (device exports, PhysioNet, CODE, Chinese and Spanish
# datasets) mapped to the canonical name; compared after upper-casing and removing
# spaces, dashes and underscores.
_ALIASES: dict[str, str] = {
    "I": "I",
    "DI": "I",
    "D1": "I",
    "LEADI": "I",
    "L1": "I",
    "1": "I",
    "II": "II",
    "DII": "II",
    "D2": "II",
    "LEADII": "II",
    "L2": "II",
    "2": "II",
    "III": "III",
    "DIII": "III",
    "D3": "III",
    "LEADIII": "III",
    "L3": "III",
    "3": "III",
    "AVR": "aVR",
    "LEADAVR": "aVR",
    "AVL": "aVL",
    "LEADAVL": "aVL",
    "AVF": "aVF",
    "LEADAVF": "aVF",
}
for _i in range(1, 7):
    for _spelling in (f"V{_i}", f"LEADV{_i}", f"C{_i}"):
        _ALIASES[_spelling] = f"V{_i}"


def canonical_lead_name(name: str) -> str | None:
    """Return the canonical spelling of a lead name (``"avr"`` → ``"aVR"``), or None if unknown."""
    key = re.sub(r"[\s_\-.'\"]", "", str(name)).upper()
    return _ALIASES.get(key)


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """Derive III, aVR, aVL, aVF from I and II (Einthoven's and Goldberger's equations).

    Inputs are arrays of the same shape in any unit; outputs have that shape and unit.
    """
    lead_i = np.asarray(lead_i)
    lead_ii = np.asarray(lead_ii)
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
