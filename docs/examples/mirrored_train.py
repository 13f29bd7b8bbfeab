"""One SGD step of the generated Keras LeNet-5 under tf.distribute.MirroredStrategy
(docs/deployment.md): `python docs/examples/mirrored_train.py [REPLICAS [OUT.safetensors]]`
(default: 1 replica, mirrored.safetensors).

With REPLICAS 2 the one CPU is split into two logical devices (before anything else touches
TensorFlow), the model is built inside the strategy's scope, and model.fit splits each global
batch between the replicas and sums their gradients; with REPLICAS 1 it is the default
single-device strategy. Both write the trained weights as a portable weight file, equal.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

SPEC = Path(__file__).resolve().parents[2] / "specs" / "lenet5.cnn"
GLOBAL_BATCH, LR = 8, 0.5


def strategy_for(replicas: int) -> tf.distribute.Strategy:
    if replicas == 1:
        return tf.distribute.get_strategy()  # the default strategy: one device
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])


def main(replicas: int, out: str) -> None:
    train(strategy_for(replicas), out)  # first: logical devices exist only before TF starts


def train(strategy: tf.distribute.Strategy, out: str) -> None:
    import keras

    import cnnspec
    from cnnspec import weights as W
    net = cnnspec.load(SPEC)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((GLOBAL_BATCH, *net.input_shape))
    y = rng.integers(0, net.output.out_shape[-1], GLOBAL_BATCH)
    with strategy.scope():  # the variables are mirrored on every replica
        model = cnnspec.build(net, "keras", seed=0, dtype="float64")
        model.compile(optimizer=keras.optimizers.SGD(LR),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
    W.save_file(model.cnnspec_module.to_portable(model), out)
    print(f"{strategy.num_replicas_in_sync} replica(s), global batch {GLOBAL_BATCH}: wrote {out}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1,
         sys.argv[2] if len(sys.argv) > 2 else "mirrored.safetensors")
