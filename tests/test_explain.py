"""SHAP saliency: additivity, dummies, determinism, caching, cancel, files, baselines and the CLI.

Most tests use a tiny ONNX "energy" model with a known answer: class c's probability is
sigmoid(a · mean of x² over a few (lead, time window) supports + b), so every feature outside
a class's support is a dummy player whose true SHAP value is 0. It runs in microseconds, so
the explainer itself is what is tested.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from ecgviewer import explain as E  # noqa: N812
from ecgviewer.errors import Cancelled, ModelError
from ecgviewer.explain import CONTEXTS, ExplainError, Saliency, explain, explain_cached
from ecgviewer.leads import LEADS
from ecgviewer.shap_numpy import lower_credit, make_masks
from tests.onnx_models import save_signal_model

# class → [(lead index, first sample, stop sample)] in the 4096-sample input
SUPPORTS = [
    [(6, 1000, 1300)],  # 1dAVb: V1, 2.5–3.25 s
    [(0, 0, 4096)],  # RBBB: all of lead I
    [(1, 2000, 2100), (7, 2000, 2100)],  # LBBB: II and V2 at 5 s
    [(11, 3000, 3500)],  # SB: V6
    [(2, 500, 900)],  # AF: III
    [(3, 0, 200)],  # ST: aVR, in the padding of short exams
]


def energy_model(path: Path, supports=SUPPORTS, a: float = 0.05, b: float = -3.0) -> Path:
    """Write the toy ONNX model (with the ecgviewer contract) and return its path."""
    from onnx import helper

    from ecgviewer.model.contract import ModelContract

    W = np.zeros((4096 * 12, 6), np.float32)
    for c, sup in enumerate(supports):
        n = sum(stop - start for _, start, stop in sup)
        for lead, start, stop in sup:
            W[np.arange(start, stop) * 12 + lead, c] = 1.0 / n
    nodes = [
        helper.make_node("Mul", ["signal", "signal"], ["sq"]),
        helper.make_node("Reshape", ["sq", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["e"]),
        helper.make_node("Mul", ["e", "a"], ["ea"]),
        helper.make_node("Add", ["ea", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probabilities"]),
    ]
    weights = {
        "shape": np.array([-1, 4096 * 12], np.int64),
        "W": W,
        "a": np.full(6, a, np.float32),
        "b": np.full(6, b, np.float32),
    }
    # the toy was tuned on inputs in 1e-4 V (mV × 10): its contract says so and the runtime scales
    contract = ModelContract(name="energy-toy", version="1", units="1e-4 V", input_scale_per_mv=10.0)
    return save_signal_model(path, nodes, weights, graph_name="energy", contract=contract, ir_version=8)


def count_predictions(model, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch sizes ``model.predict`` is called with from now on (the calls still run)."""
    calls: list[int] = []
    real = model.predict
    monkeypatch.setattr(model, "predict", lambda xs, **kw: calls.append(len(xs)) or real(xs, **kw))
    return calls


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory):
    from ecgviewer.model.runtime import load_model

    return load_model(energy_model(tmp_path_factory.mktemp("toy") / "energy.onnx"), prefer_cuda=False)


@pytest.fixture(scope="module")
def exam_input(toy):
    """An 8 s synthetic exam (so ~1.9 s of zero padding) as the toy's input, and its report."""
    from ecgviewer.synth import synth_exam

    return toy.prepare(synth_exam(("RBBB",), seed=3, duration_s=8.0))


@pytest.fixture(autouse=True)
def _fresh_caches():
    E.clear_cache()
    yield
    E.clear_cache()


def support_mask(sal: Saliency, c: int) -> np.ndarray:
    inside = np.zeros(sal.values.shape[1:], dtype=bool)
    for lead, a, b in SUPPORTS[c]:
        segs = np.flatnonzero((sal.segment_edges[1:] > a) & (sal.segment_edges[:-1] < b))
        inside[lead, segs] = True
    return inside


