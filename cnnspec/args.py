"""Reading a layer's positional values and key=value options, with typed, located errors."""

from __future__ import annotations

import difflib

from . import syntax as S
from .diagnostics import Diagnostics

MAX_SIZE = 1_000_000  # the largest size, count or stride a spec may state
UNKNOWN = object()  # a '?' to be solved from a stated output shape


def did_you_mean(word: str, choices) -> str | None:
    # no sort: get_close_matches breaks ties by the name itself, whatever the order
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class ArgReader:
    """Typed access to one layer's arguments; every problem becomes a located diagnostic."""

    def __init__(self, diags: Diagnostics, where: str, positional, options, allowed, advice=None):
        """`advice(node)` may give a hint for an unknown option or a stray value (habits from
        other frameworks); `origin()` says what made the input flat, for hints."""
        self.diags = diags
        self.where = where
        self.positional = list(positional)
        self.options: dict[str, S.Option] = {}
        self.ok = True
        self.advice = advice or (lambda node: None)
        self.origin = None  # a callable: what made the input flat (a hint's words), or None
        for opt in options:
            self._add_option(opt, allowed)

    def _add_option(self, opt: S.Option, allowed) -> None:
        if opt.key not in allowed:
            choices = f"{self.where} takes: " + ", ".join(sorted(allowed)) if allowed else \
                f"{self.where} takes no options"
            hint = self.advice(opt) or did_you_mean(opt.key, allowed) or choices
            self.error("E102", opt, f"unknown option '{opt.key}' for {self.where}", hint)
        elif opt.key in self.options:
            self.error("E105", opt, f"option '{opt.key}' is given twice", "keep one of them")
        else:
            self.options[opt.key] = opt

    def error(self, code: str, node, message: str, hint: str | None = None) -> None:
        self.diags.error(code, node.span, message, hint)
        self.ok = False

    def take(self, kinds: tuple[str, ...]) -> S.Value | None:
        """The first remaining positional value of one of these kinds, removed from the list."""
        for i, value in enumerate(self.positional):
            if value.kind in kinds:
                return self.positional.pop(i)
        return None

    def value(self, key: str) -> S.Value | None:
        opt = self.options.get(key)
        return opt.value if opt else None

    def finish(self) -> None:
        """Report positional values nobody took."""
        for value in self.positional:
            self.error("E107", value, f"unexpected value '{value.describe()}' for {self.where}",
                       self.advice(value))

    # --- typed readers; each returns None after reporting a problem ---

    def int_of(self, value: S.Value, what: str, minimum: int = 1, unknown_ok=False):
        if value.kind == "unknown" and unknown_ok:
            return UNKNOWN
        if value.kind != "int":
            self.error("E103", value, f"{what} must be an integer, not '{value.describe()}'")
            return None
        return self.in_range(value, value.value, what, minimum)

    def in_range(self, node, number: int, what: str, minimum: int):
        if number < minimum:
            rule = "positive" if minimum == 1 else f"at least {minimum}"
            self.error("E106", node, f"{what} must be {rule}, not {number}")
            return None
        if number > MAX_SIZE:
            self.error("E106", node, f"{what} {number} is absurdly large",
                       f"cnnspec accepts sizes up to {MAX_SIZE:,}")
            return None
        return number

    def pair_of(self, value: S.Value, what: str, minimum: int = 1, unknown_ok=False):
        """An int (both axes), HxW dims, or a (h, w) tuple."""
        if value.kind == "unknown" and unknown_ok:
            return (UNKNOWN, UNKNOWN)
        if value.kind == "int":
            n = self.int_of(value, what, minimum)
            return None if n is None else (n, n)
        items = _items(value)
        if items is None or len(items) != 2:
            self.error("E103", value, f"{what} must be one integer or two (HxW), not '{value.describe()}'")
            return None
        out = tuple(self._item(value, x, what, minimum, unknown_ok) for x in items)
        return None if None in out else out

    def _item(self, node, item, what, minimum, unknown_ok):
        if item is None:
            if unknown_ok:
                return UNKNOWN
            self.error("E103", node, f"{what} cannot be '?' here")
            return None
        if isinstance(item, S.Value):
            return self.int_of(item, what, minimum, unknown_ok)
        return self.in_range(node, item, what, minimum)

    def unquoted(self, value: S.Value, what: str, words) -> bool:
        """A quoted word ("same") where the language wants it bare: report it with the fix."""
        if value.kind != "string" or value.value not in words:
            return False
        key = next((k for k, o in self.options.items() if o.value is value), what)
        self.error("E103", value, f"{what} takes a word, not the string {value.describe()}",
                   f"write {key}={value.value} without quotes")
        return True

    def padding_of(self, value: S.Value):
        """'same', 'valid', UNKNOWN, or (top, bottom, left, right)."""
        if self.unquoted(value, "padding", ("same", "valid")):
            return None
        if value.kind == "word" and value.value in ("same", "valid"):
            return value.value
        if value.kind == "unknown":
            return UNKNOWN
        if value.kind == "int":
            p = self.int_of(value, "padding", 0)
            return None if p is None else (p, p, p, p)
        items = _items(value)
        if items is not None and len(items) in (2, 4):
            sides = [self._item(value, x, "padding", 0, False) for x in items]
            if None in sides:
                return None
            return (sides[0], sides[0], sides[1], sides[1]) if len(sides) == 2 else tuple(sides)
        self.error("E103", value, f"padding must be an integer, (h, w), (top, bottom, left, right), "
                   f"'same' or 'valid', not '{value.describe()}'")
        return None

    def bool_of(self, value: S.Value, what: str):
        if self.unquoted(value, what, ("true", "false")):
            return None
        if value.kind == "word" and value.value in ("true", "false"):
            return value.value == "true"
        self.error("E103", value, f"{what} must be true or false, not '{value.describe()}'")
        return None

    def float_of(self, value: S.Value, what: str, low: float, high: float, high_open=False):
        if value.kind not in ("int", "float"):
            self.error("E103", value, f"{what} must be a number, not '{value.describe()}'")
            return None
        try:
            x = float(value.value)
        except OverflowError:  # an integer past 1e308: out of every range
            x = float("inf") if value.value > 0 else float("-inf")
        if not (low <= x <= high) or (high_open and x >= high):
            bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
            self.error("E106", value, f"{what} must be in {bound}, not {value.describe()}")
            return None
        return x

    def word_of(self, value: S.Value, what: str, choices: tuple[str, ...]):
        if self.unquoted(value, what, choices):
            return None
        if value.kind == "word" and value.value in choices:
            return value.value
        hint = did_you_mean(str(value.value), choices) if value.kind == "word" else None
        self.error("E103", value, f"{what} must be one of {', '.join(choices)}, not '{value.describe()}'",
                   hint)
        return None


def _items(value: S.Value):
    if value.kind == "dims":
        return list(value.value)
    if value.kind == "tuple":
        return list(value.value)
    return None
