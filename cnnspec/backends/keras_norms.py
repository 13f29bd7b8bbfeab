"""The Keras emitters of layer norm, Normalization, Rescaling and layer scale: a mixin of the
Keras emitter, one `<kind>_layer` method per node kind (see backends/base.py).

Keras's own layers where they hold what the spec says: LayerNormalization(axis=-1),
Normalization(mean=, variance=) for fixed values, Rescaling. Spec numbers are written as NumPy
float64 values (np.array([...]), np.float64(...)): Keras converts Python floats through
float32 first, which would cost a float64 model ~1e-8. Two custom layers (CUSTOM_LAYERS,
registered for saving under package "cnnspec"): LayerScale (ConvNeXt's, weight gamma) and
WeightedNormalization, Keras's Normalization arithmetic with its weights mean, variance and
count as attributes of those names that load_portable can assign (keras.layers.Normalization
keeps them as adapt_mean/adapt_variance and derives its `mean` tensor once, in
finalize_state).
"""

from __future__ import annotations

from ..ir import Node
from .keras_parts import Step, fused

LAYER_SCALE = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class LayerScale(keras.layers.Layer):
    """ConvNeXt's layer scale (keras.applications.convnext.LayerScale): x * gamma over the
    last axis, gamma (C,) trainable, initialised to init_values."""

    def __init__(self, init_values=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],), trainable=True,
                                     initializer=keras.initializers.Constant(self.init_values))

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values}
'''

WEIGHTED_NORMALIZATION = '''

@keras.saving.register_keras_serializable(package="cnnspec")
class WeightedNormalization(keras.layers.Layer):
    """keras.layers.Normalization(axis=-1) at inference, from its weights: (x - mean) /
    max(sqrt(variance), epsilon), epsilon Keras's backend epsilon (1e-7). mean (C,),
    variance (C,) and count () are non-trainable (count, which Keras's adapt() keeps, is used
    by nothing here; it is held in the layer's dtype, so portable weights round-trip)."""

    def __init__(self, epsilon=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones",
                                        trainable=False)
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        std = keras.ops.maximum(keras.ops.sqrt(self.variance), self.epsilon)
        return (x - self.mean) / std

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
'''

CUSTOM_LAYERS: dict[str, str] = {"LayerScale": LAYER_SCALE,
                                 "WeightedNormalization": WEIGHTED_NORMALIZATION}


def numbers(value) -> str:
    """A spec number or per-channel tuple as NumPy float64 source (see the module doc)."""
    if isinstance(value, (int, float)):
        return f"np.float64({float(value)!r})"
    return f"np.array({[float(v) for v in value]!r})"


class NormKinds:
    """Layer norm, normalization, rescaling and layer scale (mixed into the keras emitter)."""

    def layernorm_layer(self, node: Node) -> list[Step]:
        a = node.attrs
        args = ["axis=-1", f"epsilon={a['eps']!r}"]
        args += [f"{flag}=False" for flag in ("center", "scale") if not a[flag]]
        core = Step("norm", "LayerNormalization", args, node.out_shape, node.params, bool(node.weights))
        return fused(node, core, allowed=())

    def normalize_layer(self, node: Node) -> list[Step]:
        a = node.attrs
        if a["mean"] is None:
            return [Step("norm", "WeightedNormalization", [f"epsilon={a['eps']!r}"],
                         node.out_shape, node.params, True)]
        args = ["axis=-1", f"mean={numbers(a['mean'])}", f"variance={numbers(a['variance'])}"]
        return [Step("norm", "Normalization", args, node.out_shape)]

    def rescale_layer(self, node: Node) -> list[Step]:
        a = node.attrs
        args = [numbers(a["scale"]), f"offset={numbers(a['offset'])}"]
        return [Step("rescale", "Rescaling", args, node.out_shape)]

    def layerscale_layer(self, node: Node) -> list[Step]:
        args = [f"init_values={node.attrs['init']!r}"]
        return [Step("scale", "LayerScale", args, node.out_shape, node.params, True)]
