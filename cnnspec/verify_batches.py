"""How much memory `verify` needs, and the chunks it runs a batch in (pure shape arithmetic).

verify keeps every layer's output of every backend for the samples it compares, so its memory
grows with the batch. It therefore runs the batch in chunks whose estimated size is at most
CHUNK_BYTES (one sample a chunk when a sample needs more) and accumulates the per-layer maxima
across chunks (the verdict is the same as for the whole batch at once). A batch over MAX_BATCH
samples is refused, and so is a network whose single sample is estimated to need more than
SAMPLE_LIMIT.

The estimate per sample and backend: the input, every layer's output twice (the framework's
tensor and its NumPy copy), and the largest transient buffer of one layer (a convolution's
padded input plus its im2col matrix of out_h*out_w rows by kh*kw*c_in columns, as the NumPy
backend builds it; a pooling layer's padded input), times the dtype's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .ir import Network, Node

CHUNK_BYTES = 1 << 30  # 1 GiB: the estimated memory of one chunk, all backends together
SAMPLE_LIMIT = 4 << 30  # 4 GiB: one sample needing more is refused (VGG-16, float64: 1.4 GiB)
MAX_BATCH = 100_000  # samples: more is refused, whatever the chunking
# bytes per value; a half-precision verify also runs NumPy's float32 reference: count 4 bytes
ITEMSIZE = {"float32": 4, "float64": 8, "float16": 4, "bfloat16": 4}


class BatchError(ValueError):
    """A batch verify refuses to run (too many samples, or one sample too large)."""


def transient_elements(node: Node) -> int:
    """Elements of the scratch buffers one layer allocates per sample beyond its output."""
    if node.kind == "conv":
        kernel = next(w.shape for w in node.weights if w.name == "kernel")
        return math.prod(node.in_shape) + math.prod(node.out_shape[:2]) * kernel[0] * kernel[1] \
            * node.in_shape[-1]
    if node.kind in ("maxpool", "avgpool", "zeropad"):
        return math.prod(node.in_shape)
    return 0


def sample_bytes(network: Network, dtype: str, backends: int) -> int:
    """Estimated bytes one sample needs in verify, across `backends` backends."""
    outputs = sum(math.prod(n.out_shape) for n in network.layers)
    transient = max((transient_elements(n) for n in network.layers), default=0)
    per_backend = math.prod(network.input_shape) + 2 * outputs + transient
    return per_backend * ITEMSIZE[dtype] * max(1, backends)


@dataclass(frozen=True)
class ChunkPlan:
    batch: int
    chunk: int  # samples per chunk (the last one may be smaller)
    sample_bytes: int

    def sizes(self) -> list[int]:
        full, rest = divmod(self.batch, self.chunk)
        return [self.chunk] * full + ([rest] if rest else [])


def plan_chunks(network: Network, batch: int, dtype: str, backends: int,
                budget: int = CHUNK_BYTES) -> ChunkPlan:
    """The chunks for a batch, or a BatchError that states the estimate and the limit."""
    per_sample = sample_bytes(network, dtype, backends)
    if per_sample > SAMPLE_LIMIT:
        raise BatchError(f"one sample of {network.name} needs about {human_bytes(per_sample)} in "
                         f"verify ({backends} backend(s), {dtype}), more than the "
                         f"{human_bytes(SAMPLE_LIMIT)} limit; compare fewer backends or use float32")
    chunk = max(1, min(batch, budget // per_sample))
    if batch > MAX_BATCH:
        raise BatchError(f"a batch of {batch:,} samples is more than verify runs (at most "
                         f"{MAX_BATCH:,}); at once it would need about "
                         f"{human_bytes(batch * per_sample)}, and verify would compare it in "
                         f"chunks of {chunk:,} samples (about {human_bytes(chunk * per_sample)} each)")
    return ChunkPlan(batch, chunk, per_sample)


def human_bytes(n: int) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    power = min(len(units) - 1, max(0, (n.bit_length() - 1) // 10))
    return f"{n:,} bytes" if power == 0 else f"{n / 1024 ** power:.1f} {units[power]}"
