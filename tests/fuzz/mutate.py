"""Seed files and byte mutations for fuzzing the readers (shared by the CI fuzz test and the long run).

Seeds are generated (WFDB, CSV, HDF5, GE MUSE XML, DICOM) and, where ``../shared/data`` is
present, the public clinical samples (XML, DICOM, SCP-ECG, EDF) are added; nothing is copied
into the repository. A mutation is a list of edits (flip a byte, set a byte, cut the file,
insert bytes, repeat a slice) applied to a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from ecgviewer.errors import EcgViewerError
from ecgviewer.exam import Exam
from ecgviewer.io import open_exams
from tests.hostile.corpus import csv, ecg, h5, wfdb_pair

SHARED_CLINICAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "clinical"


def make_seeds(folder: Path) -> dict[str, list[Path]]:
    """{reader family: [seed files]} written into ``folder`` (WFDB seeds are (header, signal) pairs)."""
    from ecgviewer.io.clinical_samples import write_dicom_ecg, write_muse_xml

    folder.mkdir(parents=True, exist_ok=True)
    sig = ecg(500, 2.0)
    seeds: dict[str, list[Path]] = {
        "wfdb": [wfdb_pair(folder, "rec", sig), folder / "rec.dat"],
        "csv": [csv(folder / "exam.csv", sig[:400]), csv(folder / "semi.csv", sig[:300], delimiter=";")],
        "hdf5": [
            h5(folder / "code.h5", ecg(400, 1.0)[None].astype("f4")),
            h5(folder / "sph.h5", sig.T.astype("f4"), name="ecg"),
        ],
    }
    exam = Exam(sig.astype(np.float32), 500.0, exam_id="seed")
    seeds["xml"] = [write_muse_xml(exam, folder / "muse.xml")]
    seeds["dicom"] = [write_dicom_ecg(exam, folder / "ecg.dcm")]
    if SHARED_CLINICAL.is_dir():
        for sub, family in (
            ("philips-sierra-xml", "xml"),
            ("hl7-aecg", "xml"),
            ("scp-ecg", "scp"),
            ("edf", "edf"),
        ):
            for p in sorted((SHARED_CLINICAL / sub).glob("*"))[:1]:
                if p.stat().st_size < 1_000_000:
                    seeds.setdefault(family, []).append(p)
    return seeds


edit = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(
        st.just("set"), st.floats(0, 1), st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("9"), ord("-"), ord(",")])
    ),
    st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 64)),
)
mutations = st.lists(edit, min_size=1, max_size=6)


def mutate(data: bytes, edits: list[tuple]) -> bytes:
    """Apply ``edits`` (positions as fractions of the length) to ``data``."""
    buf = bytearray(data)
    for kind, where, arg in edits:
        if not buf:
            break
        i = min(int(where * len(buf)), len(buf) - 1)
        if kind == "flip":
            buf[i] ^= 1 << arg
        elif kind == "set":
            buf[i] = arg
        elif kind == "cut":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = arg
        elif kind == "repeat":
            buf[i:i] = buf[i : i + arg]
    return bytes(buf)


def read_everything(path: Path) -> int:
    """Open ``path`` and read every exam (at most 4); only the project's errors may escape."""
    n = 0
    try:
        with open_exams(path) as exams:
            for i in range(min(len(exams), 4)):
                try:
                    exams.header(i)
                    exam = exams[i]
                    assert np.isfinite(exam.signal_mv).all()
                    n += 1
                except EcgViewerError:
                    pass
    except EcgViewerError:
        pass
    return n
