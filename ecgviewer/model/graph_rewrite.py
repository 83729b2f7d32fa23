"""Exact ONNX graph rewrites applied when a model is loaded.

:func:`conv1d_as_conv2d` runs every 1-D convolution of a graph as a 1×k 2-D convolution:
the trunk's (N, C, L) tensors become (N, C, 1, L) once, after the first convolution's
input, and stay 4-D through the batch norms, activations, residual additions, pads and
poolings until the first operator that needs the 3-D tensor (a ``Squeeze`` is put there).
onnxruntime's 2-D convolution kernels are faster than its 1-D path on some CPUs; the
arithmetic is the same multiply–adds in the same order, so outputs agree to float32
round-off (tested within 1e-6 on the bundled model and on a Keras import).

``ECGVIEWER_CONV2D=0`` (or ``off``/``false``/``no``) loads the original graph;
``ECGVIEWER_CONV2D=1`` forces the rewrite. The default is :data:`DEFAULT_CONV2D`
(decided from measurements on the CPU at hand; see the README's performance section).

The rewritten graph is cached in ``user_data_dir()/cache/graphs`` under the source file's
SHA-256 and :data:`REWRITE_VERSION` (written atomically; the last :data:`CACHE_KEEP` are
kept), so only the first load of a model pays for the rewrite; the hash itself is remembered
per file identity (``hashes.json``), so a later load only stats the file. A cache that cannot be read
or written is skipped silently: the graph is then rewritten in memory as before.

>>> proto = conv1d_as_conv2d(onnx.load("model.onnx"))   # a new ModelProto, the input is not changed
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from ecgviewer.model.install import sha256_file

log = logging.getLogger(__name__)

ENV_VAR = "ECGVIEWER_CONV2D"
# On by default: ~1.2× faster at batch 64 on a loaded 2-core AVX2 EPYC, ~1.15× on an
# AVX-512 machine (README, "Performance"); the rewrite itself costs ~1 s at load under load.
DEFAULT_CONV2D = True

REWRITE_VERSION = 1
"""Bump when :func:`conv1d_as_conv2d` changes what it writes: cached graphs of older versions are not used."""

CACHE_KEEP = 16
"""Rewritten graphs kept in the cache (the least recently used beyond are deleted)."""

# Operators that act the same on (N, C, L) and (N, C, 1, L) (channel axis 1, element-wise or per channel).
_UNARY = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Identity", "Softplus", "HardSigmoid", "Abs"}
_NARY = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"}
_SPATIAL = {"Conv", "MaxPool", "AveragePool"}


def conv2d_enabled() -> bool:
    """Whether models are loaded with the 2-D rewrite (``ECGVIEWER_CONV2D`` or the default)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("1", "on", "true", "yes"):
        return True
    return DEFAULT_CONV2D


def session_source(path: str | Path, conv2d: bool | None = None, *, cache: Path | bool = True) -> str | bytes:
    """What to hand ``onnxruntime.InferenceSession``: the path, the cached rewritten graph's path,
    or the rewritten graph's bytes.

    ``conv2d`` None follows :func:`conv2d_enabled`. ``cache`` True uses :func:`graph_cache_dir`,
    a folder uses that folder, False rewrites in memory. A graph the rewrite cannot handle
    (external data, a parse problem) is loaded as it is, with a log line.
    """
    use = conv2d_enabled() if conv2d is None else conv2d
    if not use:
        return str(path)
    folder = _cache_folder(cache)
    entry = None
    if folder is not None:
        try:
            entry = folder / f"{_source_sha256(Path(path), folder)}-r{REWRITE_VERSION}"
            cached, unchanged = entry.with_suffix(".onnx"), entry.with_suffix(".none")
            for hit in (cached, unchanged):
                if hit.is_file():
                    with contextlib.suppress(OSError):
                        os.utime(hit)  # least recently used goes first
                    return str(cached) if hit == cached else str(path)
        except OSError:  # unreadable source or cache: rewrite below (open errors are onnxruntime's to report)
            entry = None
    import onnx

    try:
        proto = onnx.load(str(path))
        rewritten, count = _rewrite(proto)
    except Exception as err:  # a graph we cannot rewrite still runs as it is
        log.info("%s: 2-D convolution rewrite skipped (%s: %s)", path, type(err).__name__, err)
        return str(path)
    data = rewritten.SerializeToString() if count else b""
    if entry is not None:
        _store(entry.with_suffix(".onnx" if count else ".none"), data)
    return data if count else str(path)


