"""Training stages: freeze rules and expectations, globally or per `stage NAME` section.

Rules before the first `stage` line apply to every stage; each stage then applies its own
rules on top (e.g. stage feature_extraction freezes the base; stage finetune unfreezes its
last block with a small learning-rate scale). Without stages there is one unnamed stage.
"""

from __future__ import annotations

from . import syntax as S
from .diagnostics import Diagnostics
from .expectations import check_expectations
from .freezing import Layout, apply_freeze_rules
from .limits import MAX_STAGES
from .suggestions import Suggester

_OVER = object()  # where the statements of stages past MAX_STAGES go: never applied


class StagePlan:
    def __init__(self, diags: Diagnostics):
        self.diags = diags
        self.names: list[str] = []
        self.current: str | None = None
        self.rules: dict[str | None, list[S.FreezeRule]] = {None: []}
        self.expects: dict[str | None, list[S.Expect]] = {None: []}
        self.suggest = Suggester()  # one budget for every unknown name of the spec

    @property
    def default(self) -> str | None:
        """The stage a network is built with unless another is asked for: the first."""
        return self.names[0] if self.names else None

    def add(self, stmt) -> None:
        if isinstance(stmt, S.StageDecl):
            self._open(stmt)
        elif isinstance(stmt, S.FreezeRule):
            self.rules[self.current].append(stmt)
        elif isinstance(stmt, S.Expect):
            self.expects[self.current].append(stmt)

    def _open(self, decl: S.StageDecl) -> None:
        if self.current is _OVER:
            return
        if decl.name in self.names:
            self.diags.error("E203", decl.span, f"stage '{decl.name}' is declared twice")
            return
        if len(self.names) == MAX_STAGES:
            self.diags.error("E004", decl.span, f"more than {MAX_STAGES} stages",
                             f"a spec may declare at most {MAX_STAGES} stages; this one and the "
                             "stages after it are not checked")
            self.current = _OVER
            self.rules[_OVER], self.expects[_OVER] = [], []
            return
        self.names.append(decl.name)
        self.current = decl.name
        self.rules[decl.name], self.expects[decl.name] = [], []

    def apply(self, nodes: list, groups: dict, failed: set, instances=(), outputs=()) -> dict:
        """{stage name (None when there are none): nodes with that stage's freeze flags}.

        `instances`: the network's block instances (ir.Instance, or their names), so that rules
        and expectations may name them (instances are also found from dotted node names);
        `outputs`: the output names (`expect output.shape` means the first; default the last node).
        """
        layout = Layout(nodes, groups, self.suggest, instances, failed)
        common = apply_freeze_rules(self.rules[None], nodes, layout, self.diags)
        staged = {None: common} if not self.names else {
            name: apply_freeze_rules(self.rules[name], common, layout, self.diags)
            for name in self.names}
        for name in dict.fromkeys([None, *self.names]):
            nodes_ = staged[self.default if name is None else name]
            check_expectations(self.expects[name], nodes_, failed, self.diags, self.suggest,
                               layout=layout, outputs=outputs)
        return {k: tuple(v) for k, v in staged.items()}
