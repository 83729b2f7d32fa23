"""What the pages share: the footer (model, provenance, software version, date, notice), the
model's contract for it, patient and label text, and the checks of the public arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgviewer import __version__
from ecgviewer.classes import CLASSES
from ecgviewer.errors import ReportError
from ecgviewer.labels import short_name
from ecgviewer.leads import LEADS, canonical_lead_name
from ecgviewer.model.contract import ModelContract
from ecgviewer.report.style import BOTTOM_MM, FOOTER_MM, MARGIN_MM, MUTED, POSITIVE, RULE
from ecgviewer.report.writer import Canvas

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from ecgviewer.labels import LabelSet

# --------------------------------------------------------------------------- model facts


_BUNDLED: list[ModelContract | None] = []


def _bundled_contract() -> ModelContract | None:
    """The bundled model's contract (read once), or None when it cannot be read."""
    if not _BUNDLED:
        try:
            from ecgviewer.model.runtime import bundled_model_path, read_contract

            _BUNDLED.append(read_contract(bundled_model_path())[0])
        except Exception:  # the footer falls back to what the prediction says
            _BUNDLED.append(None)
    return _BUNDLED[0]


def contract_for(model: Any, prediction: Any | None) -> ModelContract:
    """The contract of the model that made the prediction (for the footer)."""
    if isinstance(model, ModelContract):
        return model
    contract = getattr(model, "contract", None)
    if isinstance(contract, ModelContract):
        return contract
    name = getattr(prediction, "model_name", None) or "unknown model"
    version = getattr(prediction, "model_version", None) or "unknown"
    bundled = _bundled_contract()
    if bundled is not None and bundled.name == name and bundled.version == version:
        return bundled
    return ModelContract(
        name=name,
        version=version,
        provenance="provenance not given to the report",
        notice="Not a medical device.",
    )


def _notice(contract: ModelContract) -> str:
    notice = (contract.notice or "").strip()
    if not contract.medical_device and "not a medical device" not in notice.lower():
        notice = ("Not a medical device. " + notice).strip()
    return notice


def local_now() -> datetime:
    return datetime.now().astimezone()


def _date_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass
class Footer:
    contract: ModelContract
    when: datetime
    provider: str = ""

    def draw(self, c: Canvas, page_w: float, page_h: float, page: int, pages: int) -> None:
        y = page_h - BOTTOM_MM - FOOTER_MM + 2.0
        c.pen(RULE, 0.15)
        c.line(MARGIN_MM, y, page_w - MARGIN_MM, y)
        k = self.contract
        w = page_w - 2 * MARGIN_MM - 22
        model = f"Model: {k.name} {k.version}"
        if self.provider:
            model += f" ({self.provider})"
        model += f" · Provenance: {k.provenance or 'not stated'}"
        c.text(MARGIN_MM, y + 3.3, model, size=6.5, rgb=MUTED, max_w=w)
        meta = f"ecgviewer {__version__} · Report {_date_text(self.when)}"
        notice = _notice(k)
        c.text(MARGIN_MM, y + 6.6, meta + " · ", size=6.5, rgb=MUTED)
        nx = MARGIN_MM + c.text_width(meta + " · ")
        c.text(
            nx,
            y + 6.6,
            notice,
            size=6.5,
            bold=True,
            rgb=POSITIVE if not k.medical_device else MUTED,
            max_w=page_w - MARGIN_MM - 22 - nx,
        )
        c.text(page_w - MARGIN_MM, y + 3.3, f"Page {page} of {pages}", size=6.5, rgb=MUTED, align="right")


def _sex_text(sex: str | None) -> str:
    return {"M": "male", "F": "female"}.get(sex or "", sex or "")


def age_sex(age: float | None, sex: str | None) -> str:
    parts = []
    if age is not None and np.isfinite(age):
        parts.append(f"{age:g} y")
    if sex:
        parts.append(_sex_text(sex))
    return ", ".join(parts) if parts else "not recorded"


def is_paper_class(cls: str) -> bool:
    """One of the paper's six classes (the only ones label sources know)."""
    return str(cls).lower() in {c.lower() for c in CLASSES}


def none_of_text(classes: Sequence[str]) -> str:
    """ "none of the six" for the paper's classes, else "none of normal, abnormal"."""
    return "none of the six" if tuple(classes) == CLASSES else "none of " + ", ".join(classes)


def label_cell(v: int | None) -> str:
    return {1: "yes", 0: "no"}.get(v if v is None else int(v), "?")


def labels_for(
    labels: Sequence[LabelSet], exam_id: str | None, index: int
) -> list[tuple[LabelSet, np.ndarray]]:
    found = []
    for ls in labels:
        try:
            row = ls.for_exam(exam_id, index)
        except Exception:  # a label set that cannot match this exam is left out
            row = None
        if row is not None:
            found.append((ls, np.asarray(row)))
    return found


def header_lines(c: Canvas, name: str, width: float, size: float) -> list[str]:
    """A column header in at most two lines of ``width`` mm (abbreviated when needed)."""
    c.font(size, bold=True)
    for text in (name, short_name(name)):
        if c.text_width(text) <= width:
            return [text]
        words = text.split()
        for cut in range(1, len(words)):
            a, b = " ".join(words[:cut]), " ".join(words[cut:])
            if c.text_width(a) <= width and c.text_width(b) <= width:
                return [a, b]
    return [c.elide(short_name(name), width)]


def check_prediction(prediction: Any, where: str) -> None:
    for attr in ("probabilities", "thresholds", "decisions", "classes"):
        if not hasattr(prediction, attr):
            raise ReportError(f"{where}: the prediction has no {attr!r}; pass an ecgviewer Prediction")
    if len(np.asarray(prediction.probabilities)) != len(prediction.classes):
        raise ReportError(
            f"{where}: {len(np.asarray(prediction.probabilities))} probabilities for "
            f"{len(prediction.classes)} classes"
        )


def check_rhythm_lead(rhythm_lead: str) -> str:
    name = canonical_lead_name(rhythm_lead)
    if name is None:
        raise ReportError(f"unknown rhythm lead {rhythm_lead!r}: use one of {', '.join(LEADS)}")
    return name