def graph_cache_dir() -> Path:
    """``user_data_dir()/cache/graphs``: rewritten graphs by source SHA-256 and rewrite version."""
    from ecgviewer.paths import user_data_dir

    return user_data_dir() / "cache" / "graphs"


def discard_cached(source: str | bytes) -> bool:
    """Delete ``source`` if it is a file of the graph cache (e.g. one onnxruntime could not load)."""
    if not isinstance(source, str):
        return False
    p = Path(source)
    try:
        if re.fullmatch(r"[0-9a-f]{64}-r\d+\.onnx", p.name):
            p.unlink(missing_ok=True)
            return True
    except OSError:
        pass
    return False


def _cache_folder(cache: Path | bool) -> Path | None:
    if cache is False:
        return None
    try:
        return graph_cache_dir() if cache is True else Path(cache)
    except OSError:
        return None


_HASHES = "hashes.json"
_hash_memo: dict[str, str] = {}


def _source_sha256(path: Path, folder: Path) -> str:
    """SHA-256 of ``path``, remembered per file identity (path, size, mtime, ctime, inode) in
    memory and in ``folder/hashes.json``: hashing 25 MB costs ~0.1–0.7 s, a loaded model's
    identity only a ``stat``. ctime changes on every write or rename and cannot be set back."""
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
    if ident in _hash_memo:
        return _hash_memo[ident]
    index: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((folder / _HASHES).read_text())
        index = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    digest = index.get(ident)
    if digest is None or not re.fullmatch(r"[0-9a-f]{64}", digest):
        digest = sha256_file(path)
        index[ident] = digest
        _store(folder / _HASHES, json.dumps(dict(list(index.items())[-256:])).encode(), prune=False)
    _hash_memo[ident] = digest
    return digest


def _store(target: Path, data: bytes, *, prune: bool = True) -> None:
    """Write ``data`` to ``target`` atomically and prune the cache; any OSError is ignored."""
    from ecgviewer.atomic import temp_beside

    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(target)
        tmp.write_bytes(data)
        os.replace(tmp, target)
        tmp = None
        if not prune:
            return
        files = sorted(
            (f for f in target.parent.iterdir() if f.suffix in (".onnx", ".none")),
            key=lambda f: f.stat().st_mtime,
        )
        for old in files[: max(0, len(files) - CACHE_KEEP)]:
            old.unlink(missing_ok=True)
    except OSError as err:
        log.info("%s: rewritten graph not cached (%s)", target.parent, err)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def conv1d_as_conv2d(model):  # (onnx.ModelProto) -> onnx.ModelProto
    """A copy of ``model`` with every Conv/MaxPool/AveragePool on rank-3 tensors run as 2-D (1×k).

    Constant sub-graphs are folded first (PyTorch exports compute pads at run time), so
    that ``Pad`` nodes with constant pads stay inside the 4-D trunk.
    """
    return _rewrite(model)[0]


