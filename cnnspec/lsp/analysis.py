"""One document's analysis: its syntax, its checked network and the summary numbers.

The same parse and check as `cnnspec check` (api.analyse), kept apart so that hover and go to
definition can also use the syntax when the checker could not build the network."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from .. import syntax as S
from ..checker import check
from ..diagnostics import Diagnostic
from ..ir import Network
from ..parser import parse
from ..source import SourceFile


@dataclass
class Analysis:
    source: SourceFile
    spec: S.Spec | None
    network: Network | None
    diagnostics: list[Diagnostic]
    _data: dict | None = field(default=None, repr=False)

    @property
    def data(self) -> dict | None:
        """The summary's JSON object with receptive fields (as `cnnspec summary --format json`)."""
        if self._data is None and self.network is not None:
            from ..summary_api import annotate
            self._data = annotate(self.network.summary(), 1, "float32", self.network)
        return self._data

    def layer_data(self, name: str) -> dict | None:
        return next((d for d in (self.data or {}).get("layers", ()) if d["name"] == name), None)

    def instance_data(self, name: str) -> dict | None:
        return next((d for d in (self.data or {}).get("instances", ()) if d["name"] == name), None)


def path_of(uri: str) -> str:
    """The file a document URI names; an untitled document stands in the current folder."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return os.path.join(os.getcwd(), os.path.basename(unquote(parsed.path)) or "untitled.cnn")


def analyse_text(text: str, path: str) -> Analysis:
    """Parse and check the text as the file at `path` (imports resolve beside it)."""
    source = SourceFile.from_text(text, path)
    spec, diags = parse(source)
    network = check(source, spec, diags) if spec is not None else None
    return Analysis(source, spec, network, diags.sorted())
