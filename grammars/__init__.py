"""The cnnspec grammar, shipped inside the wheel as package data (cnnspec.grammars)."""
