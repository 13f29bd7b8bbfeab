"""The model zoo: one spec per Keras application (and a few more), shipped as package data.

Read a spec with importlib.resources.files("cnnspec.zoo") / "resnet50.cnn".
"""
