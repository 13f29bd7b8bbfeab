"""Blocks, repeats, references and conditions -> a stream of layer entries, one at a time.

The checker drives the expansion: `Expander.run` is a generator that yields one Entry per
layer (hierarchical name, real inputs, arguments with parameters substituted), and the checker
resolves each entry before asking for the next, so that when the expansion reaches an `if`
or an `in.channels`, the shapes it needs are known (`shape_of`, a callback into the checker).

Every name comes from the text only: a use `b1: bottleneck 64` makes instance `b1` and nodes
`b1.conv1`...; `layer2: repeat 4 bottleneck 128` makes instance `layer2` (the repeat) and
instances `layer2.0` .. `layer2.3` whose nodes are `layer2.0.conv1`... An instance stands for
its output: its last existing line's output (its input when every line is dropped).

Work is bounded before it is done: a block that uses itself is E213 (found once, over the
definitions), and a use or repeat that would pass the depth or node limits is E004 at the use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice

from . import syntax as S
from .blocks import Definition
from .diagnostics import Diagnostics
from .expr import MISSING, Evaluator, ExprError, Unknowable, shape_attribute, to_value
from .ir import Instance
from .limits import MAX_DEPTH, MAX_FAN_IN, MAX_LAYERS
from .names import hierarchical
from .suggestions import Suggester

MAX_HINT_NAMES = 1_000  # names one "did you mean" of a reference compares (the latest ones)


@dataclass(frozen=True)
class Use:
    """The block instance an entry comes from, for diagnostics."""

    instance: str
    block: str
    line: int

    def context(self) -> str:
        return f"in {self.instance}, a use of {self.block} at line {self.line}"


@dataclass(frozen=True)
class Entry:
    layer: S.Layer  # parameters substituted; `from=` and a merge's input names taken out
    name: str  # hierarchical
    inputs: tuple[str, ...]  # the real inputs' node names, in order
    use: Use | None  # the innermost instance, None at top level
    group: str | None = None  # an imported base's alias
    failed: bool = False  # already reported (or poisoned): no node is made
    words: tuple[str, ...] = ()  # a merge's inputs as its line writes them ('bn3', 'in')


class ScopedDiagnostics:
    """The diagnostics of one instance: the hint says which use; one per line and problem."""

    def __init__(self, diags: Diagnostics, use: Use, seen: set):
        self.diags, self.use, self.seen = diags, use, seen

    def error(self, code, span, message, hint=None) -> None:
        self._add(self.diags.error, code, span, message, hint)

    def warning(self, code, span, message, hint=None) -> None:
        self._add(self.diags.warning, code, span, message, hint)

    def _add(self, emit, code, span, message, hint) -> None:
        key = (code, span, message)
        if key in self.seen:
            return
        self.seen.add(key)
        where = self.use.context()
        emit(code, span, message, f"{hint} ({where})" if hint else where)

    def __getattr__(self, name):
        return getattr(self.diags, name)


@dataclass
class Scope:
    """One instance being expanded (or the top level: prefix '', input 'input')."""

    prefix: str
    env: dict
    input: str
    names: list[str]  # of the body's lines
    order: dict[str, int]
    lines: tuple = ()  # the body's S.Layers
    use: Use | None = None
    depth: int = 0
    group: str | None = None
    local: dict[str, str | None] = field(default_factory=dict)  # done lines; None: dropped
    last: str = ""

    @property
    def top(self) -> bool:
        return self.use is None

    @property
    def instance(self) -> str | None:
        return self.use.instance if self.use else None


class Expander:
    def __init__(self, blocks: dict[str, Definition], diags: Diagnostics,
                 shape_of: Callable[[str], tuple | None], is_merge: Callable[[str], bool],
                 suggest: Suggester):
        self.blocks, self.diags, self.shape_of = blocks, diags, shape_of
        self.is_merge, self.suggest = is_merge, suggest
        self.instances: list[Instance] = []
        self.outputs: dict[str, str] = {}  # instance -> its output node
        self.emitted: set[str] = set()
        self.count = 0  # entries made and top-level lines to come (against MAX_LAYERS)
        self.seen: set = set()
        self.split: dict[int, tuple] = {}  # id of a line -> _stripped(line)
        self.children: dict[str, list[str]] = {}  # instance -> the names made directly in it
        self.top: Scope | None = None

    def run(self, lines: list[S.Layer], names: list[str], groups: list) -> Iterator[Entry]:
        self.top = Scope("", {}, "input", names, {n: i for i, n in enumerate(names)}, tuple(lines),
                         last="input")
        self.count = len(lines)  # every top-level line counts from the start: uses too, as 1
        for i, layer in enumerate(lines):
            self.top.group = groups[i]
            yield from self._line(i, layer, self.top)

    def output_of(self, full: str) -> str:
        return self.outputs.get(full, full)

    def report(self, scope: Scope, err: ExprError) -> None:
        sink = ScopedDiagnostics(self.diags, scope.use, self.seen) if scope.use else self.diags
        sink.error(err.code, err.span, err.message, err.hint)

    def sink(self, use: Use | None):
        return ScopedDiagnostics(self.diags, use, self.seen) if use else self.diags

    # --- one line of a body (or of the top level) ---

    def _line(self, i: int, layer: S.Layer, scope: Scope) -> Iterator[Entry]:
        name = scope.names[i]
        full = hierarchical(scope.prefix.rstrip("."), name)
        try:
            exists = self._condition(layer, scope, i)
            if not exists:
                scope.local[name] = None
                return
            yield from self._dispatch(i, layer, scope, full)
        except ExprError as err:
            self.report(scope, err)
            yield Entry(layer, full, (), scope.use, scope.group, failed=True)
        except Unknowable:
            yield Entry(layer, full, (), scope.use, scope.group, failed=True)
        self.emitted.add(full)
        if scope.use:
            self.children.setdefault(scope.instance, []).append(full)
        scope.local[name] = full
        scope.last = self.output_of(full)

    def _dispatch(self, i: int, layer: S.Layer, scope: Scope, full: str) -> Iterator[Entry]:
        for o in layer.overrides:
            _check_override(layer, o)
        if layer.kind == "repeat":
            yield from self._repeat(i, layer, scope, full)
        elif layer.kind in self.blocks:
            yield from self._use(i, layer, scope, full)
        else:
            yield self._layer(i, layer, scope, full)

    def _condition(self, layer: S.Layer, scope: Scope, i: int) -> bool:
        if layer.condition is None:
            return True
        value = self.evaluator(scope, i).value(layer.condition)
        if not isinstance(value, bool):
            raise ExprError("E222", layer.condition.span, "an 'if' condition must be true or false, "
                            f"not {value}", "compare it, e.g. 'if stride != 1'")
        return value

    def evaluator(self, scope: Scope, i: int) -> Evaluator:
        return Evaluator(lambda n: scope.env.get(n, MISSING), lambda ref: self._shape(ref, scope, i),
                         lambda: list(scope.env))

    def _shape(self, ref: S.Value, scope: Scope, i: int):
        path, _, attr = ref.value.rpartition(".")
        shape = self.shape_of(self.output_of(self._lookup(path, ref.span, scope, i)))
        if shape is None:
            raise Unknowable
        return shape_attribute(shape, attr, ref)

    # --- plain layers and merges ---

    def _layer(self, i: int, layer: S.Layer, scope: Scope, full: str) -> Entry:
        sources, stripped = self._stripped(layer)
        words: tuple[str, ...] = ()
        if self.is_merge(layer.kind):
            inputs = self._merge_inputs(i, layer, scope, sources)
            words = tuple(self.written(v, scope) for v in layer.args)
        else:
            inputs = (self._source(sources, scope, i),)
        self.count += 0 if scope.top else 1
        return Entry(self._substitute(stripped, scope, i), full, inputs, scope.use, scope.group,
                     words=words)

    def _stripped(self, layer: S.Layer):
        """(its from= options, the layer without them and without a merge's input names),
        made once per line of the text, however many instances it has."""
        key = id(layer)
        if key not in self.split:
            sources = tuple(o for o in layer.options if o.key == "from")
            options = tuple(o for o in layer.options if o.key != "from")
            args = () if self.is_merge(layer.kind) else layer.args
            same = not sources and args is layer.args
            self.split[key] = (sources, layer if same else replace(layer, args=args, options=options))
        return self.split[key]

    def _merge_inputs(self, i: int, layer: S.Layer, scope: Scope, sources) -> tuple[str, ...]:
        if sources:
            raise ExprError("E217", sources[0].span, f"{layer.kind} takes its inputs as names, "
                            "not from=", f"write '{layer.kind} a b' with every input named")
        if len(layer.args) < 2:
            raise ExprError("E217", layer.kind_span, f"{layer.kind} needs at least 2 inputs, "
                            f"not {len(layer.args)}", f"name them all: '{layer.kind} a b' "
                            "(use 'in' or 'input' for the input)")
        if len(layer.args) > MAX_FAN_IN:
            raise ExprError("E004", layer.args[MAX_FAN_IN].span, f"more than {MAX_FAN_IN:,} "
                            f"inputs to one {layer.kind}", f"a merge may have at most {MAX_FAN_IN:,}")
        return tuple(self._reference(v, scope, i) for v in layer.args)

    def _source(self, sources, scope: Scope, i: int) -> str:
        if len(sources) > 1:
            raise ExprError("E105", sources[1].span, "option 'from' is given twice", "keep one of them")
        return self._reference(sources[0].value, scope, i) if sources else scope.last

    def _substitute(self, layer: S.Layer, scope: Scope, i: int) -> S.Layer:
        """Parameters and expressions replaced by literals (the layer itself when none)."""
        ev = self.evaluator(scope, i)
        args = tuple(self._literal(v, scope, ev) for v in layer.args)
        options = tuple(self._option(o, scope, ev) for o in layer.options)
        act = self._activation(layer.activation, scope, ev)
        if _same(args, layer.args) and _same(options, layer.options) and act is layer.activation:
            return layer
        return S.Layer(layer.name, layer.name_span, layer.kind, layer.kind_span, args, options, act,
                       layer.span, layer.condition, layer.overrides)

    def _activation(self, act: S.Activation | None, scope: Scope, ev: Evaluator):
        if act is None or not (act.args or act.options or act.name in scope.env):
            return act
        named = scope.env.get(act.name, act.name)  # `-> act` with a parameter act
        return S.Activation(named if isinstance(named, str) else act.name,
                            tuple(self._literal(v, scope, ev) for v in act.args),
                            tuple(self._option(o, scope, ev) for o in act.options), act.span)

    def _option(self, o: S.Option, scope: Scope, ev: Evaluator) -> S.Option:
        value = self._literal(o.value, scope, ev)
        return o if value is o.value else S.Option(o.key, value, o.span)

    def _literal(self, v: S.Value, scope: Scope, ev: Evaluator) -> S.Value:
        if v.kind == "word":
            found = scope.env.get(v.value, MISSING)
            return v if found is MISSING else to_value(found, v.span)
        if v.kind in ("ref", "expr"):
            return to_value(ev.value(v), v.span)
        if v.kind == "tuple":
            items = tuple(self._literal(x, scope, ev) for x in v.value)
            return v if items == v.value else S.Value("tuple", items, v.span)
        if v.kind == "alt":
            raise ExprError("E217", v.span, f"'{v.describe()}' names an input: only merges and "
                            "from= take one", f"write from={v.describe()}")
        return v

    # --- references ---

    def _reference(self, v: S.Value, scope: Scope, i: int) -> str:
        if v.kind == "alt":
            return self._alternative(v, scope, i)
        if v.kind not in ("word", "ref"):
            raise ExprError("E217", v.span, f"'{v.describe()}' is not a layer name",
                            "inputs are named: a layer, a block instance, 'in' or 'input'")
        return self.output_of(self._lookup(v.value, v.span, scope, i))

    def _alternative(self, v: S.Value, scope: Scope, i: int) -> str:
        """`a?b`: the first of the names that exists in this instance."""
        return self.output_of(self._lookup(self._chosen(v, scope), v.span, scope, i))

    def _chosen(self, v: S.Value, scope: Scope) -> str:
        """The alternative of `a?b` that exists (the last one when none does: its error)."""
        for text in v.value[:-1]:
            if scope.local.get(text.partition(".")[0], "") is not None:  # not dropped
                return text
        return v.value[-1]

    def written(self, v: S.Value, scope: Scope) -> str:
        """How a merge's line writes one input: the name, or the chosen one of `a?b`."""
        return self._chosen(v, scope) if v.kind == "alt" else str(v.value)

    def _lookup(self, text: str, span, scope: Scope, i: int) -> str:
        """The hierarchical name that `text` means at line i of `scope` (E210-E212)."""
        head, _, rest = text.partition(".")
        full = self._head(head, span, scope, i)
        if not rest:
            return full
        path = f"{full}.{rest}"
        if path in self.emitted:
            return path
        for part in rest.split("."):  # the deepest instance that exists, for the hint
            if f"{full}.{part}" not in self.emitted:
                break
            full = f"{full}.{part}"
        inside = self.children.get(full, [])[:MAX_HINT_NAMES]
        hint = self.suggest(path, inside) or f"'{full}' has no part '{path[len(full) + 1:]}'"
        raise ExprError("E210", span, f"unknown reference '{text}'", hint)

    def _head(self, head: str, span, scope: Scope, i: int) -> str:
        if head == ("input" if scope.top else "in"):
            return scope.input
        if head in scope.local:
            if scope.local[head] is None:
                raise ExprError("E210", span, f"'{head}' does not exist in this instance "
                                "(its 'if' condition is false)", f"write '{head}?in' to fall back "
                                "to another layer when it is absent")
            return scope.local[head]
        if i < len(scope.names) and scope.names[i] == head:
            raise ExprError("E212", span, f"layer '{head}' reads itself",
                            "a layer reads an earlier layer: the one above by default, or from=NAME")
        if head in scope.order:
            line = self._line_of(scope, head)
            raise ExprError("E211", span, f"'{head}' is defined later{line}",
                            "a layer reads only earlier layers: move this line below it")
        raise ExprError("E210", span, f"unknown reference '{head}'", self._unknown_hint(head, scope))

    def _line_of(self, scope: Scope, head: str) -> str:
        span = scope.lines[scope.order[head]].span
        return f", at line {span.line}" if span.file == scope.lines[0].span.file else \
            f", at {span.file}:{span.line}"

    def _unknown_hint(self, head: str, scope: Scope) -> str:
        if scope.top and head == "in":
            return "'in' is a block's input; at top level the network's input is 'input'"
        if not scope.top and head == "input":
            return "inside a block its input is 'in'"
        done = (n for n in reversed(scope.local) if scope.local[n] is not None)
        room = min(MAX_HINT_NAMES, self.suggest.left - 1)  # the search's budget, spent or not
        known = [*islice(done, max(0, room)), "input" if scope.top else "in"]
        own_input = "'input'" if scope.top else "'in' (the block's input)"
        return self.suggest(head, known) or f"a reference names an earlier layer or {own_input}"

    # --- block uses and repeats ---

    def _use(self, i: int, layer: S.Layer, scope: Scope, full: str) -> Iterator[Entry]:
        d = self._usable(layer.kind, layer, scope, 1)
        sources = [o for o in layer.options if o.key == "from"]
        options = tuple(o for o in layer.options if o.key != "from")
        env = self._bind(d, layer, layer.args, options, (), scope, i)
        source = self._source(sources, scope, i)
        self.instances.append(Instance(full, d.name, layer.span, d.block.span, None, scope.instance,
                                       _bound(d, env)))
        yield from self._instance(d, env, source, full, layer.span.line, scope)

    def _repeat(self, i: int, layer: S.Layer, scope: Scope, full: str) -> Iterator[Entry]:
        count, name_v = self._repeat_head(layer, scope, i)
        d = self._usable(name_v.value, layer, scope, count)
        sources = [o for o in layer.options if o.key == "from"]
        options = tuple(o for o in layer.options if o.key != "from")
        envs = self._repeat_envs(d, layer, options, scope, i, count)
        prev = self._source(sources, scope, i)
        self.instances.append(Instance(full, d.name, layer.span, d.block.span, count, scope.instance))
        for k in range(count):
            sub = f"{full}.{k}"
            env = envs[(k == 0, k == count - 1)]
            self.instances.append(Instance(sub, d.name, layer.span, d.block.span, None, full,
                                           _bound(d, env)))
            self.children.setdefault(full, []).append(sub)
            yield from self._instance(d, env, prev, sub, layer.span.line, scope)
            prev = self.outputs[sub]
        self.outputs[full] = prev

    def _repeat_envs(self, d, layer: S.Layer, options, scope: Scope, i: int, count: int) -> dict:
        """(is first, is last) -> the instance's parameters: first(...) overrides the first
        instance's, last(...) the last's (both, in that order, for a repeat of one)."""
        first, last = (layer.override(w) for w in ("first", "last"))
        envs = {}
        for key in ((True, count == 1), (False, True), (False, False)):
            chosen = [o for o, wanted in ((first, key[0]), (last, key[1])) if o and wanted]
            overrides = tuple(opt for o in chosen for opt in o.options)
            envs[key] = self._bind(d, layer, layer.args[2:], options, overrides, scope, i)
        return envs

    def _repeat_head(self, layer: S.Layer, scope: Scope, i: int):
        if len(layer.args) < 2 or layer.args[1].kind != "word":
            raise ExprError("E223", layer.kind_span, "repeat needs a count and a block name",
                            "write e.g. 'layer1: repeat 3 bottleneck 64'")
        count_v, name_v = layer.args[0], layer.args[1]
        count = self.evaluator(scope, i).value(count_v)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            shown = count_v.describe() if count_v.kind == "int" else f"{count} ({count_v.describe()})"
            raise ExprError("E223", count_v.span, f"a repeat count must be a positive integer, "
                            f"not {shown}", "write e.g. 'repeat 3 bottleneck 64'")
        if count > MAX_LAYERS:
            raise ExprError("E004", count_v.span, f"repeat {count:,} is more than {MAX_LAYERS:,}",
                            f"a spec may have at most {MAX_LAYERS:,} layers after expansion")
        if name_v.value not in self.blocks:
            hint = self.suggest(name_v.value, list(self.blocks)) or _blocks_hint(self.blocks)
            raise ExprError("E223", name_v.span, f"unknown block '{name_v.value}'", hint)
        return count, name_v

    def _usable(self, name: str, layer: S.Layer, scope: Scope, count: int) -> Definition:
        """The definition, if one more level and `count` instances stay within the limits."""
        d = self.blocks[name]
        if d.cyclic:
            raise Unknowable  # E213 said why, at the definition
        if layer.activation is not None:
            raise ExprError("E216", layer.activation.span, f"a use of block {name} takes no "
                            "'-> activation'", "end the block with the activation, or add it "
                            "as a layer of its own on the next line")
        if scope.depth + 1 > MAX_DEPTH:
            raise ExprError("E004", layer.span, f"blocks nested more than {MAX_DEPTH} deep",
                            f"a block use may sit at most {MAX_DEPTH} levels inside others")
        if self.count + count * d.size > MAX_LAYERS:
            raise ExprError("E004", layer.span, f"this use would make more than {MAX_LAYERS:,} "
                            f"layers ({count:,} x {d.size:,} in {name})",
                            f"a spec may have at most {MAX_LAYERS:,} layers after expansion")
        return d

    def _instance(self, d: Definition, env: dict, source: str, full: str, line: int,
                  outer: Scope) -> Iterator[Entry]:
        use = Use(full, d.name, line)
        scope = Scope(full + ".", env, source, d.names, d.order, d.block.body, use,
                      outer.depth + 1, outer.group, last=source)
        for k, layer in enumerate(d.block.body):
            yield from self._line(k, layer, scope)
        self.outputs[full] = scope.last
        self.emitted.add(full)

    def _bind(self, d: Definition, layer: S.Layer, args, options, overrides, scope: Scope,
              i: int) -> dict:
        """The instance's parameters: positional, then keyword, then first(...) overrides."""
        ev = self.evaluator(scope, i)
        if len(args) > len(d.block.params):
            raise ExprError("E216", args[len(d.block.params)].span, f"block {d.name} takes "
                            f"{len(d.block.params)} argument(s), not {len(args)}", d.signature())
        env = {p.name: _python(self._literal(v, scope, ev)) for p, v in zip(d.block.params, args)}
        for o in options:
            self._keyword(d, o, env, twice_ok=False)
            env[o.key] = _python(self._literal(o.value, scope, ev))
        for o in overrides:
            self._keyword(d, o, env, twice_ok=True)
            env[o.key] = _python(self._literal(o.value, scope, ev))
        for p in d.block.params:
            if p.name not in env:
                if p.default is None:
                    raise ExprError("E216", layer.span, f"block {d.name} needs a value for "
                                    f"'{p.name}'", d.signature())
                env[p.name] = _python(p.default)
        return env

    def _keyword(self, d: Definition, o: S.Option, env: dict, twice_ok: bool) -> None:
        if o.key not in d.params:
            hint = self.suggest(o.key, list(d.params)) or d.signature()
            raise ExprError("E216", o.span, f"block {d.name} has no parameter '{o.key}'", hint)
        if o.key in env and not twice_ok:
            raise ExprError("E216", o.span, f"'{o.key}' is given twice (by position and by name, "
                            "or twice by name)", d.signature())

    # --- the `output` line ---

    def resolve_outputs(self, decl: S.OutputDecl) -> list[str]:
        """The output nodes an `output a, b` line names (E210 for unknown names, E218 twice)."""
        out: list[str] = []
        for text, span in decl.names:
            try:
                full = self.output_of(self._lookup(text, span, self.top, len(self.top.names)))
            except ExprError as err:
                self.report(self.top, err)
                continue
            if full in out:
                self.diags.error("E218", span, f"'{text}' is listed twice in 'output'",
                                 "list each output once")
            else:
                out.append(full)
        return out


def _same(new: tuple, old: tuple) -> bool:
    return all(a is b for a, b in zip(new, old))


def _python(v: S.Value):
    """A literal Value as a parameter's value (numbers, booleans and words as Python values)."""
    if v.kind in ("int", "float"):
        return v.value
    if v.kind == "word":
        return v.value == "true" if v.value in ("true", "false") else v.value
    return v


def _bound(d: Definition, env: dict) -> tuple[tuple[str, object], ...]:
    """An instance's parameters as Instance.args: the plain values (numbers, booleans, words)."""
    return tuple((p.name, env[p.name]) for p in d.block.params
                 if isinstance(env.get(p.name), (int, float, bool, str)))


def _blocks_hint(blocks: dict) -> str:
    return "blocks: " + ", ".join(sorted(blocks)) if blocks else "no block is defined: " \
        "write 'block NAME(params)' ... 'end' first"


def _check_override(layer: S.Layer, o: S.Override) -> None:
    """first(...) and last(...) belong to a repeat, once each; no other word( is one."""
    use = f"'{layer.name or 'NAME'}: repeat N {layer.kind if layer.kind != 'repeat' else 'BLOCK'} ..."
    if o.which not in ("first", "last"):
        raise ExprError("E223", o.span, f"'{o.which}(...)' is not part of a repeat",
                        "a repeat takes first(k=v, ...) for its first instance and last(k=v, ...) "
                        "for its last")
    if layer.kind != "repeat":
        raise ExprError("E223", o.span, f"{o.which}(...) belongs to a repeat",
                        f"write {use} {o.which}(...)'")
    if o is not layer.override(o.which):  # the second of two
        raise ExprError("E223", o.span, f"{o.which}(...) is given twice",
                        f"write one {o.which}(...) with every option in it")
