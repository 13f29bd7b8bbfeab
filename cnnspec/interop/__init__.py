"""Bringing models from other frameworks into cnnspec: a Keras model -> a spec and portable weights."""
