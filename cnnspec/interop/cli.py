"""`cnnspec keras NAME|MODEL.keras`: a Keras model -> its spec and a portable weight file.

NAME is a keras.applications model, built with weights=None (at --input when given) and
given random weights from --seed (batch-norm statistics included), or the weights of
--keras-weights; MODEL.keras is a saved model. The spec is --spec or the zoo's, checked at the
model's input size. The portable weights (and with -o the spec) are written atomically; with
--compare the NumPy, PyTorch and Keras models that cnnspec builds run against the Keras model
layer by layer. Every problem is a one-line message and exit status 2; a comparison over the
tolerance exits 1.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

EXIT_OK, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2


class KerasUsageError(Exception):
    pass


def run_keras(args) -> int:
    """The subcommand (see the module docstring); raises KerasUsageError for a problem."""
    from ..runtime import quiet_tensorflow
    quiet_tensorflow()
    hwc = parse_hwc(args.input) if args.input else None
    spec = args.spec or zoo_spec(args.model)  # before Keras is imported: a quick refusal
    if not Path(spec).is_file():
        raise KerasUsageError(f"cannot read {spec}: no such file (or not a regular file)")
    model, name = load_model(args.model, hwc, args.keras_weights, args.seed)
    mapping = map_model(model, spec)
    write_outputs(args, mapping, spec)
    print_summary(name, model, mapping, spec, args)
    if not args.compare:
        return EXIT_OK
    return print_comparison(model, mapping, args.seed)


def parse_hwc(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", text.strip())
    if not m or 0 in (dims := tuple(int(d) for d in m.groups())):
        raise KerasUsageError(f"--input must be HxWxC with positive sizes, e.g. 32x32x3, not {text!r}")
    return dims


def is_file_argument(text: str) -> bool:
    return text.endswith((".keras", ".h5")) or os.sep in text or Path(text).is_file()


def load_model(what: str, hwc, weights_file: str | None, seed: int):
    """(model, display name) for a keras.applications name or a saved .keras file."""
    import keras
    if is_file_argument(what):
        if hwc is not None:
            raise KerasUsageError("--input applies to keras.applications names; a saved model "
                                  "has its own input")
        model = _keras_call(f"cannot load {what}", keras.saving.load_model, what, compile=False)
        name = model.name
    else:
        builder = application(what)
        keras.utils.set_random_seed(seed)
        kwargs = {"weights": None, **({"input_shape": hwc} if hwc else {})}
        model = _keras_call(f"keras.applications.{what} refused", builder, **kwargs)
        name = what
    if weights_file:
        _keras_call(f"cannot load the Keras weights {weights_file}", model.load_weights, weights_file)
    elif not is_file_argument(what):
        from .keras import randomise
        randomise(model, seed)
    return model, name


def application(name: str):
    import keras

    from ..args import did_you_mean
    known = sorted(n for n in dir(keras.applications) if n[:1].isupper()
                   and callable(getattr(keras.applications, n)))
    if name not in known:
        hint = did_you_mean(name, known) or "e.g. " + ", ".join(known[:6]) + ", ..."
        raise KerasUsageError(f"keras.applications has no model {name!r} ({hint}); a saved "
                              "model is a path ending in .keras")
    return getattr(keras.applications, name)


def _keras_call(what: str, fn, *args, **kwargs):
    """fn(...), with whatever Keras raises turned into a one-line usage error."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, OSError, TypeError, KeyError, RuntimeError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise KerasUsageError(f"{what}: {reason}") from None


def zoo_spec(what: str) -> Path:
    from .keras import application_spec
    if is_file_argument(what):
        raise KerasUsageError(f"give the spec of {what} with --spec FILE (the zoo has specs for "
                              "keras.applications names)")
    try:
        return application_spec(what)
    except FileNotFoundError as err:
        application(what)  # an unknown name says so first, with a suggestion
        raise KerasUsageError(f"{err.args[0]}; give one with --spec FILE") from None


def map_model(model, spec):
    from ..diagnostics import SpecError
    from .keras import from_keras
    from .keras_graph import KerasGraphError
    from .matching import MatchError
    try:
        return from_keras(model, spec)
    except (MatchError, KerasGraphError) as err:
        raise KerasUsageError(str(err)) from None
    except SpecError as err:
        from ..diagnostics import render_text
        print(render_text(err.source, err.diagnostics), file=sys.stderr)
        raise KerasUsageError(f"the spec {spec} has errors at the model's input") from None
    except OSError as err:
        raise KerasUsageError(f"cannot read {spec}: {err.strerror or err}") from None


