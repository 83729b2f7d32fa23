"""The bundled model's card cannot drift from the model: its metrics are recomputed here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ecgviewer.model.card import SETS, card_metrics
from ecgviewer.model.runtime import bundled_model_path, load_model
from ecgviewer.paths import models_dir


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, abs_tol=2e-4)
    return a == b


@pytest.mark.slow
def test_card_metrics_are_recomputed_from_the_committed_model(shared_data: Path) -> None:
    model = load_model(bundled_model_path(), prefer_cuda=False)
    stored = model.contract.metrics
    assert set(SETS) <= stored.keys(), "the bundled model carries no card metrics"
    fresh = card_metrics(model, shared_data)
    for name in fresh:
        assert _same(fresh[name], stored[name]), name


def test_card_file_states_what_the_model_is() -> None:
    model = load_model(bundled_model_path(), prefer_cuda=False)
    card = (models_dir() / f"{model.contract.name}.md").read_text()
    assert "Not a medical device" in card
    assert "import-keras" in card
    assert "not a medical device" in model.contract.notice.lower()
    for cls, thr in zip(model.contract.classes, model.contract.thresholds, strict=True):
        assert f"{cls} {thr}" in card
    external = model.contract.metrics["challenge2021_external"]
    assert f"macro AUROC {external['macro_auroc']}" in card
