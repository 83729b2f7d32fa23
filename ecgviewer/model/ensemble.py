"""Several models of the same contract run as one: mean probability, spread and member agreement.

>>> ens = load_ensemble(["Ribeiro 2020 — seed 1", "Ribeiro 2020 — seed 2", "seed3.onnx"])
>>> probs = ens.predict(x)                  # (N, C) mean of the members, x (N, 4096, 12) mV
>>> every = ens.predict_members(x)          # (M, N, C)
>>> pred = ens.predict_exam(exam)           # EnsemblePrediction: mean, min/max, "7 of 10 positive"

:class:`EnsembleModel` has the interface of :class:`~ecgviewer.model.runtime.EcgModel` where
callers use it (``predict``, ``predict_exam``, ``prepare``, ``prediction``, ``check_input``,
``classes``, ``thresholds``, ``decide``, ``describe``, ``contract``, ``path``, ``n_samples``,
``n_leads``), so batch prediction and SHAP (:func:`ecgviewer.explain.explain`, which calls
``predict``) work on the ensemble mean unchanged.

Members must share the input contract (fs, input length, leads) and the classes, else
:class:`ModelError`. Each member applies its own ``input_scale_per_mv``. The ensemble's
thresholds are the members' when they all share them (the paper's ten seeds do), else the
mean of the members' thresholds, which :attr:`EnsembleModel.threshold_note` states.

Named ensembles are small JSON files in ``<user models folder>/ensembles/NAME.json``:
``{"name": ..., "members": [file names or paths]}`` (see :func:`save_ensemble`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.exam import Exam
from ecgviewer.model.contract import ContractFields, ModelContract
from ecgviewer.model.runtime import (
    CancelCallback,
    EcgModel,
    Prediction,
    ProgressCallback,
    list_models,
    load_model,
)
from ecgviewer.preprocess import PreprocessReport

ENSEMBLE_SUFFIX = ".json"


class PredictOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`EcgModel.predict`, passed on to every member."""

    batch_size: int
    progress: ProgressCallback | None
    cancel: CancelCallback | None


@dataclass(frozen=True)
class EnsemblePrediction(Prediction):
    """A :class:`Prediction` of the ensemble mean plus what each member said.

    ``member_probabilities`` (M, C) float32; ``member_decisions`` (M, C) bool, each member
    with its own thresholds; ``spread_min`` / ``spread_max`` (C,) the members' range;
    ``n_positive`` (C,) how many members are above their threshold; ``member_names`` (M,).
    """

    member_probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    member_decisions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    member_names: tuple[str, ...] = ()
    spread_min: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    spread_max: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    n_positive: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    threshold_note: str = ""

    @property
    def n_members(self) -> int:
        return len(self.member_names)

    def agreement(self, cls: int | str) -> str:
        """E.g. "7 of 10 members positive" for one class (index or name)."""
        k = self.classes.index(cls) if isinstance(cls, str) else int(cls)
        return f"{int(self.n_positive[k])} of {self.n_members} members positive"

    def as_dict(self) -> dict[str, float | bool | str]:
        row = super().as_dict()
        for k, c in enumerate(self.classes):
            row[f"min_{c}"] = float(self.spread_min[k])
            row[f"max_{c}"] = float(self.spread_max[k])
            row[f"agree_{c}"] = int(self.n_positive[k])
        return row


@dataclass(frozen=True)
class EnsembleSummary:
    """Arithmetic of an ensemble over N exams: see :func:`summarize`."""

    mean: np.ndarray  # (N, C)
    spread_min: np.ndarray  # (N, C)
    spread_max: np.ndarray  # (N, C)
    n_positive: np.ndarray  # (N, C) int: members above their own thresholds
    decisions: np.ndarray  # (N, C) bool: mean > ensemble thresholds


def ensemble_thresholds(member_thresholds: np.ndarray) -> tuple[np.ndarray, str]:
    """(M, C) members' thresholds → ((C,) ensemble thresholds, a sentence saying where they come from)."""
    t = np.asarray(member_thresholds, dtype=np.float64)
    if np.allclose(t, t[0], rtol=0, atol=1e-9):
        return t[0].astype(np.float32), "thresholds shared by all members"
    return (
        t.mean(axis=0).astype(np.float32),
        "the members' thresholds differ; the ensemble uses their mean per class",
    )