def write_outputs(args, mapping, spec) -> None:
    """The weights (and the spec with -o), atomically; never over the spec read."""
    from safetensors.numpy import save

    from ..output import write_atomic
    protect = [spec, mapping.network.source.name]
    try:
        if args.output:
            write_atomic(args.output, mapping.network.source.text, protect=protect)
        write_atomic(args.weights_out, save(mapping.weights), protect=protect)
    except OSError as err:
        where = err.filename or args.weights_out
        raise KerasUsageError(f"cannot write {where}: {err.strerror or err}") from None


def print_summary(name: str, model, mapping, spec, args) -> None:
    network = mapping.network
    size = "x".join(str(d) for d in network.input_shape)
    ops = len(mapping.graph.ops)
    print(f"matched {name} ({ops:,} Keras layers) to {Path(str(spec)).name} "
          f"({len(network.nodes):,} nodes) at {size}")
    print(f"  {mapping.fused} Keras activations fused into the layer before them, "
          f"{len(mapping.skipped)} identity layers left out"
          + (f", {mapping.reshapes} reshapes kept by the spec's keepdims" if mapping.reshapes else ""))
    if args.output:
        print(f"wrote {args.output}")
    elif not _same_text(spec, network.source.text):
        print(f"note: the spec was checked at {size}; give -o SPEC.cnn to keep that version "
              "(the weights fit it)", file=sys.stderr)
    params = sum(int(v.size) for v in mapping.weights.values())
    print(f"wrote {args.weights_out} ({len(mapping.weights):,} tensors, {params:,} params)")


def _same_text(spec, text: str) -> bool:
    try:
        return Path(spec).read_text() == text
    except OSError:
        return False


def print_comparison(model, mapping, seed: int) -> int:
    """Every backend against Keras at every matched layer; exit 1 when one is off."""
    import numpy as np

    from ..runtime import missing_backend
    from .keras import TOLERANCE, compare, keras_outputs
    targets = [t for t in ("numpy", "torch", "keras") if missing_backend(t) is None]
    x = np.random.default_rng(seed).standard_normal((2, *mapping.network.input_shape))
    x = x.astype(np.float32)
    reference = keras_outputs(model, mapping, x)
    result = compare(model, mapping, x, targets, reference)
    print(f"compared with Keras at {len(reference):,} layers on 2 random inputs (seed {seed}); "
          "worst max|a-b| / max(1, max|a|):")
    for target, c in result.items():
        keras_name = mapping.table[c.worst]
        flag = "" if c.ok else "  OVER THE TOLERANCE" if c.argmax_equal else "  ARGMAX DIFFERS"
        print(f"  {target:<6} {c.layers[c.worst]:.1e}  {c.worst} ({keras_name}){flag}")
    if all(c.ok for c in result.values()):
        print(f"{', '.join(result)}: every layer within {TOLERANCE:g} of Keras, same argmax")
        return EXIT_OK
    print(f"differs from Keras by more than {TOLERANCE:g}", file=sys.stderr)
    return EXIT_DIFFERS


def add_arguments(p) -> None:
    """The subcommand's arguments (registered by cnnspec.cli)."""
    p.add_argument("model", metavar="NAME|MODEL.keras",
                   help="a keras.applications model (ResNet50, MobileNetV2, ...) or a saved .keras file")
    p.add_argument("--spec", metavar="FILE", help="the spec it is (default: the zoo's spec of NAME)")
    p.add_argument("--keras-weights", metavar="FILE", help="Keras weights to load into the model "
                   "(default for NAME: random weights from --seed, batch-norm statistics included)")
    p.add_argument("-o", "--output", metavar="SPEC.cnn", help="write the spec as checked "
                   "(at the model's input size)")
    p.add_argument("--weights-out", metavar="W.safetensors", required=True,
                   help="the portable weight file to write, keyed by the spec's names")
    p.add_argument("--input", metavar="HxWxC", help="the input size to build NAME at "
                   "(e.g. 32x32x3; default: Keras's)")
    p.add_argument("--compare", action="store_true", help="run cnnspec's NumPy, PyTorch and Keras "
                   "models against the Keras model at every matched layer (exit 1 if one is off)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random weights and inputs")