def _rewrite(model) -> tuple[object, int]:
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    model = copy.deepcopy(model)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    _fold_constants(model)
    inferred = shape_inference.infer_shapes(model)
    rank: dict[str, int] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            rank[vi.name] = len(t.shape.dim)
    consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for i in graph.initializer:
        rank.setdefault(i.name, len(i.dims))

    new_nodes: list = []
    new_inits: list = []
    four: dict[str, str] = {}  # 3-D tensor name -> its (N, C, 1, L) twin
    virtual: set[str] = set()  # 3-D names not materialised (only their 4-D twin exists)
    axes_name = "ecgviewer_conv2d_axis2"
    used_names = {n for node in graph.node for n in (*node.input, *node.output)} | set(consts)
    count = 0

    def axis_args(x: str, op: str, out: str) -> object:
        if opset >= 13:
            if axes_name not in consts:
                consts[axes_name] = np.array([2], np.int64)
                new_inits.append(numpy_helper.from_array(consts[axes_name], axes_name))
            return helper.make_node(op, [x, axes_name], [out], name=out + "/node")
        return helper.make_node(op, [x], [out], name=out + "/node", axes=[2])

    def fresh(base: str) -> str:
        name = base
        k = 0
        while name in used_names:
            k += 1
            name = f"{base}_{k}"
        used_names.add(name)
        return name

    def get4d(name: str) -> str:
        if name not in four:
            out = fresh(name + "/2d")
            new_nodes.append(axis_args(name, "Unsqueeze", out))
            four[name] = out
        return four[name]

    def need3d(name: str) -> None:
        if name in virtual:
            new_nodes.append(axis_args(four[name], "Squeeze", name))
            virtual.discard(name)

    def attrs_of(node) -> dict[str, object]:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def emit(node, inputs: list[str], attrs: dict[str, object]) -> None:
        out3 = node.output[0]
        out4 = fresh(out3 + "/2d")
        new_nodes.append(
            helper.make_node(node.op_type, inputs, [out4], name=(node.name or out3) + "/2d", **attrs)
        )
        four[out3] = out4
        virtual.add(out3)

    for node in graph.node:
        op = node.op_type
        ins = list(node.input)
        domain_ok = node.domain in ("", "ai.onnx")
        single_out = len(node.output) == 1
        x = ins[0] if ins else ""
        if domain_ok and single_out and op in _SPATIAL and rank.get(x) == 3:
            attrs = attrs_of(node)
            for key in ("kernel_shape", "strides", "dilations"):
                if key in attrs:
                    attrs[key] = [1, *attrs[key]]
            if "pads" in attrs:
                b, e = attrs["pads"]
                attrs["pads"] = [0, b, 0, e]
            new_ins = [get4d(x)]
            if op == "Conv":
                w = ins[1]
                if w in consts:
                    w4 = fresh(w + "/2d")
                    arr = consts[w]
                    consts[w4] = arr.reshape(arr.shape[0], arr.shape[1], 1, arr.shape[2])
                    new_inits.append(numpy_helper.from_array(consts[w4], w4))
                else:
                    w4 = get4d(w)
                new_ins += [w4, *ins[2:]]
                if "kernel_shape" not in attrs and w in consts:
                    attrs["kernel_shape"] = [1, int(consts[w].shape[2])]
            emit(node, new_ins, attrs)
            count += 1
            continue
        if domain_ok and single_out and x in four:
            if op in _UNARY or (op == "BatchNormalization") or (op == "Dropout" and len(ins) == 1):
                emit(node, [four[x], *ins[1:]], attrs_of(node))
                continue
            if op in _NARY and all(rank.get(i) == 3 for i in ins):
                emit(node, [get4d(i) for i in ins], attrs_of(node))
                continue
            if op == "Pad" and len(ins) >= 2 and ins[1] in consts and len(ins) < 4:
                pads = consts[ins[1]].astype(np.int64).ravel()
                if pads.size == 6:
                    p4 = fresh(ins[1] + "/2d")
                    consts[p4] = np.array([*pads[:2], 0, pads[2], *pads[3:5], 0, pads[5]], np.int64)
                    new_inits.append(numpy_helper.from_array(consts[p4], p4))
                    emit(node, [four[x], p4, *ins[2:]], attrs_of(node))
                    continue
            if op == "Flatten" and attrs_of(node).get("axis", 1) == 1:
                # (N, C, 1, L) and (N, C, L) flatten to the same (N, C·L) row order
                new_nodes.append(
                    helper.make_node("Flatten", [four[x]], list(node.output), name=node.name, axis=1)
                )
                continue
        for i in ins:
            need3d(i)
        new_nodes.append(node)
    for out in graph.output:
        need3d(out.name)

    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(new_inits)
    del graph.value_info[:]  # shapes of renamed tensors changed; onnxruntime infers its own
    # drop initializers nobody reads any more (the 3-D kernels, folded constants' leftovers)
    read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in read]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model, count


def _fold_constants(model) -> None:
    """Replace nodes whose inputs are all constants by initializers (in place, default domain only)."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    known: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    graph_inputs = {i.name for i in graph.input} - set(known)
    kept = []
    folded = []
    opsets = list(model.opset_import)
    for node in graph.node:
        ins = [i for i in node.input if i]
        foldable = (
            node.domain in ("", "ai.onnx")
            and all(i in known for i in ins)
            and not (set(ins) & graph_inputs)
            and node.op_type not in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike")
            and all(helper.get_attribute_value(a) is not None for a in node.attribute)
        )
        if foldable and (node.op_type == "Constant" or all(known[i].size <= 4096 for i in ins)):
            try:
                single = helper.make_model(
                    helper.make_graph(
                        [node],
                        "fold",
                        [],
                        [helper.make_value_info(o, helper.TypeProto()) for o in node.output],
                        [numpy_helper.from_array(known[i], i) for i in dict.fromkeys(ins)],
                    ),
                    opset_imports=opsets,
                )
                values = ReferenceEvaluator(single).run(None, {})
            except Exception:  # leave anything the reference evaluator cannot run to onnxruntime
                kept.append(node)
                continue
            for name, value in zip(node.output, values, strict=True):
                known[name] = np.asarray(value)
                folded.append(numpy_helper.from_array(np.asarray(value), name))
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(folded)
