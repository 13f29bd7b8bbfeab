"""The bounds on the work one analysis may do, in one place.

The size of one spec file is bounded where it is read (E003); these bound what a spec of
that size can ask for, so that checking stays near-linear in the size of its text. Passing
one is an E004 error that names the limit.
"""

from __future__ import annotations

MAX_LAYERS = 100_000  # layers of one spec after expanding blocks and repeats (also a repeat's count)
MAX_DEPTH = 32  # block uses nested in one another (a block using a block using ...)
MAX_FAN_IN = 1_000  # inputs of one merge (add, concat, multiply)
MAX_EXPR_DEPTH = 100  # operations nested in one expression (evaluation recurses over them)
MAX_STAGES = 32  # `stage` sections of one spec (each holds a copy of the layer list)
MAX_IMPORT_DEPTH = 16  # nested imports below the spec being checked
MAX_IMPORTED_FILES = 100  # distinct files imported, at any depth, by one analysis
MAX_IMPORTED_TEXT = 2_000_000  # characters of those files together
MAX_SUGGESTION_WORK = 20_000  # names compared by "did you mean" searches, per analysis (<= ~0.5 s)
