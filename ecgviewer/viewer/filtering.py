"""The exam browser's filter language (no Qt), evaluated column-wise with numpy.

Examples (case-insensitive)::

    AF > 0.5                 probability of AF above 0.5 (also "AF > 50%")
    RBBB                     RBBB is positive (probability ≥ the model's threshold)
    not AF                   AF is not positive
    AF > 0.5 and fs >= 500   both ("and", "&", "," or just a space)
    SB or ST                 either ("or", "|")
    duration > 10            recordings longer than 10 s; also fs, age, index
    HR < 50, QTc > 470       measurements (bpm, ms): HR, PR, QRS, QT, QTc; unmeasured rows never pass
    id ~ A00                 exam id contains "A00"; also source, sex, format; "=" and "!=" compare
    A0001                    any other word: id or source file name contains it
    disagrees                the model differs from the exam's reference labels (gold standard,
                             else the first label source) on a class both know
    agrees, labelled         the model agrees with them; the exam has labels at all
    unread, read             the current reader has (not) read the exam (reading study)
    by Souza                 some reader whose name contains "Souza" has read the exam

Rows without a prediction never satisfy a probability condition (a NaN compares false).
The class words are the active model's classes (``parse_filter(text, classes=model.classes)``;
the paper's six by default): a fine-tuned model's ``abnormal > 0.5`` or ``not normal``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ecgviewer.classes import CLASSES


class FilterError(ValueError):
    """The filter text cannot be parsed; the message says where and what is expected."""


NUMERIC_FIELDS: dict[str, str] = {
    "fs": "fs",
    "rate": "fs",
    "hz": "fs",
    "duration": "duration",
    "dur": "duration",
    "length": "duration",
    "seconds": "duration",
    "age": "age",
    "index": "index",
    "#": "index",
    "row": "index",
    # measurements (ecgviewer.viewer.measurements): NaN until a row is measured
    "hr": "hr",
    "pr": "pr",
    "qrs": "qrs",
    "qt": "qt",
    "qtc": "qtc",
}
TEXT_FIELDS: dict[str, str] = {
    "id": "id",
    "exam": "id",
    "exam_id": "id",
    "source": "source",
    "file": "source",
    "sex": "sex",
    "format": "format",
}
FLAG_FIELDS: dict[str, str] = {
    "disagrees": "disagrees",
    "disagree": "disagrees",
    "differs": "disagrees",
    "disagreement": "disagrees",
    "agrees": "agrees",
    "agree": "agrees",
    "labelled": "labelled",
    "labeled": "labelled",
    "read": "read",
    "unread": "unread",
}
"""Words that select exams by their label agreement (no operator)."""
_OPS = (">=", "<=", "==", "!=", "=", ">", "<", "~")

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<lpar>\() | (?P<rpar>\)) |
    (?P<op>>=|<=|==|!=|=|>|<|~) |
    (?P<and>&&|&|,) | (?P<or>\|\||\|) | (?P<not>!) |
    (?P<str>"[^"]*"|'[^']*') |
    (?P<word>[^\s()<>=!~&|,"']+)
)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Node:
    """One node of a parsed filter: kind is "and", "or", "not", "cmp", "positive", "flag", "reader"
    (``by NAME``) or "text"."""

    kind: str
    children: tuple[Node, ...] = ()
    field: str = ""
    op: str = ""
    value: str | float = ""


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"cannot read the filter at {text[pos : pos + 12]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value.lower() in ("and", "or", "not"):
            kind = value.lower()
        if kind == "str":
            kind, value = "word", value[1:-1]
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], classes: Sequence[str] = CLASSES) -> None:
        self.tokens = tokens
        self.i = 0
        self.classes = tuple(classes)
        self.class_fields: dict[str, str] = {c.lower(): c for c in self.classes}

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.or_expr()
        kind, value = self.peek()
        if kind != "end":
            raise FilterError(f"unexpected {value!r}" + (" (missing '('?)" if kind == "rpar" else ""))
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek()[0] == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while self.peek()[0] in ("and", "not", "lpar", "word"):
            if self.peek()[0] == "and":
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def unary(self) -> Node:
        kind, value = self.peek()
        if kind == "not":
            self.take()
            return Node("not", (self.unary(),))
        if kind == "lpar":
            self.take()
            node = self.or_expr()
            if self.take()[0] != "rpar":
                raise FilterError("missing ')'")
            return node
        if kind == "word":
            self.take()
            return self.condition(value)
        if kind == "end":
            raise FilterError("the filter ends too early: a condition is missing")
        raise FilterError(f"unexpected {value!r}: expected a condition such as 'AF > 0.5'")

    def condition(self, word: str) -> Node:
        key = word.lower()
        if key == "by" and self.peek()[0] == "word":
            return Node("reader", value=self.take()[1])
        if self.peek()[0] != "op":
            if key in self.class_fields:
                return Node("positive", field=self.class_fields[key])
            if key in FLAG_FIELDS:
                return Node("flag", field=FLAG_FIELDS[key])
            return Node("text", value=word)
        op = self.take()[1]
        kind, raw = self.take()
        if kind != "word":
            raise FilterError(f"a value is missing after '{word} {op}'")
        if key in self.class_fields or key in NUMERIC_FIELDS:
            field = self.class_fields.get(key) or NUMERIC_FIELDS[key]
            if op == "~":
                raise FilterError(f"'~' (contains) is for text fields; use >, >=, <, <=, = or != with {word}")
            number = _number(raw, word)
            if key in self.class_fields and not 0.0 <= number <= 1.0:
                raise FilterError(
                    f"{word} is a probability: compare it with a value from 0 to 1 (or 0% to 100%), not {raw}"
                )
            return Node("cmp", field=field, op=op, value=number)
        if key in TEXT_FIELDS:
            if op in (">", ">=", "<", "<="):
                raise FilterError(f"{word} is text: use =, != or ~ (contains)")
            return Node("cmp", field=TEXT_FIELDS[key], op=op, value=raw)
        if key in FLAG_FIELDS:
            raise FilterError(f"'{word}' takes no value: write just '{word}' (or 'not {word}')")
        known = ", ".join(
            [
                *self.classes,
                "fs",
                "duration",
                "age",
                "index",
                "HR",
                "PR",
                "QRS",
                "QT",
                "QTc",
                "id",
                "source",
                "sex",
                "format",
            ]
        )
        raise FilterError(f"unknown field {word!r}; known: {known}")


def _number(raw: str, field: str) -> float:
    text = raw.strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1], 0.01
    try:
        return float(text) * scale
    except ValueError:
        raise FilterError(f"{field} needs a number, not {raw!r}") from None


def parse_filter(text: str, classes: Sequence[str] = CLASSES) -> Node | None:
    """Parse a filter; None for empty text. Raises :class:`FilterError` with a readable message.

    ``classes``: the class words (the active model's classes; the paper's six by default).
    """
    if not text or not text.strip():
        return None
    return _Parser(_tokenize(text), classes).parse()


def fields_used(node: Node | None) -> set[str]:
    """The columns a filter needs: class names, "positive:<class>", numeric and text fields, "text"."""
    if node is None:
        return set()
    if node.kind in ("and", "or", "not"):
        out: set[str] = set()
        for child in node.children:
            out |= fields_used(child)
        return out
    if node.kind == "positive":
        return {f"positive:{node.field}"}
    if node.kind == "flag":
        return {f"flag:{node.field}"}
    if node.kind == "reader":
        return {f"reader:{node.value}"}
    if node.kind == "text":
        return {"id", "source"}
    return {node.field}


_CMP: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "=": np.equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def evaluate(node: Node | None, column: Callable[[str], np.ndarray], n: int) -> np.ndarray:
    """Which of ``n`` rows pass the filter: (n,) bool.

    ``column(name)`` returns an (n,) array: float for class names (probabilities, NaN when
    unknown) and numeric fields, bool for "positive:<class>" and "flag:<disagrees|agrees|labelled>",
    str/object for text fields.
    """
    if node is None:
        return np.ones(n, dtype=bool)
    if node.kind == "and":
        mask = np.ones(n, dtype=bool)
        for child in node.children:
            mask &= evaluate(child, column, n)
        return mask
    if node.kind == "or":
        mask = np.zeros(n, dtype=bool)
        for child in node.children:
            mask |= evaluate(child, column, n)
        return mask
    if node.kind == "not":
        return ~evaluate(node.children[0], column, n)
    if node.kind == "positive":
        return np.asarray(column(f"positive:{node.field}"), dtype=bool)
    if node.kind == "flag":
        return np.asarray(column(f"flag:{node.field}"), dtype=bool)
    if node.kind == "reader":
        return np.asarray(column(f"reader:{node.value}"), dtype=bool)
    if node.kind == "text":
        needle = str(node.value).lower()
        ids = column("id")
        sources = column("source")
        return np.fromiter(
            (needle in str(a).lower() or needle in str(b).lower() for a, b in zip(ids, sources, strict=True)),
            dtype=bool,
            count=n,
        )
    values = column(node.field)
    if isinstance(node.value, float):
        with np.errstate(invalid="ignore"):
            return np.asarray(_CMP[node.op](np.asarray(values, dtype=np.float64), node.value), dtype=bool)
    needle = str(node.value).lower()
    texts = [str(v).lower() for v in values]
    if node.op == "~":
        return np.fromiter((needle in t for t in texts), dtype=bool, count=n)
    equal = np.fromiter((t == needle for t in texts), dtype=bool, count=n)
    return ~equal if node.op == "!=" else equal
