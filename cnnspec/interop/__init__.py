"""Bringing models from other frameworks into cnnspec: a Keras model -> a spec and portable weights.

- keras.py: the public API (from_keras, application_spec, spec_at, compare, randomise); the
  only module that imports Keras, lazily.
- keras_graph.py: a functional model's layers and operations as plain records.
- matching.py: a checked spec matched to those records by structure; compat.py: which Keras
  class is which spec kind, and what must agree between them.
- weights.py: the matched Keras tensors in the portable layout, keyed `<node>.<tensor>`.
- cli.py: `cnnspec keras` (docs/keras.md).

An ONNX graph -> a spec it writes (docs/import.md), `cnnspec import`:
- onnx_graph.py: the file as plain records (the only module importing `onnx`, lazily);
- onnx_layers.py: the walk, one Value per tensor; onnx_ops.py: one handler per operator;
- onnx_weights.py: ONNX tensors in the portable layouts, batch-norm folding;
- onnx_spec.py: names, the spec text, its checks; onnx_cli.py: the subcommand.
"""