def summarize(
    member_probabilities: np.ndarray, member_thresholds: np.ndarray, thresholds: np.ndarray | None = None
) -> EnsembleSummary:
    """Mean, min–max and agreement of (M, N, C) member probabilities.

    ``member_thresholds`` (M, C) decide each member's vote; ``thresholds`` (C,) (default:
    :func:`ensemble_thresholds`) decide the mean, strictly above as the paper does.
    """
    p = np.asarray(member_probabilities, dtype=np.float32)
    if p.ndim != 3:
        raise ValueError(f"member probabilities must be (M, N, C), got {p.shape}")
    mt = np.asarray(member_thresholds, dtype=np.float32).reshape(p.shape[0], 1, p.shape[2])
    t = ensemble_thresholds(mt[:, 0])[0] if thresholds is None else np.asarray(thresholds, np.float32)
    mean = p.mean(axis=0, dtype=np.float64).astype(np.float32)
    return EnsembleSummary(
        mean=mean,
        spread_min=p.min(axis=0),
        spread_max=p.max(axis=0),
        n_positive=(p > mt).sum(axis=0),
        decisions=mean > t,
    )


def _check_compatible(members: Sequence[EcgModel]) -> None:
    first = members[0]
    a = first.contract
    for m in members[1:]:
        b = m.contract
        for what, x, y in (
            ("classes", tuple(a.classes), tuple(b.classes)),
            ("leads", tuple(a.leads), tuple(b.leads)),
            ("input length", a.input_shape[1], b.input_shape[1]),
            ("sampling rate", float(a.fs), float(b.fs)),
        ):
            if x != y:
                raise ModelError(
                    f"{m.path.name} cannot join an ensemble with {first.path.name}: its {what} "
                    f"({_text(y)}) differ from {_text(x)}; ensemble members must share the input "
                    "contract and the classes"
                )


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _first_member(attr: str, doc: str) -> property:
    """A read-only property of an ensemble that is its first member's ``attr``."""
    return property(lambda self: getattr(self.members[0], attr), doc=doc)