# --------------------------------------------------------------------------- the hierarchy


@pytest.mark.parametrize("holes", [False, True])
def test_partition_tree_is_a_valid_linkage(holes: bool) -> None:
    active = np.ones((12, 32), dtype=bool)
    if holes:
        active[:, :5] = False  # padding
        active[3, 10:20] = False
    players, link = E.partition_tree(LEADS, 32, active)
    M = len(players)
    assert active.sum() == M
    assert sorted(players.tolist()) == sorted(np.flatnonzero(active.ravel()).tolist())
    assert link.shape == (M - 1, 4)
    children = link[:, :2].astype(int).ravel()
    assert sorted(children.tolist()) == list(range(2 * M - 2))  # every node but the root used once
    sizes = np.ones(2 * M - 1)
    for k, (a, b, _, n) in enumerate(link):
        assert a < M + k and b < M + k  # children come before parents
        sizes[M + k] = sizes[int(a)] + sizes[int(b)]
        assert sizes[M + k] == n
    assert sizes[-1] == M
    # the first split is in time: each half of the root holds all leads of one half of the exam
    masks = make_masks(link).toarray()
    left = players[masks[int(link[-1, 0])]]
    assert set((left % 32).tolist()) == set(range(5 if holes else 0, 16))
    assert set((left // 32).tolist()) == set(range(12))


def test_numpy_helpers_match_shap_semantics() -> None:
    players, link = E.partition_tree(LEADS, 8, np.ones((12, 8), dtype=bool))
    M = len(players)
    masks = make_masks(link).toarray()
    assert masks.shape == (2 * M - 1, M)
    assert (masks[:M] == np.eye(M, dtype=bool)).all() and masks[-1].all()
    v = np.zeros((2 * M - 1, 2))
    v[-1] = [1.0, -2.0]
    lower_credit(2 * M - 2, 0, M, v, link)
    np.testing.assert_allclose(v[:M].sum(axis=0), [1.0, -2.0])  # credit conserved
    np.testing.assert_allclose(v[:M, 0], 1.0 / M)  # spread by size


# --------------------------------------------------------------------------- SHAP properties


@pytest.mark.parametrize("context", CONTEXTS)
def test_additivity_every_class(toy, exam_input, context: str) -> None:
    x, report = exam_input
    sal = explain(toy, x, report=report, max_evals=96, context=context)
    assert sal.values.shape == (6, 12, 32) and sal.values.dtype == np.float32
    np.testing.assert_allclose(sal.probabilities, toy.predict(x[None])[0], atol=1e-6)
    zeros = np.zeros((1, 4096, 12), np.float32)
    np.testing.assert_allclose(sal.base_values, toy.predict(zeros)[0], atol=1e-6)
    # per class: sum of values + base value = model output (float32 storage: ~1e-7)
    assert np.abs(sal.additivity_error()).max() < 1e-5
    assert sal.n_evaluations <= 96


def test_additivity_permutation_explainer(toy, exam_input) -> None:
    x, report = exam_input
    sal = explain(toy, x, report=report, segments=4, method="permutation", max_evals=200)
    assert sal.values.shape == (6, 12, 4)
    assert np.abs(sal.additivity_error()).max() < 1e-5
    with pytest.raises(ExplainError, match=r"2·M \+ 1"):
        explain(toy, x, report=report, segments=32, method="permutation", max_evals=100)


def test_dummy_features_get_nothing_at_full_resolution(toy, exam_input) -> None:
    """Outside each class's support the model ignores the input: those values must vanish."""
    x, report = exam_input
    sal = explain(toy, x, report=report, segments=16, max_evals=800)
    for c in range(6):
        inside = support_mask(sal, c)
        total = np.abs(sal.values[c]).sum()
        if sal.probabilities[c] - sal.base_values[c] == 0:  # ST's support is in the padding
            assert total == 0
            continue
        leak = np.abs(sal.values[c][~inside]).sum() / total
        assert leak < 0.01, (c, leak)
        assert sal.values[c][inside].sum() > 0  # energy raises the probability


def test_padding_segments_are_exactly_zero_and_cost_nothing(toy, exam_input) -> None:
    x, report = exam_input
    sal = explain(toy, x, report=report, max_evals=64)
    pad = sal.padding_segments()
    assert pad.sum() >= 4  # 8 s in 10.24 s: ~1.1 s of zeros on each side
    assert (sal.values[:, :, pad] == 0).all()
    assert (sal.signal_start, sal.signal_stop) == (report.signal_slice.start, report.signal_slice.stop)


def test_deterministic_for_a_seed(toy, exam_input) -> None:
    x, report = exam_input
    a = explain(toy, x, report=report, max_evals=128, seed=5)
    E.clear_cache()  # recompute every evaluation
    b = explain(toy, x, report=report, max_evals=128, seed=5)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.base_values, b.base_values)
    assert np.random.get_state()[1][0] == np.random.get_state()[1][0]  # global RNG untouched (smoke)


def test_global_numpy_rng_is_left_alone(toy, exam_input) -> None:
    x, report = exam_input
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    explain(toy, x, report=report, max_evals=48, seed=9)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_refinement_reuses_the_coarse_evaluations(toy, exam_input, monkeypatch) -> None:
    x, report = exam_input
    calls = count_predictions(toy, monkeypatch)
    coarse = explain(toy, x, report=report, max_evals=64)
    n_coarse = sum(calls)
    calls.clear()
    fine = explain(toy, x, report=report, max_evals=256)
    assert n_coarse == coarse.n_evaluations
    assert sum(calls) <= fine.n_evaluations - 40  # the coarse run's evaluations came from the memo


def test_focus_refines_one_class_first(toy, exam_input) -> None:
    x, report = exam_input
    even = explain(toy, x, report=report, max_evals=96)
    focused = explain(toy, x, report=report, max_evals=96, focus="LBBB")
    assert focused.focus == (2,)
    leak = [
        np.abs(s.values[2][~support_mask(s, 2)]).sum() / np.abs(s.values[2]).sum() for s in (even, focused)
    ]
    assert leak[1] < leak[0]
    with pytest.raises(ExplainError, match="unknown class"):
        explain(toy, x, focus="XYZ")
    assert explain(toy, x, report=report, max_evals=32, focus=["LBBB", 0]).focus == (0, 2)


def test_finer_segments_on_request(toy, exam_input) -> None:
    x, report = exam_input
    sal = explain(toy, x, report=report, segments=128, max_evals=64)
    assert sal.values.shape == (6, 12, 128)
    assert np.diff(sal.segment_edges).tolist() == [32] * 128
    assert np.abs(sal.additivity_error()).max() < 1e-5


def test_faithfulness_on_the_toy(toy, exam_input) -> None:
    """Masking the 5 most salient segments lowers the probability more than 5 random ones."""
    x, report = exam_input
    sal = explain(toy, x, report=report, max_evals=256)
    rng = np.random.default_rng(0)
    for c in (0, 2, 3, 4):
        top = sal.top_segments(c, 5)
        xt = E.masked_input(x, top, edges=sal.segment_edges)
        drop_top = sal.probabilities[c] - toy.predict(xt[None])[0, c]
        active = np.argwhere(~sal.padding_segments()[None, :].repeat(12, 0))
        drops = []
        for _ in range(10):
            pick = active[rng.choice(len(active), 5, replace=False)]
            xr = E.masked_input(x, [tuple(p) for p in pick], edges=sal.segment_edges)
            drops.append(sal.probabilities[c] - toy.predict(xr[None])[0, c])
        assert drop_top > np.mean(drops) + 1e-4, (c, drop_top, np.mean(drops))


# --------------------------------------------------------------------------- progress, cancel, errors


def test_progress_and_cancel(toy, exam_input) -> None:
    x, report = exam_input
    seen: list[tuple[int, int]] = []
    explain(toy, x, report=report, max_evals=64, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (64, 64)
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(seen))
    E.clear_cache()
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(Cancelled, match="cancelled"):
        explain(toy, x, report=report, max_evals=256, cancel=cancel)


def test_bad_parameters_are_explained(toy, exam_input) -> None:
    x, _ = exam_input
    with pytest.raises(ExplainError, match="segments"):
        explain(toy, x, segments=0)
    with pytest.raises(ExplainError, match="baseline"):
        explain(toy, x, baseline="noise")
    with pytest.raises(ExplainError, match="context"):
        explain(toy, x, context="sometimes")
    with pytest.raises(ModelError, match="expected"):
        explain(toy, x[:100])
    with pytest.raises(ModelError, match="one exam"):
        explain(toy, np.stack([x, x]))
    bad = x.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        explain(toy, bad)


def test_all_baseline_input_has_zero_values(toy) -> None:
    sal = explain(toy, np.zeros((4096, 12), np.float32), max_evals=16)
    assert (sal.values == 0).all() and sal.n_evaluations <= 2
    np.testing.assert_allclose(sal.probabilities, sal.base_values)


# --------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("baseline", ["mean", "lowpass"])
def test_other_baselines(toy, exam_input, baseline: str) -> None:
    x, report = exam_input
    bounds = (report.signal_slice.start, report.signal_slice.stop)
    base = E.make_baseline(x, baseline, bounds=bounds)
    assert (base[: bounds[0]] == 0).all() and (base[bounds[1] :] == 0).all()  # padding stays padding
    if baseline == "lowpass":  # P-QRS-T removed: far smoother than the signal
        smooth = np.abs(np.diff(base[bounds[0] : bounds[1]], axis=0)).max()
        assert smooth < 0.05 * np.abs(np.diff(x, axis=0)).max()
    sal = explain(toy, x, report=report, baseline=baseline, max_evals=64)
    assert sal.baseline == baseline
    assert np.abs(sal.additivity_error()).max() < 1e-5
    np.testing.assert_allclose(sal.base_values, toy.predict(base[None])[0], atol=1e-6)


# --------------------------------------------------------------------------- the result object


def test_saliency_helpers_and_npz_round_trip(toy, exam_input, tmp_path: Path) -> None:
    x, report = exam_input
    sal = explain(toy, x, report=report, max_evals=64)
    imp = sal.lead_importance()
    assert imp.shape == (6, 12)
    np.testing.assert_allclose(imp, np.abs(sal.values).sum(axis=2), rtol=1e-6)
    sm = sal.sample_map("RBBB")
    assert sm.shape == (4096, 12)
    np.testing.assert_array_equal(sm[sal.segment_edges[5] : sal.segment_edges[6], 0], sal.values[1, 0, 5])
    np.testing.assert_allclose(
        sal.sample_map(1, density=True).sum(axis=0), sal.values[1].sum(axis=1), rtol=1e-4
    )
    times = sal.segment_times_s()
    assert times[0] == pytest.approx(report.offset_s) and report.offset_s < 0  # padded exam
    assert times[-1] - times[0] == pytest.approx(4096 / 400)
    assert sal.color_limit(1) == pytest.approx(np.abs(sal.values[1]).max())
    assert sal.color_limit(5) > 0  # never zero, even for a class with no values
    rgba = sal.rgba("RBBB", opacity=0.5)
    assert rgba.shape == (12, 32, 4) and rgba.dtype == np.uint8
    top = np.unravel_index(np.argmax(sal.values[1]), (12, 32))
    assert tuple(rgba[top]) == (178, 24, 43, 128)  # full red at the maximum, half opaque
    assert (rgba[:, sal.padding_segments(), 3] == 0).all()  # zero values are transparent
    lead, seg = sal.top_segments("RBBB", 1)[0]
    assert lead == 0 and sal.values[1, lead, seg] == sal.values[1].max()
    assert "evaluations" in sal.describe()

    path = sal.save_npz(tmp_path / "s.npz")
    back = Saliency.load_npz(path)
    for name in ("values", "segment_edges", "base_values", "probabilities", "thresholds"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sal, name))
    assert back.classes == sal.classes and back.leads == sal.leads
    assert (back.baseline, back.context, back.seed, back.offset_s) == (
        sal.baseline,
        sal.context,
        sal.seed,
        sal.offset_s,
    )
    with np.load(path) as z:
        assert z["values"].shape == (6, 12, 32) and z["segment_edges"].shape == (33,)
        assert str(z["model_name"]) == "energy-toy"
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ExplainError, match=r"junk\.npz"):
        Saliency.load_npz(tmp_path / "junk.npz")


