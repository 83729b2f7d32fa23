"""Fuzz every reader with mutated files: only the project's own errors may come out.

Bounded for CI (a fixed number of examples, derandomized so a run is reproducible and never
flaky); ``python -m tests.fuzz.long_run`` runs the same fuzz for as long as asked.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.mutate import make_seeds, mutate, mutations, read_everything

_SEEDS_DIR = Path(tempfile.mkdtemp(prefix="ecgviewer-fuzz-seeds-"))
SEEDS = make_seeds(_SEEDS_DIR)
EXAMPLES = {"wfdb": 120, "csv": 100, "hdf5": 100, "xml": 60, "dicom": 60, "scp": 40, "edf": 40}


def teardown_module() -> None:
    shutil.rmtree(_SEEDS_DIR, ignore_errors=True)


@pytest.mark.parametrize("family", sorted(SEEDS))
def test_mutated_files_raise_only_project_errors(
    family: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    seeds = SEEDS[family]

    @settings(
        max_examples=EXAMPLES.get(family, 20),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(edits=mutations)
    def fuzz(edits: list[tuple]) -> None:
        work = tmp_path_factory.mktemp(family)
        if family == "wfdb":  # mutate the header or the signal file, keep the pair together
            hea, dat = seeds
            target = hea if edits[0][1] < 0.6 else dat
            for p in (hea, dat):
                (work / p.name).write_bytes(mutate(p.read_bytes(), edits) if p == target else p.read_bytes())
            path = work / hea.name
        else:
            seed = seeds[int(edits[0][1] * len(seeds)) % len(seeds)]
            path = work / seed.name
            path.write_bytes(mutate(seed.read_bytes(), edits))
        read_everything(path)
        shutil.rmtree(work, ignore_errors=True)

    fuzz()


def test_unmutated_seeds_read() -> None:
    for family, seeds in SEEDS.items():
        assert read_everything(seeds[0]) >= 1, family
