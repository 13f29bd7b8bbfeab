"""Expressions of block parameters and shapes: `filters*4`, `stride != 1 or in.channels != c`.

Pure evaluation over syntax Values. Names are looked up through two callables that the
expansion supplies: `param(name)` (a parameter's value, or MISSING) and `shape(ref)` (the
value of `in.channels`, `conv1.height`..., or raises). Values are Python ints, floats, bools
and strings (words); anything else a parameter holds (a shape such as 3x3) passes through as
its syntax Value and cannot take part in arithmetic. Problems raise ExprError, located.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from . import syntax as S
from .args import did_you_mean
from .limits import MAX_EXPR_DEPTH

MISSING = object()
SHAPE_ATTRIBUTES = ("channels", "height", "width")


class ExprError(Exception):
    """A located problem: raised by evaluation, reported by the expansion."""

    def __init__(self, code: str, span, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.span, self.message, self.hint = code, span, message, hint


class Unknowable(Exception):
    """The value depends on a layer whose shape is unknown (its error is already reported)."""


_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul,
               "//": operator.floordiv, "%": operator.mod}
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Evaluator:
    def __init__(self, param: Callable[[str], object], shape: Callable[[S.Value], object],
                 names: Callable[[], list[str]]):
        self.param, self.shape, self.names = param, shape, names

    def value(self, v: S.Value, words_ok: bool = False):
        """The value of a Value; a bare word that is no parameter is an error unless words_ok."""
        if v.kind in ("int", "float"):
            return v.value
        if v.kind == "word":
            return self._word(v, words_ok)
        if v.kind == "ref":
            return self.shape(v)
        if v.kind == "expr":
            if v.value.depth > MAX_EXPR_DEPTH:
                raise ExprError("E004", v.span, f"an expression nested more than {MAX_EXPR_DEPTH} deep",
                                "split it over parameters, or write it flatter")
            return self._expr(v.value)
        return v  # dims, tuples, strings: only passed along

    def _word(self, v: S.Value, words_ok: bool):
        found = self.param(v.value)
        if found is not MISSING:
            return found
        if v.value in ("true", "false"):
            return v.value == "true"
        if words_ok:
            return v.value
        hint = did_you_mean(v.value, self.names()) or _known(self.names())
        raise ExprError("E220", v.span, f"unknown name '{v.value}' in an expression", hint)

    def _expr(self, e: S.Expr):
        if e.op in ("and", "or"):
            return self._logic(e)
        if e.op == "not":
            return not self._bool(e.operands[0], "not")
        if e.op == "neg":
            return -self._number(e.operands[0], "-")
        if e.op in ("==", "!="):
            a, b = (self.value(x, words_ok=True) for x in e.operands)
            return (a == b) == (e.op == "==")
        if e.op in _ORDER:
            a, b = (self._number(x, e.op) for x in e.operands)
            return _ORDER[e.op](a, b)
        return self._arithmetic(e)

    def _logic(self, e: S.Expr) -> bool:
        left = self._bool(e.operands[0], e.op)
        if left == (e.op == "or"):  # short-circuit, as Python: the right side may not be needed
            return left
        return self._bool(e.operands[1], e.op)

    def _arithmetic(self, e: S.Expr):
        a, b = (self._number(x, e.op) for x in e.operands)
        if e.op in ("//", "%"):
            if not (isinstance(a, int) and isinstance(b, int)):
                raise ExprError("E222", e.span, f"'{e.op}' needs integers, not {_show(a)} and {_show(b)}",
                                "use integer parameters, or '*' and '+' for other numbers")
            if b == 0:
                raise ExprError("E221", e.operands[1].span, f"division by zero in '{e}'",
                                "the right side of // and % must not be 0 in any instance")
        return _ARITHMETIC[e.op](a, b)

    def _number(self, v: S.Value, op: str):
        x = self.value(v)
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ExprError("E222", v.span, f"'{op}' needs a number, not {_show(x)}",
                            "arithmetic and < <= > >= work on integers and floats")
        return x

    def _bool(self, v: S.Value, op: str) -> bool:
        x = self.value(v)
        if not isinstance(x, bool):
            raise ExprError("E222", v.span, f"'{op}' needs true or false, not {_show(x)}",
                            "compare it first, e.g. 'stride != 1'")
        return x


def shape_attribute(shape: tuple, attr: str, ref: S.Value):
    """`channels`, `height` or `width` of a shape (a flat vector has only channels)."""
    if attr not in SHAPE_ATTRIBUTES:
        raise ExprError("E220", ref.span, f"'{ref.value}': a layer has no attribute '{attr}'",
                        did_you_mean(attr, SHAPE_ATTRIBUTES) or "use .channels, .height or .width")
    if attr == "channels":
        return shape[-1]
    if len(shape) != 3:
        raise ExprError("E222", ref.span, f"'{ref.value}': the layer is the flat vector "
                        f"{shape[0]}, it has no {attr}", "a flat vector has only .channels")
    return shape[0] if attr == "height" else shape[1]


def to_value(x, span) -> S.Value:
    """A computed value as a literal syntax Value at `span` (where it was written)."""
    if isinstance(x, S.Value):
        return S.Value(x.kind, x.value, span)
    if isinstance(x, bool):
        return S.Value("word", "true" if x else "false", span)
    if isinstance(x, int):
        return S.Value("int", x, span)
    if isinstance(x, float):
        return S.Value("float", x, span)
    return S.Value("word", str(x), span)


def _show(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, S.Value):
        return f"'{x.describe()}'"
    return repr(x) if isinstance(x, str) else str(x)


def _known(names: list[str]) -> str:
    if not names:
        return "this block has no parameters; expressions use parameters and in.channels etc."
    return "parameters here: " + ", ".join(names[:20])
