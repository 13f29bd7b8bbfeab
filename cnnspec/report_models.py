"""pydantic models of the JSON reports: `check`, `summary`, `diff` and `verify --format json`.

These models are documentation and a contract, not the code that writes the reports: the
commands build plain dicts (cnnspec/ir.py, instances.py, receptive.py, spec_diff.py,
verify.py) and never import pydantic. scripts/gen_schemas.py turns the models into the JSON
Schemas shipped in cnnspec/schemas/ (printed by `cnnspec schema`), and tests validate every
report the commands print against them.

Every object forbids keys it does not declare (`additionalProperties: false`): the schema of
a cnnspec version describes exactly what that version prints, so a key added to a report
without its model fails the tests. A later version may add keys (design.md section 5): a
tool that reads reports of several versions should ignore unknown keys rather than validate
them against an older schema. Keys that are absent in some reports (rather than null) are
not `required`; nullable values are `null` in the schema, never a missing key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import GenerateJsonSchema
from typing_extensions import TypeAliasType

from .spec_diff import INSTANCE_FIELDS

Count = Annotated[int, Field(ge=0)]
Line = Annotated[int, Field(ge=1, description="1-based line number in the spec file")]
Shape = Annotated[list[int], Field(description="a tensor shape without the batch axis: "
                                   "[height, width, channels] for images, [features] after a "
                                   "flatten or dense layer")]
ConfigValue = TypeAliasType(
    "ConfigValue", Union[None, bool, int, float, str, list["ConfigValue"]],  # noqa: UP007
)
Pair = Annotated[list[Any], Field(min_length=2, max_length=2,
                                  description="[old value, new value]; null where that side "
                                  "has no such field")]


def _names_schema(schema: dict) -> None:
    """A dict with constrained keys as `propertyNames` (pydantic writes `patternProperties`,
    which would let other keys through unchecked)."""
    ((pattern, value),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {"pattern": pattern}
    schema["additionalProperties"] = value


def changed_fields(*names: str, options: bool = False, description: str):
    """{field: [old, new]} whose fields are `names` (and `options.<name>` when `options`)."""
    pattern = "^(" + "|".join(names) + (r"|options\..+" if options else "") + ")$"
    key = Annotated[str, Field(pattern=pattern)]
    return Annotated[dict[key, Pair], Field(description=description,
                                            json_schema_extra=_names_schema)]


LayerChanges = changed_fields(
    "kind", "inputs", "output_shape", "params", "trainable_params", "macs", "frozen", "lr_scale",
    "group", options=True, description="field -> [old, new]: kind, inputs, output_shape, params, "
    "trainable_params, macs, frozen, lr_scale, group, and options.NAME for each of its options")
InstanceChanges = changed_fields(
    *INSTANCE_FIELDS,
    description="field -> [old, new] among block, output_shape, params, trainable_params, macs")
NetworkChanges = changed_fields(
    "name", "description", "outputs", "stages",
    description="field -> [old, new] among name, description, outputs (their names) and stages "
    "(their names)")
Triple = Annotated[list[int], Field(min_length=3, max_length=3,
                                    description="[old, new, new - old]")]


class Strict(BaseModel):
    """A JSON object with exactly the declared keys, values of exactly the declared types (no
    conversion: "1" is not an int, true is not a 1), as the schema says."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- check and summary -------------------------------------------------------------------

class Diagnostic(Strict):
    """One problem found in a spec (design.md section 5)."""

    code: str = Field(pattern="^[EW][0-9]{3}$", description="the diagnostic code, e.g. E101 (errors) or W201 "
                      "(warnings); docs/cli.md lists them")
    severity: Literal["error", "warning"]
    file: str = Field(description="the file the problem is in: the checked spec, or the "
                      "imported spec's own path for a problem found there")
    message: str
    line: Line
    col: int = Field(ge=1, description="1-based column where the problem starts")
    end_line: Line
    end_col: int = Field(ge=1, description="the column just after the problem's last character")
    hint: str = Field(  # the default (unvalidated) stands for the absent key, never a null
        None, description="a suggested fix; the key is absent when there is none",
        json_schema_extra=lambda schema: schema.pop("default"))


