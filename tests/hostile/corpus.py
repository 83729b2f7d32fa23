"""A corpus of hostile, malformed and degenerate inputs, built at test time in a folder.

Each :class:`Case` names its family (the class of failure it stands for), the paths to open,
and what a correct build does with it: ``"error"`` (a clear ExamReadError/EcgViewerError whose
text matches ``match``) or ``"note"`` (the exam opens and a note, or the quality verdict,
matches ``match``; ``withheld`` when no decision may be shown). Nothing here is committed as a
binary: :func:`build` writes every file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass
class Case:
    name: str
    family: str
    paths: list[Path]
    expect: str  # "error" | "note"
    match: str  # regular expression the message or note must match
    withheld: bool = False
    skipped: bool = False  # something in it is skipped: the exit status must say so
    cli: tuple[str, ...] = ("info", "predict")
    extra: dict = field(default_factory=dict)


def ecg(fs: float = 500.0, seconds: float = 10.0, seed: int = 0) -> np.ndarray:
    """(samples, 12) float64 mV: a smooth, ECG-like test signal (beats at 1.2 Hz plus slow waves)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(fs * seconds)) / fs
    beat = np.exp(-(((t * 1.2) % 1.0 - 0.3) ** 2) / 0.0008)
    cols = [(0.5 + 0.1 * k) * beat + 0.1 * np.sin(2 * np.pi * 0.3 * t + k) for k in range(12)]
    return np.stack(cols, axis=1) + 0.005 * rng.standard_normal((t.size, 12))


# --------------------------------------------------------------------------- writers


def wfdb_pair(
    folder: Path,
    name: str,
    signal_mv: np.ndarray | None = None,
    *,
    fs: str = "500",
    length: str | None = None,
    signal_file: str | None = None,
    gain: str = "1000/mV",
    write_dat: bool = True,
) -> Path:
    """A WFDB record written by hand (format 16), with any field overridable as raw text."""
    sig = ecg() if signal_mv is None else signal_mv
    n = sig.shape[0]
    dat = signal_file or f"{name}.dat"
    lines = [f"{name} 12 {fs} {length if length is not None else n}"]
    lines += [f"{dat} 16 {gain} 16 0 0 0 0 {lead}" for lead in LEADS]
    hea = folder / f"{name}.hea"
    hea.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if write_dat and signal_file is None:
        digital = np.clip(np.round(sig * 1000), -32767, 32767).astype("<i2")
        (folder / dat).write_bytes(digital.tobytes())
    return hea


def h5(path: Path, data: np.ndarray, name: str = "tracings", **attrs) -> Path:
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(name, data=data)
        for k, v in attrs.items():
            ds.attrs[k] = v
    return path


def csv(path: Path, sig: np.ndarray, delimiter: str = ",", header: bool = True, fmt: str = "%.6g") -> Path:
    lines = [delimiter.join(LEADS)] if header else []
    lines += [delimiter.join(fmt % v for v in row) for row in sig]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def keras_file(path: Path, config: object, *, raw: str | None = None, weights: dict | None = None) -> Path:
    """An HDF5 file shaped like Keras's model.save(): ``model_config`` attribute and weights."""
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = raw if raw is not None else json.dumps(config)
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        group = f.create_group("model_weights")
        for layer, arrays in (weights or {}).items():
            g = group.create_group(layer)
            names = [f"{layer}/{role}:0" for role in arrays]
            g.attrs["weight_names"] = [n.encode() for n in names]
            for n, a in zip(names, arrays.values(), strict=True):
                g.create_dataset(n, data=a)
    return path


def small_conv_net(path: Path) -> Path:
    """A 3-layer Conv1D network with the paper's input and output shapes, not its architecture."""
    layers = [
        {
            "class_name": "InputLayer",
            "name": "signal",
            "config": {"batch_input_shape": [None, 4096, 12], "name": "signal"},
            "inbound_nodes": [],
        },
        {
            "class_name": "Conv1D",
            "name": "c1",
            "config": {
                "name": "c1",
                "filters": 4,
                "kernel_size": [3],
                "strides": [1],
                "padding": "same",
                "dilation_rate": [1],
                "activation": "relu",
                "use_bias": True,
            },
            "inbound_nodes": [[["signal", 0, 0, {}]]],
        },
        {
            "class_name": "GlobalAveragePooling1D",
            "name": "gap",
            "config": {"name": "gap"},
            "inbound_nodes": [[["c1", 0, 0, {}]]],
        },
        {
            "class_name": "Dense",
            "name": "d",
            "config": {"name": "d", "units": 6, "activation": "sigmoid", "use_bias": True},
            "inbound_nodes": [[["gap", 0, 0, {}]]],
        },
    ]
    config = {
        "class_name": "Model",
        "config": {
            "name": "m",
            "layers": layers,
            "input_layers": [["signal", 0, 0]],
            "output_layers": [["d", 0, 0]],
        },
    }
    rng = np.random.default_rng(0)
    weights = {
        "c1": {"kernel": rng.normal(size=(3, 12, 4)).astype("f4"), "bias": np.zeros(4, "f4")},
        "d": {"kernel": rng.normal(size=(4, 6)).astype("f4"), "bias": np.zeros(6, "f4")},
    }
    return keras_file(path, config, weights=weights)


