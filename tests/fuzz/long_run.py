"""The reader fuzz for manual use, for as long as asked:

    PYTHONPATH=$PWD python -m tests.fuzz.long_run --minutes 10

Random (not derandomized) mutations of every seed; any exception other than the project's own
is printed with the mutated file kept for reproduction, and the run ends with a count.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import traceback
from pathlib import Path

from tests.fuzz.mutate import make_seeds, mutate, read_everything


def random_edits(rng: random.Random) -> list[tuple]:
    """1–6 edits of the kinds :func:`tests.fuzz.mutate.mutate` applies."""
    edits: list[tuple] = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["flip", "set", "cut", "insert", "repeat"])
        arg = {
            "flip": rng.randint(0, 7),
            "set": rng.choice([0, 0xFF, 0x7F, 0x80, ord("9"), ord("-")]),
            "cut": 0,
            "insert": rng.randbytes(rng.randint(1, 8)),
            "repeat": rng.randint(1, 64),
        }[kind]
        edits.append((kind, rng.random(), arg))
    return edits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--keep", default="fuzz-failures", help="folder for the files that failed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecgviewer-fuzz-"))
    seeds = make_seeds(work / "seeds")
    keep = Path(args.keep)
    rng = random.Random()
    end = time.monotonic() + 60 * args.minutes
    runs = failures = 0
    while time.monotonic() < end:
        family = rng.choice(sorted(seeds))
        files = seeds[family]
        edits = random_edits(rng)
        case = work / f"case{runs}"
        case.mkdir()
        for p in files:
            data = p.read_bytes()
            (case / p.name).write_bytes(mutate(data, edits) if p == files[0] or family != "wfdb" else data)
        try:
            read_everything(case / files[0].name)
        except Exception:
            failures += 1
            keep.mkdir(exist_ok=True)
            for p in case.iterdir():
                (keep / f"{runs}-{p.name}").write_bytes(p.read_bytes())
            print(f"[{family}] {edits}\n{traceback.format_exc()}")
        for p in case.iterdir():
            p.unlink()
        case.rmdir()
        runs += 1
    print(f"{runs} mutated files, {failures} raised something other than an ecgviewer error")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