class Layer(Strict):
    """One layer (every node but the input), in topological order."""

    name: str = Field(description="the layer's name; automatic names for unnamed layers, "
                      "hierarchical (layer2.0.conv1) inside block instances")
    kind: str = Field(description="the layer kind, e.g. conv, dense, add (docs/language.md)")
    line: Line
    inputs: list[str] = Field(description="the names of the nodes it reads, in order "
                              "(`input` is the network's input)")
    input_shape: Shape = Field(description="the shape of its first input")
    output_shape: Shape
    params: Count = Field(description="every weight element, trainable or not")
    trainable_params: Count = Field(description="0 for a frozen layer")
    non_trainable_params: Count = Field(description="frozen weights and batch-norm moving "
                                        "statistics")
    macs: Count = Field(description="multiply-accumulates per sample")
    frozen: bool = Field(description="frozen by the stage's freeze rules")
    lr_scale: float = Field(description="the learning-rate scale of an unfrozen layer (1.0 "
                            "unless an `unfreeze ... lr=` rule sets it)")
    group: str | None = Field(description="the alias of the imported spec the layer comes "
                              "from, or null")
    source: str = Field(description="the spec file the layer is written in (an imported "
                        "spec's path for a layer that comes from it)")
    weights: dict[str, list[int]] = Field(description="tensor name -> its shape in the "
                                          "portable layout (docs/semantics.md)")
    config: dict[str, ConfigValue] = Field(description="the layer's resolved options (kernel, "
                                           "stride, padding per side, ...), kind-specific")


class Output(Strict):
    """One output of the network."""

    name: str
    shape: Shape


class Instance(Strict):
    """One use of a block, or a `repeat` of one (the container of its instances)."""

    name: str = Field(description="hierarchical: layer2 (a repeat), layer2.0 (its first "
                      "instance)")
    block: str = Field(description="the block definition's name")
    line: Line = Field(description="the line that uses the block")
    source: str = Field(description="the file of that line")
    definition_line: Line = Field(description="the line of the `block` definition")
    repeat: int | None = Field(description="N for `repeat N`; null for a single use")
    parent: str | None = Field(description="the enclosing instance, or null")
    inputs: list[str] = Field(description="the nodes outside the instance that it reads")
    output: str | None = Field(description="its last node, or null when it has none")
    output_shape: Shape | None
    nodes: Count = Field(description="how many layers it holds")
    params: Count
    trainable_params: Count
    non_trainable_params: Count
    macs: Count
    frozen: bool = Field(description="every weighted layer inside is frozen")
    lr_scale: float | None = Field(description="the learning-rate scale of its unfrozen "
                                   "layers; null when they differ")


class StageCounts(Strict):
    """What one training stage's freeze rules leave trainable."""

    trainable_params: Count
    non_trainable_params: Count
    frozen: list[str] = Field(description="the frozen layers that have weights")
    lr_scales: dict[str, float] = Field(description="layer -> learning-rate scale, for the "
                                        "unfrozen layers whose scale is not 1.0")


class CheckedReport(Strict):
    """The report of a spec that could be checked (it may still have errors: the layers that
    failed are left out, and `ok` is false)."""

    file: str = Field(description="the spec file as given (`<stdin>` for standard input)")
    network: str = Field(description="the network's name")
    description: str = Field(description="the network's description string (may be empty)")
    input_shape: Shape
    input_line: Line = Field(description="the line of the `input` statement")
    output_shape: Shape = Field(description="the first output's shape")
    outputs: list[Output] = Field(description="every output, in the order the spec lists "
                                  "them (the last layer when it lists none)")
    layers: list[Layer]
    instances: list[Instance] = Field(description="block uses, outermost first, in spec order")
    total_params: Count
    trainable_params: Count
    non_trainable_params: Count
    macs: Count = Field(description="multiply-accumulates per sample")
    stage: str | None = Field(description="the stage whose freeze rules the layers show; null "
                              "for a spec without stages")
    stages: dict[str, StageCounts] = Field(description="every stage's counts (the key `null` "
                                           "for a spec's only, unnamed stage)")
    diagnostics: list[Diagnostic] = Field(description="every warning and error, empty when "
                                          "the file is clean")
    ok: bool = Field(description="no diagnostic is an error")


class FailedReport(Strict):
    """The report of a spec that could not be built at all (a syntax error, no input)."""

    file: str
    network: None
    input_shape: None
    layers: list[Layer] = Field(max_length=0)
    total_params: None
    trainable_params: None
    non_trainable_params: None
    macs: None
    outputs: list[Output] = Field(max_length=0)
    instances: list[Instance] = Field(max_length=0)
    diagnostics: list[Diagnostic] = Field(min_length=1)
    ok: Literal[False]


class CheckReport(RootModel[CheckedReport | FailedReport]):
    """`cnnspec check --format json`: one such object per file, one per line."""


class MemoryLayer(Layer):
    """A layer in `summary --format json`: with its receptive field and activation memory."""

    receptive_field: list[int] | None = Field(description="[height, width] in input pixels, "
                                              "rounded up; null when it cannot be computed")
    jump: list[float] | None = Field(description="[height, width]: input pixels between "
                                     "neighbouring outputs (the effective stride; fractional "
                                     "after upsampling)")
    rf_start: list[float] | None = Field(description="[height, width]: the input pixel output "
                                         "pixel 0 starts to see (negative: in the padding)")
    activation_elements: Count = Field(description="elements of its output, per sample")
    activation_bytes: Count = Field(description="bytes of its output for `batch` samples "
                                    "of `dtype`")


