"""Backend cases and framework references for batch norm options, layer norm, Normalization, Rescaling and layer scale (issue 9).

CASES: node kind -> a function making a small Network that uses it (see backend_cases.graph).
REFERENCES: node kind -> reference(node, params, xs) -> the node's NHWC value, computed with
the frameworks' own ops (torch.nn.functional, keras.layers), never with generated code.
backend_cases merges both into its tables.
"""

from __future__ import annotations

CASES: dict = {}
REFERENCES: dict = {}