# --------------------------------------------------------------------------- the corpus


def build(root: Path) -> list[Case]:
    """Write every hostile input under ``root`` and return the cases."""
    cases: list[Case] = []

    def folder(name: str) -> Path:
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def add(
        name: str, family: str, make: Callable[[Path], list[Path] | Path], expect: str, match: str, **kw
    ) -> None:
        made = make(folder(name))
        cases.append(Case(name, family, made if isinstance(made, list) else [made], expect, match, **kw))

    outside = folder("outside")
    secret = outside / "secret.dat"
    secret.write_bytes(np.arange(5000 * 12, dtype="<i2").tobytes())

    # -- containment: a header must not reach files outside its folder
    outside_msg = r"outside the header's folder|refused"
    add(
        "wfdb-etc-passwd-relative",
        "containment",
        lambda d: wfdb_pair(d, "r", signal_file="../../../../../../etc/passwd", length="100"),
        "error",
        outside_msg,
    )
    add(
        "wfdb-etc-passwd-absolute",
        "containment",
        lambda d: wfdb_pair(d, "r", signal_file="/etc/passwd", length="100"),
        "error",
        outside_msg,
    )
    add(
        "wfdb-sibling-folder",
        "containment",
        lambda d: wfdb_pair(d, "r", signal_file="../outside/secret.dat"),
        "error",
        outside_msg,
    )

    def symlink_out(d: Path) -> Path:
        (d / "r.dat").symlink_to(secret)
        return wfdb_pair(d, "r", signal_file="r.dat")

    add("wfdb-symlink-outside", "containment", symlink_out, "error", outside_msg)

    def vds_outside(d: Path) -> Path:
        src = outside / "vsrc.h5"
        h5(src, ecg()[None].astype("f4"))
        layout = h5py.VirtualLayout(shape=(1, 5000, 12), dtype="f4")
        layout[:] = h5py.VirtualSource(str(src), "tracings", shape=(1, 5000, 12))
        with h5py.File(d / "v.h5", "w") as f:
            f.create_virtual_dataset("tracings", layout)
        return d / "v.h5"

    add("hdf5-virtual-outside", "containment", vds_outside, "error", outside_msg)

    def external_outside(d: Path) -> Path:
        with h5py.File(d / "e.h5", "w") as f:
            f.create_dataset(
                "tracings", shape=(5000, 12), dtype="<i2", external=[(str(secret), 0, 5000 * 12 * 2)]
            )
        return d / "e.h5"

    add("hdf5-external-outside", "containment", external_outside, "error", outside_msg)

    # -- sizes: declared vs held vs budget
    def sparse_wfdb(d: Path) -> Path:
        with open(d / "big.dat", "wb") as fh:
            fh.truncate(41_000_000 * 12 * 2)
        return wfdb_pair(d, "big", length="41000000", signal_file="big.dat")

    add(
        "wfdb-41M-samples-sparse",
        "size",
        sparse_wfdb,
        "note",
        r"declares 41,000,000 samples.*were read",
        withheld=True,
    )
    add(
        "wfdb-length-beyond-file",
        "size",
        lambda d: wfdb_pair(d, "r", length="900000000"),
        "error",
        r"truncated signal file",
    )
    add(
        "wfdb-length-absurd",
        "size",
        lambda d: wfdb_pair(d, "r", length=str(2**50)),
        "error",
        r"not a recording|truncated",
    )

    def chunked_huge(d: Path) -> Path:
        with h5py.File(d / "c.h5", "w") as f:
            f.create_dataset("tracings", shape=(1, 10**9, 12), dtype="f4", chunks=(1, 4096, 12))
        return d / "c.h5"

    add("hdf5-chunked-1e9", "size", chunked_huge, "note", r"declares 1,000,000,000 samples", withheld=True)

    def virtual_huge(d: Path) -> Path:
        h5(d / "small.h5", ecg()[None].astype("f4"))
        layout = h5py.VirtualLayout(shape=(1, 10**9, 12), dtype="f4")
        layout[:, :5000, :] = h5py.VirtualSource("small.h5", "tracings", shape=(1, 5000, 12))
        with h5py.File(d / "v.h5", "w") as f:
            f.create_virtual_dataset("tracings", layout, fillvalue=0)
        return d / "v.h5"

    add("hdf5-virtual-1e9", "size", virtual_huge, "note", r"declares 1,000,000,000 samples")

    # -- non-finite and absurd samples
    def with_value(value: float) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            sig = ecg().astype("f4")
            sig[100, 3] = value
            return h5(d / "x.h5", sig[None])

        return make

    add("hdf5-nan", "non-finite", with_value(np.nan), "error", r"NaN or infinite")
    add("hdf5-inf", "non-finite", with_value(np.inf), "error", r"NaN or infinite")
    add("hdf5-1e38", "non-finite", with_value(1e38), "error", r"not an ECG amplitude")
    add("hdf5-neg-1e30", "non-finite", with_value(-1e30), "error", r"not an ECG amplitude")

    def csv_with(text: str) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            p = csv(d / "x.csv", ecg(seconds=4))
            lines = p.read_text().splitlines()
            cells = lines[50].split(",")
            cells[2] = text
            lines[50] = ",".join(cells)
            p.write_text("\n".join(lines) + "\n")
            return p

        return make

    add("csv-nan", "non-finite", csv_with("nan"), "error", r"NaN|not a number|missing")
    add("csv-inf", "non-finite", csv_with("inf"), "error", r"NaN or infinite|not an ECG")
    add("csv-1e38", "non-finite", csv_with("1e38"), "error", r"not an ECG amplitude|NaN or infinite")
    add("csv-1e400", "non-finite", csv_with("1e400"), "error", r"NaN or infinite|not an ECG")

    def wfdb_invalid(d: Path) -> Path:
        hea = wfdb_pair(d, "r")
        raw = np.fromfile(d / "r.dat", dtype="<i2")
        raw[1000] = -32768  # WFDB's "invalid sample" marker
        raw.tofile(d / "r.dat")
        return hea

    add("wfdb-invalid-sample", "non-finite", wfdb_invalid, "error", r"NaN or infinite")

    def code_flip(d: Path) -> Path:
        sig = ecg(400, 10.24).astype("f4")
        p = h5(d / "code.h5", sig[None])
        data = bytearray(p.read_bytes())
        nan = np.array([np.nan], "<f4").tobytes()
        k = data.find(sig[200:201, 5].tobytes())
        data[k : k + 4] = nan
        p.write_bytes(bytes(data))
        return p

    add("hdf5-code-byte-changed-nan", "non-finite", code_flip, "error", r"NaN or infinite")

    # -- bad text where numbers belong
    for label, fs in (("fast", "fast"), ("zero", "0"), ("negative", "-500"), ("nan", "nan"), ("huge", "1e9")):
        add(
            f"wfdb-fs-{label}",
            "bad-number",
            lambda d, fs=fs: wfdb_pair(d, "r", fs=fs),
            "error",
            r"sampling rate",
        )
    add(
        "wfdb-length-text",
        "bad-number",
        lambda d: wfdb_pair(d, "r", length="abc"),
        "error",
        r"record length|not a valid|WFDB",
    )
    add(
        "wfdb-gain-nan",
        "bad-number",
        lambda d: wfdb_pair(d, "r", gain="nan/mV"),
        "error",
        r"the gain .nan. .* is not a number",
    )
    add(
        "wfdb-units-unknown",
        "bad-number",
        lambda d: wfdb_pair(d, "r", gain="1000/parsec"),
        "error",
        r"unknown units",
    )
    add(
        "hdf5-fs-text",
        "bad-number",
        lambda d: h5(d / "x.h5", ecg().astype("f4"), name="signal", fs="fast"),
        "error",
        r"not a sampling rate",
    )
    add(
        "hdf5-gain-zero",
        "bad-number",
        lambda d: h5(d / "x.h5", ecg().astype("f4"), name="signal", fs=500, gain_per_mV=0),
        "error",
        r"not a usable gain",
    )
    add(
        "csv-text-cells", "bad-number", csv_with("abc"), "error", r"not a number|abc|holds no ECG|cannot read"
    )

    def sph(meta: bytes) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            h5(d / "SPH00001.h5", ecg().T.astype("f4"), name="ecg")
            (d / "metadata.csv").write_bytes(meta)
            return d

        return make

    sph_header = b"ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date,fs,SNOMEDCTCode\n"
    add("sph-metadata-truncated", "bad-metadata", sph(sph_header + b"SPH00001.h5,1;2"), "note", r"")
    add(
        "sph-metadata-ragged",
        "bad-metadata",
        sph(sph_header + b"SPH00001.h5,1,2,3,4,5,6,7,8,9,10,11\n"),
        "note",
        r"",
    )
    add("sph-metadata-binary", "bad-metadata", sph(b"\x00\x01\xff\xfe" * 100), "note", r"")
    add(
        "sph-metadata-fs-text",
        "bad-metadata",
        sph(sph_header + b"SPH00001.h5,1,p,50,M,5000,2020-01-01,fast,1\n"),
        "note",
        r"fs 'fast'",
    )

    # -- degenerate signals: a note on every output, no confident decision
    zeros = np.zeros((5000, 12))
    add("wfdb-all-zero", "quality", lambda d: wfdb_pair(d, "z", zeros), "note", r"flat", withheld=True)
    add(
        "hdf5-all-zero",
        "quality",
        lambda d: h5(d / "z.h5", zeros[None].astype("f4")),
        "note",
        r"flat",
        withheld=True,
    )
    add(
        "csv-all-zero",
        "quality",
        lambda d: csv(d / "z.csv", zeros, fmt="%.1f"),
        "note",
        r"flat",
        withheld=True,
    )
    add("csv-constant", "quality", lambda d: csv(d / "c.csv", zeros + 0.3), "note", r"flat", withheld=True)
    add(
        "wfdb-0.1s",
        "quality",
        lambda d: wfdb_pair(d, "s", ecg(seconds=0.1)),
        "note",
        r"too short",
        withheld=True,
    )
    add(
        "wfdb-one-sample",
        "quality",
        lambda d: wfdb_pair(d, "o", ecg()[:1]),
        "note",
        r"too short",
        withheld=True,
    )
    add("hdf5-3s", "quality", lambda d: h5(d / "s.h5", ecg(400, 3)[None].astype("f4")), "note", r"short")
    rng = np.random.default_rng(1)
    add(
        "csv-white-noise",
        "quality",
        lambda d: csv(d / "n.csv", rng.standard_normal((5000, 12))),
        "note",
        r"noise",
        withheld=True,
    )
    add(
        "hdf5-500mV",
        "quality",
        lambda d: h5(d / "a.h5", (ecg() * 600)[None].astype("f4")),
        "note",
        r"amplitude",
        withheld=True,
    )

    def half_flat(d: Path) -> Path:
        sig = ecg()
        sig[:, 6:] = 0
        return wfdb_pair(d, "h", sig)

    add("wfdb-six-flat-leads", "quality", half_flat, "note", r"6 of 12 leads are flat")

    # -- folders
    def loop_file(d: Path) -> Path:
        (d / "loop.csv").symlink_to(d / "loop.csv")
        csv(d / "ok.csv", ecg(seconds=10))
        return d

    add("folder-symlink-loop-file", "folders", loop_file, "note", r"symbolic link loop", skipped=True)
    add(
        "direct-symlink-loop",
        "folders",
        _loop_link,
        "error",
        r"symbolic link loop",
    )

    def loop_dir(d: Path) -> Path:
        (d / "sub").symlink_to(d)
        csv(d / "ok.csv", ecg(seconds=10))
        return d

    add("folder-symlink-loop-dir", "folders", loop_dir, "note", r"")
    add("folder-empty", "folders", lambda d: d, "error", r"empty folder")

    def broken_link(d: Path) -> Path:
        (d / "gone.hea").symlink_to(d / "nowhere.hea")
        csv(d / "ok.csv", ecg(seconds=10))
        return d

    add("folder-broken-link", "folders", broken_link, "note", r"broken symbolic link", skipped=True)

    def only_junk(d: Path) -> Path:
        (d / "notes.csv").write_text("hello, world\nthis is, text\n")
        return d

    add("folder-only-junk", "folders", only_junk, "error", r"holds no ECG|no ECG|cannot|not")

    def dat_without_header(d: Path) -> Path:
        (d / "orphan.dat").write_bytes(b"\x00" * 100)
        return d

    add("folder-orphan-dat", "folders", dat_without_header, "error", r"without its header")

    # -- odd names and encodings
    def bad_name(d: Path) -> Path:
        raw = os.fsencode(d) + b"/exam-\xff\xfe.csv"
        csv(Path(os.fsdecode(raw)), ecg(seconds=10))
        return d

    add("csv-non-utf8-name", "names", bad_name, "note", r"")
    add("wfdb-unicode-record", "names", lambda d: wfdb_pair(d, "électro_心电", ecg()), "note", r"")
    add("csv-name-with-newline", "names", lambda d: csv(d / "a\nb.csv", ecg(seconds=10)), "note", r"")
    add(
        "csv-tab-decimal-comma",
        "names",
        lambda d: (
            csv(d / "t.csv", ecg(seconds=10), delimiter="\t", fmt="%.4f") and _decimal_comma(d / "t.csv")
        ),
        "note",
        r"",
    )

    # -- damaged container files
    add(
        "hdf5-truncated",
        "damaged",
        lambda d: _truncate(h5(d / "t.h5", ecg()[None].astype("f4")), 0.5),
        "error",
        r"damaged|cannot read|truncated|not",
    )
    add(
        "hdf5-zero-bytes",
        "damaged",
        lambda d: _write(d / "z.h5", b""),
        "error",
        r"empty file",
    )
    add(
        "hea-garbage",
        "damaged",
        lambda d: _write(d / "g.hea", os.urandom(300)),
        "error",
        r".",
    )
    add("wfdb-missing-dat", "damaged", lambda d: wfdb_pair(d, "m", write_dat=False), "error", r"missing")
    add(
        "xml-garbage",
        "damaged",
        lambda d: _write(d / "g.xml", "<?xml version='1.0'?><restingecg><wave>"),
        "error",
        r".",
    )
    add(
        "dicom-garbage",
        "damaged",
        lambda d: _write(d / "g.dcm", b"\x00" * 128 + b"DICM" + os.urandom(200)),
        "error",
        r".",
    )
    add(
        "edf-garbage",
        "damaged",
        lambda d: _write(d / "g.edf", b"0       " + os.urandom(400)),
        "error",
        r".",
    )
    add(
        "scp-garbage",
        "damaged",
        lambda d: _write(d / "g.scp", os.urandom(500)),
        "error",
        r".",
    )
    return cases


