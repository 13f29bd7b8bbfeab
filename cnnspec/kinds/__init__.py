"""Every layer kind, declared once: spec word -> kind object, and the IR's node kinds.

One module per family: base (Resolved, activations, the Kind defaults), conv, pool, dense,
norm, simple (flatten, zeropad, dropout, activation layers), merge (add, concat, multiply),
depthwise (depthwise, separable), transposed, affine (layer norm, Normalization, Rescaling,
layer scale), reshape (reshape, crop) and upsample.
"""

from __future__ import annotations

from . import affine, depthwise, reshape, transposed, upsample
from .base import ACTIVATIONS, COMMON_OPTIONS, FLAT_ORDERS, MANY, Kind, Resolved, activation_advice
from .conv import Conv
from .dense import Dense
from .merge import Add, Concat, Merge, Multiply
from .norm import BatchNorm
from .pool import GlobalPool, Pool
from .simple import ActivationLayer, Dropout, Flatten, ZeroPad

KINDS = {
    "conv": Conv(),
    "maxpool": Pool("max"),
    "avgpool": Pool("avg"),
    "globalavgpool": GlobalPool("avg"),
    "globalmaxpool": GlobalPool("max"),
    "flatten": Flatten(),
    "zeropad": ZeroPad(),
    "dense": Dense(),
    "batchnorm": BatchNorm(),
    "dropout": Dropout(),
    "activation": ActivationLayer(None),
    **{fn: ActivationLayer(fn) for fn in ACTIVATIONS},
    "add": Add(),
    "concat": Concat(),
    "multiply": Multiply(),
    **depthwise.KINDS, **transposed.KINDS, **affine.KINDS, **reshape.KINDS, **upsample.KINDS,
}

# what the IR calls each kind (activation layers share one node kind)
NODE_KIND = {name: ("activation" if isinstance(k, ActivationLayer) else name) for name, k in KINDS.items()}

# node kind -> its kind object (for activation nodes: `activation`, the generic one)
NODE_KINDS = {node_kind: KINDS[node_kind] for node_kind in dict.fromkeys(NODE_KIND.values())}

__all__ = [
    "ACTIVATIONS", "COMMON_OPTIONS", "FLAT_ORDERS", "KINDS", "MANY", "NODE_KIND", "NODE_KINDS",
    "ActivationLayer", "Add", "BatchNorm", "Concat", "Conv", "Dense", "Dropout", "Flatten",
    "GlobalPool", "Kind", "Merge", "Multiply", "Pool", "Resolved", "ZeroPad", "activation_advice",
]
