"""A reader's over-read: saved and reloaded, revised reads keep the blinded one, atomic saves (headless)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from conftest import write_exams_with_gold

from ecgviewer.classes import CLASSES
from ecgviewer.labels import discover_labels, load_label_file
from ecgviewer.reads import (
    ABSENT,
    PRESENT,
    UNCERTAIN,
    Read,
    ReaderFile,
    annotations_dir,
    calls_from_decisions,
    choose_reads_dir,
    fallback_dir,
    reader_slug,
    reading_study,
)

RBBB_AF_UNSURE = (ABSENT, PRESENT, ABSENT, ABSENT, UNCERTAIN, ABSENT)


def test_read_saved_and_reloaded(tmp_path):
    exams = tmp_path / "exams"
    exams.mkdir()
    rf = ReaderFile.open(annotations_dir(exams), "Dr. Ana Souza")
    assert rf.path == exams / "annotations" / "dr_ana_souza.csv"
    assert not rf.path.exists()  # nothing written before the first commit
    rf.commit(Read("A0001", "Dr. Ana Souza", RBBB_AF_UNSURE, "sinus, RBBB; AF?", blinded=True))
    rf.commit(Read("A0002", "Dr. Ana Souza", calls_from_decisions([0, 0, 0, 1, 0, 0])))

    back = ReaderFile.load(rf.path)
    assert back.reader == "Dr. Ana Souza"
    a = back.get("A0001")
    assert a is not None and a.calls == RBBB_AF_UNSURE and a.blinded and a.statement == "sinus, RBBB; AF?"
    assert a.time.endswith("Z") and a.revised_from is None
    assert back.get("a0002.hea").calls == (0, 0, 0, 1, 0, 0)  # ids match as the labels code matches them

    # the labels code reads it as an annotator named after the reader; uncertain is unknown, not negative
    ls = load_label_file(rf.path)
    assert ls.name == "Dr. Ana Souza" and ls.kind == "annotator"
    np.testing.assert_array_equal(ls.for_exam("A0001"), [0, 1, 0, 0, -1, 0])
    np.testing.assert_array_equal(ls.for_exam("A0002"), [0, 0, 0, 1, 0, 0])
    # reopening the folder shows the reader as a label source
    assert "Dr. Ana Souza" in [s.name for s in discover_labels(exams)]


def test_revised_read_keeps_the_blinded_one(tmp_path):
    rf = ReaderFile.open(tmp_path, "R1")
    rf.commit(Read("7", "R1", (0, 0, 0, 0, 1, 0), "AF", blinded=True))
    kept = rf.commit(Read("7", "R1", (0, 0, 0, 0, 0, 1), "ST after seeing the network", blinded=False))
    assert kept.revised_from is not None and kept.revised_from.calls == (0, 0, 0, 0, 1, 0)
    # a second revision still keeps the blinded read
    rf.commit(Read("7", "R1", (0, 0, 0, 0, 1, 1), "AF and ST", blinded=False))
    back = ReaderFile.load(rf.path)
    r = back.get("7")
    assert r.calls == (0, 0, 0, 0, 1, 1) and not r.blinded
    assert r.first.blinded and r.first.calls == (0, 0, 0, 0, 1, 0) and r.first.statement == "AF"
    header = rf.path.read_text().splitlines()[0].split(",")
    assert header[:8] == ["exam_id", "reader", *CLASSES]
    assert {"uncertain", "statement", "time", "blinded", "revised"} <= set(header)
    assert len(rf.path.read_text().splitlines()) == 2  # one row per exam


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    rf = ReaderFile.open(tmp_path, "R1")
    rf.commit(Read("1", "R1", (1, 0, 0, 0, 0, 0)))
    before = rf.path.read_bytes()

    def killed(*_a, **_k):
        raise OSError("killed while saving")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        rf.commit(Read("2", "R1", (0, 1, 0, 0, 0, 0)))
    assert rf.path.read_bytes() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == [rf.path.name]  # no temp file left
    assert rf.get("2") is None  # the read that could not be saved is not claimed as saved
    monkeypatch.undo()
    rf.commit(Read("2", "R1", (0, 1, 0, 0, 0, 0)))
    assert len(ReaderFile.load(rf.path)) == 2


def test_kill_mid_write_in_a_subprocess_keeps_the_file(tmp_path):
    """A process killed (SIGKILL) inside the write leaves the last committed file readable."""
    import signal
    import subprocess
    import sys
    import textwrap

    rf = ReaderFile.open(tmp_path, "R1")
    rf.commit(Read("1", "R1", (1, 0, 0, 0, 0, 0)))
    before = rf.path.read_bytes()
    code = textwrap.dedent(
        f"""
        import os, sys
        from ecgviewer.reads import Read, ReaderFile
        rf = ReaderFile.load({str(rf.path)!r})
        real = os.fsync
        def hang(fd):
            real(fd)
            sys.stdout.write("writing\\n"); sys.stdout.flush()
            import time; time.sleep(60)
        os.fsync = hang
        rf.commit(Read("2", "R1", (0, 1, 0, 0, 0, 0)))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == b"writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert rf.path.read_bytes() == before
    assert len(ReaderFile.load(rf.path)) == 1


