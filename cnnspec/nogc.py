"""Pausing the cycle collector around work that makes many small objects and no cycles.

Summaries of large graphs build hundreds of thousands of dicts, tuples and strings; each of
CPython's generation-2 collections walks all of them, which made building them quadratic
(the same reason api.analyse pauses it)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import wraps


def paused(function: Callable) -> Callable:
    """`function` run with the collector off (and back on after, if it was on)."""

    @wraps(function)
    def run(*args, **kwargs):
        collecting = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return run
