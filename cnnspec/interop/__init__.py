"""Bringing models from other frameworks into cnnspec: a Keras model -> a spec and portable weights.

- keras.py: the public API (from_keras, application_spec, spec_at, compare, randomise); the
  only module that imports Keras, lazily.
- keras_graph.py: a functional model's layers and operations as plain records.
- matching.py: a checked spec matched to those records by structure; compat.py: which Keras
  class is which spec kind, and what must agree between them.
- weights.py: the matched Keras tensors in the portable layout, keyed `<node>.<tensor>`.
- cli.py: `cnnspec keras` (docs/keras.md).
"""