def test_population_summary(toy, exam_input) -> None:
    from ecgviewer.synth import synth_exam

    sals = [explain(toy, toy.prepare(synth_exam((), seed=s))[0], max_evals=32) for s in range(3)]
    mean = E.population_summary(sals)
    assert mean.shape == (6, 12)
    np.testing.assert_allclose(mean, np.mean([s.lead_importance() for s in sals], axis=0), rtol=1e-5)
    norm = E.population_summary(sals, normalize=True)
    rows = norm.sum(axis=1)
    np.testing.assert_allclose(rows[rows > 0], 1.0, rtol=1e-5)
    assert norm[0].argmax() == 6  # 1dAVb's support is V1
    with pytest.raises(ExplainError):
        E.population_summary([])


# --------------------------------------------------------------------------- caches


def test_cached_in_memory_and_on_disk(toy, exam_input, monkeypatch) -> None:
    x, report = exam_input
    calls = count_predictions(toy, monkeypatch)
    first = explain_cached(toy, x, report=report, max_evals=64)
    assert sum(calls) > 0
    calls.clear()
    again = explain_cached(toy, x, report=report, max_evals=64)
    assert again is first and not calls
    files = list(E.cache_dir().glob("*.npz"))
    assert len(files) == 1
    E.clear_cache()  # memory only: the disk copy answers
    from_disk = explain_cached(toy, x, report=report, max_evals=64)
    assert not calls
    np.testing.assert_array_equal(from_disk.values, first.values)
    other = explain_cached(toy, x, report=report, max_evals=64, seed=1)  # other params: computed
    assert sum(calls) > 0 and other.seed == 1
    E.clear_cache(disk=True)
    assert not list(E.cache_dir().glob("*.npz"))