def _decimal_comma(path: Path) -> Path:
    path.write_text(path.read_text().replace(".", ","))
    return path


def _truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


# --------------------------------------------------------------------------- contracts and Keras


def contract_cases() -> list[tuple[str, dict]]:
    """(name, contract fields to change) for model contracts that must be refused on load."""
    return [
        ("thresholds-text", {"thresholds": ["a", 0.5, 0.5, 0.5, 0.5, 0.5]}),
        ("thresholds-string", {"thresholds": "abcdef"}),
        ("thresholds-nan", {"thresholds": [float("nan")] * 6}),
        ("thresholds-above-one", {"thresholds": [2.0] * 6}),
        ("fs-zero", {"fs": 0}),
        ("fs-text", {"fs": "400"}),
        ("fs-bool", {"fs": True}),
        ("classes-number", {"classes": 6}),
        ("input-shape-text", {"input_shape": "abc"}),
        ("name-number", {"name": 5}),
        ("metrics-list", {"metrics": [1, 2]}),
        ("leads-repeated", {"leads": ["I"] * 12}),
    ]


def keras_cases(root: Path) -> list[tuple[str, Path, str]]:
    """(name, file, expected message) for Keras files import-keras must refuse clearly."""
    root.mkdir(parents=True, exist_ok=True)
    return [
        ("json-list", keras_file(root / "list.hdf5", [1, 2, 3]), r"JSON list"),
        (
            "missing-config",
            keras_file(root / "nocfg.hdf5", {"class_name": "Model"}),
            r"input_layers|lacks|no usable",
        ),
        (
            "layer-without-class",
            keras_file(
                root / "nocls.hdf5",
                {"class_name": "Model", "config": {"layers": [{"name": "x", "config": {}}]}},
            ),
            r"lacks the field|class_name",
        ),
        ("not-json", keras_file(root / "bad.hdf5", None, raw="{not json"), r"not valid JSON"),
        (
            "sequential-empty",
            keras_file(root / "seq.hdf5", {"class_name": "Sequential", "config": []}),
            r"Sequential|input|no usable|lacks|unexpected",
        ),
        (
            "unknown-class",
            keras_file(root / "unk.hdf5", {"class_name": "Zoo", "config": {}}),
            r"not supported",
        ),
    ]


def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _loop_link(d: Path) -> Path:
    (d / "l.csv").symlink_to(d / "l.csv")
    return d / "l.csv"
