"""The model contract: what a model expects and what its outputs mean.

It travels inside the ONNX file as one metadata entry, ``ecgviewer.contract``, holding
JSON, so an imported model carries its own description; a Markdown card beside the file
says the same for people.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.leads import LEADS

METADATA_KEY = "ecgviewer.contract"
PAPER_CITATION = (
    "Ribeiro AH, Ribeiro MH, Paixão GMM, et al. Automatic diagnosis of the 12-lead ECG "
    "using a deep neural network. Nat Commun 11, 1760 (2020). doi:10.1038/s41467-020-15432-4"
)
PAPER_PROVENANCE = "Published weights of Ribeiro et al. (2020), Zenodo record 3625017"


@dataclass(frozen=True)
class ModelContract:
    """Everything the app needs to know to feed a model and read its output.

    ``input_shape`` uses -1 for the batch axis; ``units`` is the input amplitude unit
    ("1e-4 V" for the paper's network); ``thresholds`` turn probabilities into decisions.
    """

    name: str
    version: str
    input_name: str = "signal"
    output_name: str = "probabilities"
    input_shape: tuple[int, int, int] = (-1, 4096, 12)
    fs: float = 400.0
    units: str = "1e-4 V"
    leads: tuple[str, ...] = LEADS
    classes: tuple[str, ...] = CLASSES
    thresholds: tuple[float, ...] = PAPER_THRESHOLDS
    provenance: str = ""
    citation: str = PAPER_CITATION
    medical_device: bool = False
    notice: str = "Not a medical device."
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("input_shape", "leads", "classes", "thresholds"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
