"""Backend cases and framework references for the activations (fused and as layers) and dropout variants (issue 9).

CASES: node kind -> a function making a small Network that uses it (see backend_cases.graph).
REFERENCES: node kind -> reference(node, params, xs) -> the node's NHWC value, computed with
the frameworks' own ops (torch.nn.functional, keras.layers), never with generated code.
backend_cases merges both into its tables.

The activation case holds every activation twice over one linear conv `pre`: as a layer of
its own on `pre` and fused into a conv of the input; plus the fused forms on a dense layer
(a flat input: softmax over its features). Its references are backend_cases._activation (the
frameworks' functions) applied to the nodes' inputs, so they need no entry here.
"""

from __future__ import annotations

from cnnspec.kinds.base import ACTIVATION_FUNCTIONS, ALPHA_DEFAULTS

# spec text of each activation as written in the cases (an alpha other than the default,
# so that it must be carried through)
WRITTEN = {name: name for name in ACTIVATION_FUNCTIONS if name != "linear"}
WRITTEN.update({"leaky_relu": "leaky_relu alpha=0.2", "elu": "elu alpha=0.7"})


def every_activation():
    """pre: conv 6 1x1; <act>: <act> on pre (as a layer); fused_<act>: conv 6 1x1 -> <act> on
    the input; then flat: dense_<act>: dense 5 -> <act>, for every activation. Every
    activation node is an output (a Keras model holds only what some output depends on)."""
    from backend_cases import graph
    lines = [("pre", "conv 6 1x1", ["input"])]
    lines += [(f"layer_{name}", text, ["pre"]) for name, text in WRITTEN.items()]
    lines += [(f"fused_{name}", f"conv 6 1x1 -> {text}", ["input"]) for name, text in WRITTEN.items()]
    lines.append(("flat", "flatten", ["pre"]))
    lines += [(f"dense_{name}", f"dense 5 -> {text}", ["flat"]) for name, text in WRITTEN.items()]
    return graph((3, 3, 4), lines, outputs=[n for n, _, _ in lines if n not in ("pre", "flat")],
                 name="activations")


def dropouts():
    """Each dropout mode on an image, and mode=sample on a flat vector: identities at inference."""
    from backend_cases import graph
    return graph((5, 5, 3), [
        ("pre", "conv 4 3x3 pad=1", None),
        ("element", "dropout 0.3", None),
        ("channel", "dropout 0.2 mode=channel", None),
        ("sample", "dropout 0.1 mode=sample", None),
        ("flat", "flatten", None),
        ("flat_sample", "dropout 0.5 mode=sample", None),
        ("fc", "dense 3", None)])


assert set(ALPHA_DEFAULTS) <= set(WRITTEN)
CASES: dict = {"activation": every_activation, "dropout": dropouts}
REFERENCES: dict = {}
