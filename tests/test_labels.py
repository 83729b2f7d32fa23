"""Label sources → the six classes: annotator CSVs, WFDB #Dx SNOMED codes, SPH metadata, generic CSVs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ecgviewer.classes import CLASSES
from ecgviewer.errors import LabelError
from ecgviewer.exam import Exam
from ecgviewer.labels import (
    SNOMED_NAMES,
    LabelSet,
    discover_labels,
    labels_from_codes,
    labels_from_exam,
    labels_from_exams,
    load_label_file,
    map_findings,
    reference_of,
    source_name,
)
from ecgviewer.labels.labelset import _SOURCE_ORDER

PAPER_FILES = (
    "gold_standard",
    "cardiologist1",
    "cardiologist2",
    "cardiology_residents",
    "emergency_residents",
    "medical_students",
    "dnn",
)


def _classes(row: np.ndarray) -> set[str]:
    return {c for c, v in zip(CLASSES, row, strict=True) if v == 1}


def _dx_of_header(path: Path) -> list[str]:
    import wfdb

    header = wfdb.rdheader(str(path.with_suffix("")))
    for line in header.comments:
        m = re.match(r"\s*Dx\s*:\s*(.*)", line)
        if m:
            return [c.strip() for c in m.group(1).split(",") if c.strip()]
    return []


# --------------------------------------------------------------------------- SNOMED


def test_snomed_codes_map_to_the_six_classes() -> None:
    row, others = map_findings(["270492004", "713427006", "733534002", "426177001", "164889003", "427084000"])
    assert row.tolist() == [1, 1, 1, 1, 1, 1] and others == []
    row, others = map_findings(["59118001", "164909002"])
    assert _classes(row) == {"RBBB", "LBBB"}
    # incomplete blocks, plain "bradycardia" and sinus rhythm are not among the six
    row, others = map_findings(["713426002", "426627000", "426783006", "164934002"])
    assert row.tolist() == [0] * 6
    assert others == [
        "incomplete right bundle branch block (713426002)",
        "bradycardia (426627000)",
        "sinus rhythm (426783006)",
        "T wave abnormal (164934002)",
    ]
    _, others = map_findings(["999999999"])
    assert others == ["SNOMED 999999999"]


def test_class_names_and_aliases_map() -> None:
    row, others = map_findings(["AFIB", "sinus tachycardia", "CRBBB", "1AVB", "LAD"])
    assert _classes(row) == {"AF", "ST", "RBBB", "1dAVb"}
    assert others == ["LAD"]


def test_real_challenge_headers(shared_data: Path) -> None:
    headers = sorted((shared_data / "wfdb").rglob("*.hea"))
    with_dx = [(h, _dx_of_header(h)) for h in headers]
    with_dx = [(h, dx) for h, dx in with_dx if dx]
    assert len(with_dx) >= 100
    codes = {c for _, dx in with_dx for c in dx}
    missing = sorted(codes - set(SNOMED_NAMES))
    assert not missing, f"codes in the shared Challenge headers without a name: {missing}"
    ls = labels_from_codes([dx for _, dx in with_dx], exam_ids=[h.stem for h, _ in with_dx])
    by_id = {h.stem: i for i, (h, _) in enumerate(with_dx)}
    # known diagnoses (data README: A0001 RBBB, A0003 AF)
    assert _classes(ls.values[by_id["A0001"]]) == {"RBBB"}
    assert _classes(ls.values[by_id["A0003"]]) == {"AF"}
    e07503 = by_id["E07503"]
    assert _classes(ls.values[e07503]) == {"ST"}
    assert ls.other_findings[e07503] == ["left atrial abnormality (253352002)"]
    # every record: a class is present exactly when one of its codes is listed
    mapping = {
        "1dAVb": {"270492004"},
        "RBBB": {"59118001", "713427006"},
        "LBBB": {"164909002", "733534002"},
        "SB": {"426177001"},
        "AF": {"164889003"},
        "ST": {"427084000"},
    }
    for i, (_, dx) in enumerate(with_dx):
        assert _classes(ls.values[i]) == {c for c, s in mapping.items() if s & set(dx)}
        assert len(ls.other_findings[i]) == len([c for c in dx if not any(c in s for s in mapping.values())])
    counts = ls.counts()
    assert counts["ST"] >= 20 and counts["SB"] >= 10 and counts["AF"] >= 5 and counts["1dAVb"] >= 3


def test_labels_from_exam_via_reader(shared_data: Path) -> None:
    io = pytest.importorskip("ecgviewer.io")
    path = shared_data / "wfdb" / "challenge2021" / "CPSC_CPSC-Extra" / "A0001.hea"
    exam = io.read_exam(path)
    ls = labels_from_exam(exam)
    assert ls is not None and ls.name == "Dx (header)"
    assert _classes(ls.for_exam(exam.exam_id, exam.index)) == {"RBBB"}
    assert ls.values.tolist() == labels_from_codes([_dx_of_header(path)]).values.tolist()


def test_labels_from_exam_without_labels_and_synthetic() -> None:
    plain = Exam(np.zeros((10, 12)), 500.0, exam_id="x")
    assert labels_from_exam(plain) is None
    synth = Exam(
        np.zeros((10, 12)), 500.0, exam_id="s", format="synthetic", raw_labels={"synthetic": ["AF", "RBBB"]}
    )
    ls = labels_from_exam(synth)
    assert ls is not None and ls.name == "Synthetic (generator)" and _classes(ls.values[0]) == {"AF", "RBBB"}
    many = labels_from_exams([plain, synth])
    assert many is not None and many.values[0].tolist() == [-1] * 6 and many.for_exam("s", 1) is not None
    assert labels_from_exams([plain]) is None


# --------------------------------------------------------------------------- the paper's files


def test_paper_annotation_files(shared_data: Path) -> None:
    folder = shared_data / "code-test" / "annotations"
    sets = {f: load_label_file(folder / f"{f}.csv") for f in PAPER_FILES}
    for ls in sets.values():
        assert ls.values.shape == (827, 6) and ls.exam_ids is None
        assert set(np.unique(ls.values)) <= {0, 1}
    # the paper's files, in its tables' order, take these names, the ones the viewer ranks label
    # sources by
    names = [
        "Gold standard",
        "Cardiologist 1",
        "Cardiologist 2",
        "Cardiology residents",
        "Emergency residents",
        "Medical students",
        "DNN",
    ]
    assert [sets[f].name for f in PAPER_FILES] == names == list(_SOURCE_ORDER)
    # dnn.csv's leading unnamed index column is not an exam id nor a class
    assert sets["dnn"].counts() == {"1dAVb": 30, "RBBB": 38, "LBBB": 30, "SB": 18, "AF": 10, "ST": 38}
    gold_counts = {"1dAVb": 28, "RBBB": 34, "LBBB": 30, "SB": 16, "AF": 13, "ST": 37}
    assert sets["gold_standard"].counts() == gold_counts
    assert sets["gold_standard"].is_gold and not sets["dnn"].is_gold


def test_discover_beside_code_exam_and_pacient_naming(shared_data: Path) -> None:
    exam_file = shared_data / "code-test" / "exams" / "pacient_3.hdf5"
    found = discover_labels(exam_file)
    assert [ls.name for ls in found][:2] == ["Gold standard", "Cardiologist 1"]
    assert len(found) == 7 and reference_of(found).name == "Gold standard"
    gold = found[0]
    assert gold.for_exam("pacient_3", 0).tolist() == gold.values[2].tolist()
    assert gold.row_of("pacient_10.hdf5", 0) == 9
    assert gold.row_of("pacient_1000", 0) is None  # beyond the 827 rows
    assert gold.row_of("ecg_tracings", 5) == 5  # a multi-exam file: by position
    io = pytest.importorskip("ecgviewer.io")
    exam = io.read_exam(exam_file)
    assert gold.for_exam(exam.exam_id, exam.index).tolist() == gold.values[2].tolist()


def test_sph_metadata(shared_data: Path) -> None:
    folder = shared_data / "hdf5" / "sph"
    meta = load_label_file(folder / "metadata.csv")
    assert meta.kind == "metadata" and len(meta) == 9 and meta.exam_ids[0] == "SPH00001.h5"
    assert _classes(meta.for_exam("SPH00007")) == {"RBBB"}
    assert _classes(meta.for_exam("SPH00001.h5")) == {"SB"}
    assert meta.findings_for_exam("SPH00001") == ["SB", "sinus arrhythmia (427393009)"]
    assert meta.for_exam("SPH00005") is None  # not in the metadata: no fallback to position
    assert meta.findings_for_exam("SPH00002") == ["sinus rhythm (426783006)"]
    found = discover_labels(folder / "SPH00001.h5")
    assert [ls.source.name for ls in found] == ["metadata.csv"]


def test_discover_skips_csv_tracings(shared_data: Path) -> None:
    errors: list[LabelError] = []
    assert discover_labels(shared_data / "csv" / "cpsc" / "A0001.csv", errors=errors) == []
    assert errors == []


# --------------------------------------------------------------------------- generic CSVs


def test_generic_csv_with_ids_and_missing_values(tmp_path: Path) -> None:
    f = tmp_path / "my_reads.csv"
    f.write_text("exam_id,AF,RBBB,1dAVb\nA0001.hea,0,1,\nrec_2,1,0,NA\n")
    ls = load_label_file(f)
    assert ls.name == "My reads" and ls.exam_ids == ["A0001.hea", "rec_2"]
    assert ls.for_exam("A0001", 7).tolist() == [-1, 1, -1, -1, 0, -1]
    assert ls.for_exam("REC_2").tolist() == [-1, 0, -1, -1, 1, -1]
    assert ls.for_exam("other", 0) is None
    assert any("LBBB" in n for n in ls.notes)


def test_generic_csv_with_a_column_of_class_names(tmp_path: Path) -> None:
    f = tmp_path / "reads.csv"
    f.write_text(
        'record,diagnosis\nr1,"RBBB; atrial fibrillation; LAD"\nr2,\nr3,sinus rhythm\n'
        "r4,164889003 426783006\n"
    )
    ls = load_label_file(f)
    assert ls.kind == "list"
    assert _classes(ls.for_exam("r1")) == {"RBBB", "AF"} and ls.other_findings[0] == ["LAD"]
    assert ls.for_exam("r2").tolist() == [-1] * 6
    assert ls.for_exam("r3").tolist() == [0] * 6 and ls.other_findings[2] == ["sinus rhythm"]
    assert _classes(ls.for_exam("r4")) == {"AF"}


def test_aha_only_metadata(tmp_path: Path) -> None:
    f = tmp_path / "metadata.csv"
    f.write_text("ECG_ID,AHA_Code\nX1.h5,50;22\nX2.h5,104+346\nX3.h5,1\n")
    ls = load_label_file(f)
    assert _classes(ls.for_exam("X1")) == {"AF", "SB"}
    assert _classes(ls.for_exam("X2")) == {"LBBB"}
    assert ls.for_exam("X3").tolist() == [0] * 6 and ls.other_findings[2] == ["normal ECG (AHA 1)"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("probs.csv", "1dAVb,RBBB,LBBB,SB,AF,ST\n0.1,0.9,0,0,0,0\n", "--predictions"),
        ("bad.csv", "1dAVb,RBBB\nyes?,0\n", "row 2"),
        ("age.csv", "age,sex\n34,M\n", "neither class columns"),
        ("empty.csv", "", "empty"),
        ("missing.csv", None, "no such file"),  # None: the file is not written
    ],
)
def test_label_file_errors(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(LabelError, match=message):
        load_label_file(path)


def test_discover_collects_broken_label_files(tmp_path: Path) -> None:
    exams = tmp_path / "exams"
    ann = tmp_path / "annotations"
    exams.mkdir()
    ann.mkdir()
    (exams / "a.hdf5").write_bytes(b"")
    (ann / "gold_standard.csv").write_text("1dAVb,RBBB,LBBB,SB,AF,ST\n0,0,0,0,0,1\n")
    (ann / "medical_students.csv").write_text("1dAVb,RBBB,LBBB,SB,AF,ST\n0,0,0,0,0,0\n")
    (ann / "broken.csv").write_text("1dAVb,RBBB,LBBB,SB,AF,ST\n0,0,zero,0,0,0\n")
    (ann / "attributes.csv").write_text("age,sex\n34,M\n")
    errors: list[LabelError] = []
    found = discover_labels(exams / "a.hdf5", errors=errors)
    assert [ls.name for ls in found] == ["Gold standard", "Medical students"]
    assert len(errors) == 1 and "broken.csv" in str(errors[0])


def test_source_names() -> None:
    assert source_name("x/cardiologist2.csv") == "Cardiologist 2"
    assert source_name("emergency_residents.csv") == "Emergency residents"
    assert source_name("reader3.csv") == "Reader 3"
    assert source_name("hdf5/sph/metadata.csv") == "Metadata (sph)"


def test_labelset_validation_and_align() -> None:
    with pytest.raises(ValueError):
        LabelSet("x", np.zeros((3, 5)))
    ls = LabelSet("x", np.eye(6, dtype=np.int8)[:3], exam_ids=["a", "b", "c"])
    aligned = ls.align([("c", 0), ("zz", 1), ("a", 2)])
    assert aligned[0].tolist() == [0, 0, 1, 0, 0, 0] and aligned[1].tolist() == [-1] * 6
    assert "3 exams" in ls.describe()


def test_compare_exam_side_by_side(shared_data: Path) -> None:
    from ecgviewer.labels import compare_exam

    found = discover_labels(shared_data / "code-test" / "exams" / "pacient_2.hdf5")
    gold = found[0]
    row = gold.values[1]  # pacient_2 = row 1: LBBB
    assert _classes(row) == {"LBBB"}
    model = row.copy()
    model[4] = 1  # the model adds AF
    cmp = compare_exam(
        "pacient_2", 0, found, decisions=model, probabilities=np.full(6, 0.5), model_name="DNN"
    )
    assert cmp.columns[:2] == ("DNN", "Gold standard") and cmp.reference == "Gold standard"
    assert cmp.values.shape == (6, 8)
    assert cmp.disagrees[:, 0].tolist() == [False, False, False, False, True, False]
    assert not cmp.disagrees[:, 1].any() and cmp.model_agrees is False
    # no label source knows this exam: no reference, nothing highlighted
    lonely = compare_exam(
        "elsewhere", 0, [load_label_file(shared_data / "hdf5" / "sph" / "metadata.csv")], decisions=model
    )
    assert lonely.columns == ("Model",) and lonely.reference is None and lonely.model_agrees is None