def test_read_only_exam_folder_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGVIEWER_HOME", str(tmp_path / "home"))
    exams = tmp_path / "ro"
    exams.mkdir()
    (exams / "x.hdf5").write_bytes(b"")
    assert choose_reads_dir(exams / "x.hdf5") == (exams / "annotations", False)
    (exams / "annotations").rmdir()
    os.chmod(exams, 0o555)  # read-only (also for root: no write bit is taken as "do not write")
    try:
        folder, fell_back = choose_reads_dir(exams / "x.hdf5")
        assert fell_back and folder == fallback_dir(exams)
        assert str(folder).startswith(str(tmp_path / "home"))
        assert sorted(p.name for p in exams.iterdir()) == ["x.hdf5"]  # nothing written there
    finally:
        os.chmod(exams, 0o755)


def test_reading_study_compares_readers_gold_and_network(tmp_path):
    keys = [str(i) for i in range(8)]
    gold = np.zeros((8, 6), dtype=np.int8)
    gold[:4, 1] = 1  # RBBB in exams 0-3
    network = gold.copy()
    a, b = ReaderFile.open(tmp_path, "A"), ReaderFile.open(tmp_path, "B")
    for i in range(8):
        calls = [0] * 6
        calls[1] = 1 if i < 2 else 0  # A misses two RBBB when blinded
        a.commit(Read(keys[i], "A", tuple(calls), blinded=True))
        b.commit(Read(keys[i], "B", tuple(int(v) for v in gold[i]), blinded=False))
    for i in (2, 3):  # after seeing the network A corrects them
        a.commit(Read(keys[i], "A", (0, 1, 0, 0, 0, 0), blinded=False))
    st = reading_study(keys, {"A": a, "B": b}, gold=gold, network=network, reference="Gold")
    k = CLASSES.index("RBBB")
    assert st.f1["B"][k] == pytest.approx(1.0)
    assert st.f1["A"][k] == pytest.approx(1.0)  # the current (revised) reads
    assert st.blinded_f1["A"][k] == pytest.approx(2 * 2 / (2 * 2 + 2))  # tp 2, fn 2
    assert st.revised_f1["A"][k] - st.blinded_f1["A"][k] == pytest.approx(1 / 3)
    assert "B" not in st.blinded_f1  # B never read blinded
    assert st.reader_kappa[("A", "B")][k] == pytest.approx(1.0)
    assert st.network_kappa["B"][k] == pytest.approx(1.0)
    md = st.markdown()
    assert "F1 change made by DNN" in md and "A change" in md and "+" not in md.split("A change")[0][-3:]


def test_reader_slug_and_bad_read():
    assert reader_slug("  Dr. A. Souza ") == "dr_a_souza"
    with pytest.raises(ValueError):
        reader_slug(" ./ ")
    with pytest.raises(ValueError):
        Read("1", "R", (3, 0, 0, 0, 0, 0))


