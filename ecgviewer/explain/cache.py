"""Caches: memoised evaluations per exam (in memory), finished explanations (memory and .npz on disk)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import numpy as np

from ecgviewer.explain.params import (
    DEFAULT_MAX_EVALS,
    ExplainError,
    ExplainOptions,
    normalize_focus,
    value_params,
)
from ecgviewer.explain.result import SALIENCY_FORMAT, Saliency

if TYPE_CHECKING:  # pragma: no cover
    from ecgviewer.model.runtime import EcgModel

# --------------------------------------------------------------------------- memo and caches

_MEMO_EXAMS = 8  # exams whose evaluations are memoised (a few MB)
_memos: OrderedDict[str, OrderedDict] = OrderedDict()
_results: OrderedDict[str, Saliency] = OrderedDict()
_RESULTS_MAX = 256
_lock = threading.RLock()


def model_key(model: EcgModel) -> str:
    """Identity of a model file for caches: resolved path, size, mtime, name and version."""
    path = Path(model.path)
    try:
        st = path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{path.resolve()}|{stamp}|{model.contract.name}|{model.contract.version}"


def input_hash(x: np.ndarray) -> str:
    """SHA-1 of the network input (shape, dtype and bytes)."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.sha1(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def memo_for(key: str) -> OrderedDict:
    """The memo of evaluations (mask bytes → outputs) for one (model, input, baseline, segments) key."""
    with _lock:
        memo = _memos.pop(key, None)
        if memo is None:
            memo = OrderedDict()
        _memos[key] = memo
        while len(_memos) > _MEMO_EXAMS:
            _memos.popitem(last=False)
        return memo


def clear_cache(*, disk: bool = False) -> None:
    """Forget every memoised evaluation and cached result (and the disk cache if ``disk``)."""
    with _lock:
        _memos.clear()
        _results.clear()
    if disk:
        folder = cache_dir(create=False)
        if folder.is_dir():
            for f in folder.glob("*.npz"):
                f.unlink(missing_ok=True)


def cache_dir(create: bool = True) -> Path:
    """``user_data_dir()/cache/saliency``: the on-disk cache of :func:`explain_cached`."""
    from ecgviewer.paths import user_data_dir

    folder = user_data_dir() / "cache" / "saliency"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_key(model: EcgModel, x: np.ndarray, **options: Unpack[ExplainOptions]) -> str:
    """The key of :func:`explain_cached`: SHA-1 of model identity, input bytes and the options that
    change the values (:data:`~ecgviewer.explain.params.PARAM_DEFAULTS`; the others are ignored)."""
    p = value_params(options)
    parts = [
        model_key(model),
        input_hash(x),
        str(int(p["segments"])),
        str(int(p["seed"])),
        p["baseline"],
        str(p["max_evals"] or DEFAULT_MAX_EVALS),
        p["method"],
        p["context"],
        str(normalize_focus(p["focus"], tuple(model.contract.classes))),
        f"v{SALIENCY_FORMAT}",
    ]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


_DISK_MAX = 2000


def _prune_disk_cache() -> None:
    folder = cache_dir()
    files = list(folder.glob("*.npz"))
    if len(files) <= _DISK_MAX:
        return
    files.sort(key=lambda p: p.stat().st_mtime)
    for f in files[: len(files) - _DISK_MAX]:
        f.unlink(missing_ok=True)


def lookup(key: str, *, disk: bool) -> Saliency | None:
    """A finished explanation from memory, else (with ``disk``) from :func:`cache_dir`; None if absent.

    An unreadable cache file is deleted and counts as absent."""
    with _lock:
        hit = _results.get(key)
        if hit is not None:
            _results.move_to_end(key)
    if hit is None and disk:
        path = cache_dir() / f"{key}.npz"
        if path.is_file():
            try:
                hit = Saliency.load_npz(path)
            except ExplainError:
                path.unlink(missing_ok=True)
    return hit


def store(key: str, saliency: Saliency, *, disk: bool, computed: bool) -> None:
    """Keep ``saliency`` in memory (the last 256) and, when it was ``computed`` and ``disk``, on disk."""
    if computed and disk:
        try:
            saliency.save_npz(cache_dir() / f"{key}.npz")
            _prune_disk_cache()
        except (OSError, ExplainError):
            pass  # a cache that cannot be written is not an error
    with _lock:
        _results[key] = saliency
        while len(_results) > _RESULTS_MAX:
            _results.popitem(last=False)
