"""The model contract: what a model expects and what its outputs mean.

It travels inside the ONNX file as one metadata entry, ``ecgviewer.contract``, holding
JSON, so an imported model carries its own description; a Markdown card beside the file
says the same for people.

The app's canonical network input is millivolts (see :mod:`ecgviewer.preprocess`); a
contract states the scale its model reads as ``units`` plus the explicit factor
``input_scale_per_mv`` (model input units per mV), and the runtime multiplies by that
factor, so no code guesses a scale from a unit string. The paper's network reads mV: its
README's "1e-4 V" is a known misstatement (its own code feeds the mV test tracings
unscaled, and its authors tell users to scale to millivolts).

Contract versions: 1 (ecgviewer ≤ 0.1, no ``contract_version`` field) had only ``units``,
and ``import-keras`` wrongly wrote "1e-4 V" for the published weights; 2 adds
``contract_version`` and ``input_scale_per_mv``. :func:`upgrade_legacy` reads version 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ecgviewer.classes import CLASSES, PAPER_THRESHOLDS
from ecgviewer.leads import LEADS

METADATA_KEY = "ecgviewer.contract"
PAPER_CITATION = (
    "Ribeiro AH, Ribeiro MH, Paixão GMM, et al. Automatic diagnosis of the 12-lead ECG "
    "using a deep neural network. Nat Commun 11, 1760 (2020). doi:10.1038/s41467-020-15432-4"
)
PAPER_PROVENANCE = "Published weights of Ribeiro et al. (2020), Zenodo record 3625017"

CONTRACT_VERSION = 2
"""The contract layout written by this version of ecgviewer."""

UNITS_PER_MV: dict[str, float] = {
    "mV": 1.0,
    "1e-4 V": 10.0,
    "uV": 1000.0,
    "µV": 1000.0,
    "V": 1e-3,
}
"""Model input units per millivolt for the unit names a contract may state."""


@dataclass(frozen=True)
class ModelContract:
    """Everything the app needs to know to feed a model and read its output.

    ``input_shape`` uses -1 for the batch axis; ``units`` names the input amplitude unit
    ("mV" for the paper's network) and ``input_scale_per_mv`` is the same fact as a number
    (model input = mV × ``input_scale_per_mv``: 1 for mV, 10 for 1e-4 V); ``thresholds``
    turn probabilities into decisions; ``contract_version`` tells old layouts apart.
    """

    name: str
    version: str
    input_name: str = "signal"
    output_name: str = "probabilities"
    input_shape: tuple[int, int, int] = (-1, 4096, 12)
    fs: float = 400.0
    units: str = "mV"
    input_scale_per_mv: float = 1.0
    leads: tuple[str, ...] = LEADS
    classes: tuple[str, ...] = CLASSES
    thresholds: tuple[float, ...] = PAPER_THRESHOLDS
    provenance: str = ""
    citation: str = PAPER_CITATION
    medical_device: bool = False
    notice: str = "Not a medical device."
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    contract_version: int = CONTRACT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the contract is not a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("input_shape", "leads", "classes", "thresholds"):
            if key in data:
                if not isinstance(data[key], list | tuple):
                    raise ValueError(f"{key}: {data[key]!r} is not a list")
                data[key] = tuple(data[key])
        if "contract_version" not in data:
            # Version 1 stated only the unit name: derive the factor once, here.
            data["contract_version"] = 1
            unit = data.get("units", "1e-4 V")
            if unit not in UNITS_PER_MV:
                raise ValueError(f"input units {unit!r} are not one of {', '.join(UNITS_PER_MV)}")
            data["units"] = unit
            data["input_scale_per_mv"] = UNITS_PER_MV[unit]
        return cls(**data)

    def check_scale(self) -> None:
        """Raise ValueError unless ``units`` and ``input_scale_per_mv`` are known and agree."""
        if self.units not in UNITS_PER_MV:
            raise ValueError(f"input units {self.units!r} are not one of {', '.join(UNITS_PER_MV)}")
        scale = self.input_scale_per_mv
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
            raise ValueError(f"input_scale_per_mv {scale!r} is not a finite number")
        if not math.isclose(float(scale), UNITS_PER_MV[self.units], rel_tol=1e-9):
            raise ValueError(
                f"input_scale_per_mv {scale:g} contradicts units {self.units!r} "
                f"(which means {UNITS_PER_MV[self.units]:g} per mV)"
            )


def is_legacy_paper_import(contract: ModelContract) -> bool:
    """A published model converted by a version-1 ``import-keras``, which declared 1e-4 V wrongly."""
    converter = str(contract.extra.get("converter", "")) if isinstance(contract.extra, dict) else ""
    return (
        contract.contract_version < 2
        and contract.units == "1e-4 V"
        and ("keras_import" in converter or contract.provenance.startswith(PAPER_PROVENANCE))
    )


def upgrade_legacy(contract: ModelContract) -> tuple[ModelContract, str | None]:
    """Correct a version-1 contract in memory; returns (contract, notice or None).

    A published model imported before the millivolt fix says "1e-4 V" although the paper's
    network reads mV: it is read as mV, with a notice that names the one-line fix
    (import again). Other version-1 contracts (e.g. the first bundled model, which really
    was trained on 1e-4 V) keep their stated scale.
    """
    if not is_legacy_paper_import(contract):
        return contract, None
    source = contract.extra.get("source_file", "model.hdf5") if isinstance(contract.extra, dict) else ""
    fixed = replace(contract, units="mV", input_scale_per_mv=1.0)
    return fixed, (
        "converted by an older ecgviewer whose contract said '1e-4 V'; the paper's network reads mV, "
        f"so it is fed mV. Import it again to update the file: ecgviewer import-keras {source}"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_contract(contract: ModelContract) -> None:
    """Check every field's type and range once, when a model is loaded.

    Raises ValueError whose message starts with the field's name ("thresholds: 'a' is not a
    number in [0, 1]"), so the loader can name the model file and the field.
    """
    for name in ("name", "version", "input_name", "output_name", "units", "provenance", "citation", "notice"):
        value = getattr(contract, name)
        if not isinstance(value, str):
            raise ValueError(f"{name}: {value!r} is not text")
    for name in ("input_name", "output_name"):
        if not getattr(contract, name):
            raise ValueError(f"{name}: empty")
    shape = contract.input_shape
    if (
        not isinstance(shape, tuple)
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or shape[1] < 1
        or shape[2] < 1
        or shape[1] > 10**7
    ):
        raise ValueError(f"input_shape: {shape!r} is not (batch, samples, leads) with positive whole numbers")
    if not _is_number(contract.fs) or not 1.0 <= float(contract.fs) <= 100_000.0:
        raise ValueError(f"fs: {contract.fs!r} is not a sampling rate in Hz (1–100000)")
    for name in ("leads", "classes"):
        values = getattr(contract, name)
        if not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{name}: {values!r} is not a list of names")
        if len(set(values)) != len(values):
            raise ValueError(f"{name}: repeated names in {list(values)}")
    for t in contract.thresholds:
        if not _is_number(t) or not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"thresholds: {t!r} is not a number in [0, 1]")
    if len(contract.thresholds) != len(contract.classes):
        raise ValueError(
            f"thresholds: {len(contract.thresholds)} thresholds for {len(contract.classes)} classes"
        )
    if not isinstance(contract.medical_device, bool):
        raise ValueError(f"medical_device: {contract.medical_device!r} is not true or false")
    for name in ("metrics", "extra"):
        if not isinstance(getattr(contract, name), dict):
            raise ValueError(f"{name}: {getattr(contract, name)!r} is not an object")
    version = contract.contract_version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"contract_version: {version!r} is not a version number")
    scale = contract.input_scale_per_mv
    if not _is_number(scale) or float(scale) <= 0:
        raise ValueError(f"input_scale_per_mv: {scale!r} is not a positive number")


class ContractFields:
    """The contract's name-independent fields as properties of a model that has ``contract``
    (:class:`~ecgviewer.model.runtime.EcgModel`, :class:`~ecgviewer.model.ensemble.EnsembleModel`)."""

    contract: ModelContract

    @property
    def version(self) -> str:
        return self.contract.version

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.contract.classes)

    @property
    def thresholds(self) -> np.ndarray:
        """(C,) float32 per-class thresholds (the decision is probability > threshold)."""
        return np.asarray(self.contract.thresholds, dtype=np.float32)