def _small_hdf5(folder, n: int = 4):
    """n synthetic exams in the CODE layout (mV), ids 101.., exam i with finding i % 6, a gold standard."""
    return write_exams_with_gold(folder, [i % 6 for i in range(n)])


def test_session_blinded_read_hidden_until_committed_and_worklist(tmp_path):
    from ecgviewer.viewer import ViewerModel
    from ecgviewer.viewer.filtering import evaluate, parse_filter

    path = _small_hdf5(tmp_path / "exams")
    vm = ViewerModel()
    vm.open(path)
    s = vm.reading
    s.set_reader("Ana Souza")
    s.set_blinded(True)
    assert s.hidden(0) and s.hidden(1)
    seen = []
    s.events.read_committed.connect(lambda row, read: seen.append((row, read.blinded)))
    kept = s.commit(0, (1, 0, 0, 0, 0, 0), "1dAVb")
    assert kept.blinded and seen == [(0, True)]
    assert not s.hidden(0) and s.hidden(1)  # revealed for the committed exam only
    revised = s.commit(0, (1, 1, 0, 0, 0, 0), "1dAVb and RBBB, after seeing the network")
    assert not revised.blinded and revised.first.blinded and revised.first.statement == "1dAVb"
    assert s.counts() == (1, 3)
    assert s.next_unread([0, 1, 2, 3], 0) == 1 and s.next_unread([0, 1, 2, 3], 1, -1) is None

    def column(name):
        return s.filter_column(name)

    assert list(evaluate(parse_filter("unread"), column, 4)) == [False, True, True, True]
    assert list(evaluate(parse_filter("read"), column, 4)) == [True, False, False, False]
    assert list(evaluate(parse_filter("by souza"), column, 4)) == [True, False, False, False]
    assert list(evaluate(parse_filter('by "Ana Souza"'), column, 4)) == [True, False, False, False]
    assert not evaluate(parse_filter("by Bruno"), column, 4).any()

    # reopening: the reader's file is a label source, and the session finds the reads again
    from ecgviewer.labels import discover_labels

    names = [ls.name for ls in discover_labels(path)]
    assert names[0] == "Gold standard" and "Ana Souza" in names
    vm.close_all()
    vm2 = ViewerModel()
    vm2.open(path)
    vm2.reading.set_reader("Ana Souza")
    r = vm2.reading.read_of(0)
    assert r is not None and r.calls == (1, 1, 0, 0, 0, 0) and r.first.calls == (1, 0, 0, 0, 0, 0)
    vm2.close_all()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")
def test_report_prints_the_over_read(tmp_path):
    """The PDF report carries the over-read (reader, time, blinded) beside the network's findings."""
    import subprocess
    import sys

    from ecgviewer.reads import overread_text

    r = Read("101", "Ana Souza", (0, 1, 0, 0, 2, 0), "RBBB; AF?", "2026-12-01T21:05:00Z", blinded=True)
    text = overread_text(r)
    assert text.startswith("Over-read by Ana Souza, 2026-12-01 21:05:00Z, blinded") and "RBBB, AF?" in text
    rev = Read("101", "Ana Souza", (0, 1, 0, 0, 0, 0), "", "2026-12-01T21:07:00Z", revised_from=r)
    assert "with the network's findings visible" in overread_text(rev) and "revised after the reveal" in (
        overread_text(rev)
    )
    path = _small_hdf5(tmp_path / "exams", n=2)
    out = tmp_path / "r.pdf"
    code = f"""
import sys
from ecgviewer.viewer import ViewerModel
vm = ViewerModel()
vm.open({str(path)!r})
vm.show(0)
vm.load_model()
vm.reading.set_reader("Ana Souza")
vm.reading.set_blinded(True)
vm.reading.commit(0, (0, 1, 0, 0, 2, 0), "RBBB; AF?")
vm.report({str(out)!r})
"""
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    txt = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(txt.split())
    assert "Over-read by Ana Souza" in flat and "blinded" in flat and "RBBB; AF?" in flat