@dataclass
class EnsembleModel(ContractFields):
    """M loaded models run as one; the interface of :class:`EcgModel` (predictions = the mean).

    Attributes:
        members: the loaded member models, in order.
        member_names: their display names (contract names).
        name: the ensemble's name ("Ensemble of 10 models" by default).
        path: the saved ensemble's JSON, or the first member's file for an unsaved one (caches
            key on it together with the contract's name and version, which name every member).
        contract: the first member's contract with the ensemble's name, a version hashing the
            members' versions, the ensemble thresholds and ``extra["members"]``.
        threshold_note: where the thresholds come from.
    """

    members: list[EcgModel]
    name: str = ""
    path: Path = field(default=Path("ensemble"))
    contract: ModelContract = field(init=False)
    threshold_note: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if len(self.members) < 1:
            raise ModelError("an ensemble needs at least one model")
        _check_compatible(self.members)
        if not self.name:
            self.name = f"Ensemble of {len(self.members)} models"
        if self.path == Path("ensemble"):
            self.path = self.members[0].path
        thresholds, self.threshold_note = ensemble_thresholds(self.member_thresholds)
        digest = hashlib.sha256(
            "|".join(f"{m.contract.name}:{m.contract.version}" for m in self.members).encode()
        ).hexdigest()[:12]
        first = self.members[0].contract
        self.contract = dataclasses.replace(
            first,
            name=self.name,
            version=f"ensemble-{digest}",
            thresholds=tuple(float(t) for t in thresholds),
            provenance="mean of " + "; ".join(m.contract.name for m in self.members),
            metrics={},
            extra={
                "members": [
                    {"name": m.contract.name, "version": m.contract.version, "file": str(m.path)}
                    for m in self.members
                ],
                "threshold_note": self.threshold_note,
            },
        )

    # ------------------------------------------------------------------ EcgModel's interface

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(m.contract.name for m in self.members)

    @property
    def member_thresholds(self) -> np.ndarray:
        """(M, C) float32 each member's thresholds."""
        return np.stack([m.thresholds for m in self.members]).astype(np.float32)

    # as before the mixin: the first member speaks for the input shape (the same for all, see
    # _check_compatible), the provider and the input scale
    n_samples = _first_member("n_samples", "input samples per lead")
    n_leads = _first_member("n_leads", "input leads")
    provider = _first_member("provider", '"CUDA" or "CPU"')
    provider_note = _first_member("provider_note", "where the members run, and why not CUDA")
    input_scale_per_mv = _first_member("input_scale_per_mv", "model input units per mV")

    @property
    def warnings(self) -> list[str]:
        return [w for m in self.members for w in m.warnings]

    def input_scale_note(self) -> str:
        return self.members[0].input_scale_note()

    def describe(self) -> str:
        return f"{self.name} ({len(self.members)} members: mean probability) on {self.provider_note}"

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        return np.asarray(probabilities) > self.thresholds

    def check_input(self, x: np.ndarray) -> np.ndarray:
        return self.members[0].check_input(x)

    def prepare(self, exam: Exam) -> tuple[np.ndarray, PreprocessReport]:
        """The exam as the members' input (they share it): (samples, leads) float32 mV and the report."""
        return self.members[0].prepare(exam)

    def predict_members(self, x: np.ndarray, **options: Unpack[PredictOptions]) -> np.ndarray:
        """(N, 4096, 12) mV → (M, N, C) float32, every member's probabilities.

        ``options`` as :meth:`EcgModel.predict`'s: ``batch_size``; ``progress(done, total)``
        counts member × exam evaluations; ``cancel`` is polled per batch.
        """
        progress = options.pop("progress", None)
        cancel = options.get("cancel")
        x = self.check_input(x)
        n, m = x.shape[0], len(self.members)
        out = np.empty((m, n, len(self.classes)), dtype=np.float32)
        for i, member in enumerate(self.members):
            if cancel is not None and cancel():
                raise Cancelled(f"ensemble prediction cancelled after {i} of {m} members")
            sub = None if progress is None else (lambda done, total, i=i: progress(i * n + done, m * n))
            out[i] = member.predict(x, progress=sub, **options)
        return out

    def predict(self, x: np.ndarray, **options: Unpack[PredictOptions]) -> np.ndarray:
        """(N, 4096, 12) mV → (N, C) float32 mean of the members' probabilities (``options`` as
        :meth:`predict_members`)."""
        every = self.predict_members(x, **options)
        return every.mean(axis=0, dtype=np.float64).astype(np.float32)

    def predict_exam(self, exam: Exam) -> EnsemblePrediction:
        x, report = self.prepare(exam)
        start = time.perf_counter()
        every = self.predict_members(x[None], batch_size=1)[:, 0]
        return self.member_prediction(every, x, report, time.perf_counter() - start)

    def prediction(
        self, probabilities: np.ndarray, x: np.ndarray, report: PreprocessReport, seconds: float = 0.0
    ) -> Prediction:
        """Wrap a mean computed elsewhere (no member detail): a plain :class:`Prediction`
        (with the signal-quality check of the exam's report, as a single model's)."""
        probs = np.asarray(probabilities, dtype=np.float32).copy()
        return Prediction(
            probabilities=probs,
            decisions=self.decide(probs) & (not _withheld(report)),
            **self._described(x, report, seconds),
            **_quality_fields(report),
        )

    def _described(self, x: np.ndarray, report: PreprocessReport, seconds: float) -> dict:
        """The fields of a prediction that say which model, how and on what input."""
        return {
            "thresholds": self.thresholds,
            "classes": self.classes,
            "model_name": self.name,
            "model_version": self.version,
            "provider": self.provider,
            "seconds": float(seconds),
            "input": x,
            "report": report,
        }

    def member_prediction(
        self, member_probabilities: np.ndarray, x: np.ndarray, report: PreprocessReport, seconds: float = 0.0
    ) -> EnsemblePrediction:
        """(M, C) member probabilities of one exam → :class:`EnsemblePrediction`."""
        p = np.asarray(member_probabilities, dtype=np.float32)
        s = summarize(p[:, None, :], self.member_thresholds, self.thresholds)
        return EnsemblePrediction(
            probabilities=s.mean[0],
            decisions=s.decisions[0] & (not _withheld(report)),
            **self._described(x, report, seconds),
            member_probabilities=p.copy(),
            member_decisions=p > self.member_thresholds,
            member_names=self.member_names,
            spread_min=s.spread_min[0],
            spread_max=s.spread_max[0],
            n_positive=s.n_positive[0],
            threshold_note=self.threshold_note,
            **_quality_fields(report),
        )


def _withheld(report: PreprocessReport | None) -> bool:
    quality = getattr(report, "quality", None)
    return bool(quality is not None and quality.withhold)