class MemoryTotals(Strict):
    batch: int = Field(ge=1, description="samples counted in the activation memory (--batch)")
    dtype: Literal["float16", "float32", "float64"] = Field(description="the activations' "
                                                            "type (--dtype)")
    activation_memory_bytes: Count = Field(description="every node's output, the input's "
                                           "included, summed")
    peak_activation_bytes: Count = Field(description="the most bytes alive at once when the "
                                         "nodes run in order")


class SummarizedReport(MemoryTotals, CheckedReport):
    layers: list[MemoryLayer]


class SummaryReport(RootModel[SummarizedReport | FailedReport]):
    """`cnnspec summary --format json` (and `cnnspec.summary(path).to_dict()`): the check
    report with receptive fields and activation memory (they are always present, whatever
    --receptive says; --stage picks the freeze rules, --depth changes only the table)."""


# --- diff ---------------------------------------------------------------------------------

class DiffLayer(Strict):
    """A layer only one of the two specs has."""

    name: str
    kind: str
    line: Line = Field(description="its line in the spec that has it")
    output_shape: Shape
    params: Count
    trainable_params: Count
    macs: Count


class ChangedLayer(Strict):
    """A layer both specs have, with what differs."""

    name: str
    line: Line = Field(description="its line in the new spec")
    changes: LayerChanges
    params_delta: int
    macs_delta: int


class ChangedInstance(Strict):
    """A block instance whose totals or output changed, or that only one spec has."""

    name: str
    status: Literal["added", "removed", "changed"]
    changes: InstanceChanges
    params_delta: int
    macs_delta: int


class DiffTotals(Strict):
    layers: Triple
    params: Triple
    trainable_params: Triple
    non_trainable_params: Triple
    macs: Triple


class DiffReport(Strict):
    """`cnnspec diff OLD NEW --format json`. Layers are matched by name; a moved line is no
    change. Empty lists and objects mean no change of that sort (exit code 0)."""

    old: str = Field(description="the old spec file")
    new: str = Field(description="the new spec file")
    network: NetworkChanges
    added: list[DiffLayer] = Field(description="in the new spec's order")
    removed: list[DiffLayer] = Field(description="in the old spec's order")
    changed: list[ChangedLayer] = Field(description="in the new spec's order")
    instances: list[ChangedInstance]
    totals: DiffTotals = Field(description="the network's counts, always present")
    stages: dict[str, Annotated[list[int | None], Field(min_length=3, max_length=3)]] = Field(
        description="stage -> [old trainable params, new, new - old] for the stages whose "
        "trainable count changed (null: the spec has no such stage)")


# --- verify -------------------------------------------------------------------------------

class LayerComparison(Strict):
    """One layer compared between two backends."""

    layer: str
    pair: Annotated[list[str], Field(min_length=2, max_length=2,
                                     description="the two backends, e.g. [numpy, torch]")]
    max_abs_diff: float = Field(description="max|a - b| over the batch (Infinity when the "
                                "shapes differ, NaN when a value is NaN)")
    tolerance: float = Field(description="rtol x max(1, max|a|): rtol 1e-10 in float64, 1e-5 "
                             "in float32")
    ok: bool = Field(description="max_abs_diff <= tolerance")


class VerifyReport(Strict):
    """`cnnspec verify FILE --format json`."""

    file: str
    network: str
    dtype: Literal["float32", "float64"]
    ok: bool = Field(description="every layer within tolerance, the same argmax, and no "
                     "backend missing")
    missing: dict[str, str] = Field(description="backend -> why it could not run (e.g. its "
                                    "framework is not installed)")
    layers: list[LayerComparison] = Field(description="per layer, per pair of backends, in "
                                          "layer order")
    argmax_equal: dict[str, bool] = Field(description="'a/b' -> whether the two backends "
                                          "predict the same class for every sample")


REPORTS = {"check": CheckReport, "summary": SummaryReport, "diff": DiffReport,
           "verify": VerifyReport}

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Generator(GenerateJsonSchema):
    """pydantic's generator without a title per field ("Max Abs Diff" for max_abs_diff): the
    key says it. Objects keep their model's name as the title."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def json_schema(name: str) -> dict:
    """The JSON Schema of one report, as shipped in cnnspec/schemas/NAME.schema.json."""
    schema = REPORTS[name].model_json_schema(schema_generator=_Generator)
    return {"$schema": SCHEMA_DIALECT, **schema}


def parse(name: str, data):
    """A report (a dict, or JSON text) as its model; raises pydantic.ValidationError."""
    model = REPORTS[name]
    return model.model_validate_json(data) if isinstance(data, (str, bytes)) else (
        model.model_validate(data))
