"""What `cnnspec verify` prints when one backend is wrong (docs/backends.md): Keras's output of
layer f5 is moved by 1e-6, the perturbation tests/test_verify.py catches."""

from cnnspec import runtime
from cnnspec.cli import main

real_run_layers = runtime.run_layers


def off_by_a_millionth(model, target, network, x):
    outputs = real_run_layers(model, target, network, x)
    if target == "keras":
        outputs["f5"] = outputs["f5"] + 1e-6
    return outputs


runtime.run_layers = off_by_a_millionth
try:
    main(["verify", "specs/lenet5.cnn"])
finally:
    runtime.run_layers = real_run_layers