def _quality_fields(report: PreprocessReport | None) -> dict[str, object]:
    """The signal-quality fields of a :class:`Prediction` from the exam's report (as
    :meth:`EcgModel.prediction` sets them): poor quality marks the mean unreliable too."""
    quality = getattr(report, "quality", None)
    if quality is None:
        return {}
    return {
        "unreliable": quality.unreliable,
        "quality_note": quality.note(),
        "decisions_withheld": quality.withhold,
    }


# --------------------------------------------------------------------------- finding and saving


def resolve_model(ref: str | Path) -> Path:
    """A model file from a path, a file name in the user models folder, or an installed model's name."""
    from ecgviewer.paths import user_models_dir

    path = Path(ref)
    if path.is_file():
        return path
    candidate = user_models_dir() / path.name
    if candidate.is_file():
        return candidate
    if not path.suffix:
        candidate = user_models_dir() / f"{path.name}.onnx"
        if candidate.is_file():
            return candidate
    entries = [e for e in list_models() if e.name == str(ref) and e.problem is None]
    if entries:
        return entries[0].path
    raise ModelError(
        f"{ref}: no such model file, nor an installed model of that name "
        "(see the models the viewer lists, or give the .onnx path)"
    )


def ensembles_dir() -> Path:
    """``<user models folder>/ensembles``, created on demand."""
    from ecgviewer.paths import user_models_dir

    folder = user_models_dir() / "ensembles"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ensemble_file(name: str) -> Path:
    from ecgviewer.model.keras_import import slugify

    return ensembles_dir() / (slugify(name.replace("—", "-")).lower() + ENSEMBLE_SUFFIX)


def save_ensemble(name: str, members: Sequence[str | Path]) -> Path:
    """Save a named ensemble (members as given: installed files are stored by file name).

    The members are loaded once to check they can form an ensemble. Written atomically.
    """
    from ecgviewer.paths import user_models_dir

    paths = [resolve_model(m) for m in members]
    EnsembleModel([load_model(p, prefer_cuda=False) for p in paths], name=name)
    home = user_models_dir().resolve()
    stored = [p.name if p.resolve().parent == home else str(p.resolve()) for p in paths]
    out = _ensemble_file(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"name": name, "members": stored}, fh, ensure_ascii=False, indent=1)
    os.replace(tmp, out)
    return out


@dataclass(frozen=True)
class EnsembleEntry:
    """A saved ensemble: its name, JSON file and member references (``problem`` when unreadable)."""

    name: str
    path: Path
    members: tuple[str, ...]
    problem: str | None = None


def list_ensembles() -> list[EnsembleEntry]:
    """Every saved ensemble in :func:`ensembles_dir`, sorted by file name."""
    out: list[EnsembleEntry] = []
    for path in sorted(ensembles_dir().glob(f"*{ENSEMBLE_SUFFIX}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            members = tuple(str(m) for m in data["members"])
            out.append(EnsembleEntry(str(data.get("name") or path.stem), path, members))
        except (OSError, ValueError, KeyError, TypeError) as err:
            out.append(EnsembleEntry(path.stem, path, (), problem=f"{path}: not a readable ensemble ({err})"))
    return out


def load_ensemble(
    members_or_name: str | Path | Sequence[str | Path],
    *,
    name: str | None = None,
    prefer_cuda: bool = True,
    threads: int | None = None,
) -> EnsembleModel:
    """An :class:`EnsembleModel` from a saved ensemble's name or JSON file, or from member references."""
    path: Path | None = None
    if isinstance(members_or_name, str | Path):
        ref = members_or_name
        candidate = Path(ref)
        if not (candidate.suffix == ENSEMBLE_SUFFIX and candidate.is_file()):
            matches = [e for e in list_ensembles() if e.name == str(ref) or e.path.stem == str(ref)]
            if not matches:
                known = ", ".join(e.name for e in list_ensembles()) or "none saved yet"
                raise ModelError(f"{ref}: no saved ensemble of that name (saved: {known})")
            candidate = matches[0].path
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
            refs = [str(m) for m in data["members"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(f"{candidate}: not a readable ensemble file ({err})") from None
        name = name or str(data.get("name") or candidate.stem)
        path = candidate
    else:
        refs = list(members_or_name)
    models = [load_model(resolve_model(r), prefer_cuda=prefer_cuda, threads=threads) for r in refs]
    ens = EnsembleModel(models, name=name or "")
    if path is not None:
        ens.path = path
    return ens