def test_cache_key_depends_on_input_and_params(toy, exam_input) -> None:
    x, _ = exam_input
    k = E.cache_key(toy, x)
    assert k == E.cache_key(toy, x.copy())
    y = x.copy()
    y[2000, 3] += 1
    keys = {
        k,
        E.cache_key(toy, y),
        E.cache_key(toy, x, segments=64),
        E.cache_key(toy, x, baseline="mean"),
        E.cache_key(toy, x, max_evals=1000),
        E.cache_key(toy, x, context="owen"),
    }
    assert len(keys) == 6


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def exam_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecgviewer.synth import synth_exam, write_wfdb

    folder = tmp_path_factory.mktemp("exams")
    write_wfdb(synth_exam(("RBBB",), seed=1), folder, "rbbb1")
    write_wfdb(synth_exam(("AF",), seed=2, duration_s=7.0), folder, "af2")
    return folder


def test_cli_one_exam_npz_and_png(toy, exam_files: Path, tmp_path: Path, capsys) -> None:
    from ecgviewer.cli import main

    out, png = tmp_path / "rbbb.npz", tmp_path / "rbbb.png"
    rc = main(
        [
            "explain",
            str(exam_files / "rbbb1.hea"),
            "--model",
            str(toy.path),
            "--max-evals",
            "48",
            "--out",
            str(out),
            "--png",
            str(png),
            "--classes",
            "all",
            "--cpu",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    with np.load(out) as z:
        assert z["values"].shape == (6, 12, 32)
        assert z["segment_edges"].tolist()[:3] == [0, 128, 256] and z["segment_edges"][-1] == 4096
        assert z["base_values"].shape == (6,) and z["probabilities"].shape == (6,)
        assert z["classes"].tolist() == ["1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"]
        assert str(z["model_name"]) == "energy-toy" and str(z["exam_id"]) == "rbbb1"
        err = z["values"].sum(axis=(1, 2)) + z["base_values"] - z["probabilities"]
        assert np.abs(err).max() < 1e-5
    head = png.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert "wrote" in capsys.readouterr().err


def test_cli_several_exams(toy, exam_files: Path, tmp_path: Path, capsys) -> None:
    from ecgviewer.cli import main

    out = tmp_path / "x.npz"
    rc = main(["explain", str(exam_files), "--model", str(toy.path), "--out", str(out), "--max-evals", "32"])
    assert rc == 2
    assert "--exam" in capsys.readouterr().err and not out.exists()
    rc = main(
        [
            "explain",
            str(exam_files),
            "--exam",
            "#1",
            "--model",
            str(toy.path),
            "--out",
            str(out),
            "--max-evals",
            "32",
            "--quiet",
        ]
    )
    assert rc == 0
    with np.load(out) as z:
        assert str(z["exam_id"]) == "rbbb1"  # files in natural order: af2, rbbb1
    rc = main(["explain", str(exam_files), "--exam", "nope", "--model", str(toy.path), "--out", str(out)])
    assert rc == 2 and "no exam with this id" in capsys.readouterr().err

    png = tmp_path / "pop.png"
    rc = main(
        [
            "explain",
            str(exam_files),
            "--all",
            "--model",
            str(toy.path),
            "--out",
            str(out),
            "--png",
            str(png),
            "--max-evals",
            "32",
            "--quiet",
        ]
    )
    assert rc == 0 and png.stat().st_size > 10_000
    with np.load(out) as z:
        assert z["values"].shape == (2, 6, 12, 32)
        assert z["population_lead_importance"].shape == (6, 12)
        assert z["exam_ids"].tolist() == ["af2", "rbbb1"]


def test_cli_refuses_bad_output(toy, exam_files: Path, tmp_path: Path, capsys) -> None:
    from ecgviewer.cli import main

    assert main(["explain", str(exam_files / "af2.hea"), "--out", str(tmp_path / "x.csv")]) == 2
    assert ".npz" in capsys.readouterr().err
    assert main(["explain", str(exam_files / "af2.hea"), "--out", str(tmp_path / "nope" / "x.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_one_list_of_options() -> None:
    """explain's keywords are the options every wrapper passes on, with the defaults of the cache key."""
    import inspect

    from ecgviewer.explain.params import PARAM_DEFAULTS, ExplainOptions

    sig = inspect.signature(explain).parameters
    keywords = {n: p.default for n, p in sig.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(keywords) == set(ExplainOptions.__annotations__)
    assert {n: keywords[n] for n in PARAM_DEFAULTS} == PARAM_DEFAULTS


def test_cache_key_ignores_how_and_refuses_unknown_options(toy, exam_input) -> None:
    x, report = exam_input
    k = E.cache_key(toy, x)
    assert k == E.cache_key(toy, x, segments=32, seed=0, focus=None, batch_size=7, report=report)
    assert E.cache_key(toy, x, focus="LBBB") == E.cache_key(toy, x, focus=[2])
    with pytest.raises(TypeError, match="sgements"):
        E.cache_key(toy, x, sgements=16)
    with pytest.raises(TypeError):
        explain_cached(toy, x, sgements=16)
