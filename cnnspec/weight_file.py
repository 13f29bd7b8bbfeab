"""Reading safetensors weight files without trusting them (no pickle, no safetensors import).

The format: an 8-byte little-endian header length N, N bytes of JSON
{key: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the tensor
data; offsets count from the end of the header. The header is read and checked against the
file's size first (capped at HEADER_LIMIT bytes); a tensor's data is read only when asked for
(`StoredTensor.read`), so a file's unused tensors cost nothing, and a header that declares more
data than the file holds is refused before anything is allocated for it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADER_LIMIT = 16 * 1024 * 1024  # bytes of JSON: room for ~100,000 tensors

# safetensors dtype code -> (name, bytes per element, NumPy dtype or None when NumPy lacks it)
DTYPE_CODES = {
    "F64": ("float64", 8, "<f8"), "F32": ("float32", 4, "<f4"), "F16": ("float16", 2, "<f2"),
    "BF16": ("bfloat16", 2, None), "F8_E4M3": ("float8_e4m3", 1, None),
    "F8_E5M2": ("float8_e5m2", 1, None),
    "I64": ("int64", 8, "<i8"), "I32": ("int32", 4, "<i4"), "I16": ("int16", 2, "<i2"),
    "I8": ("int8", 1, "i1"), "U64": ("uint64", 8, "<u8"), "U32": ("uint32", 4, "<u4"),
    "U16": ("uint16", 2, "<u2"), "U8": ("uint8", 1, "u1"), "BOOL": ("bool", 1, "?"),
}


class WeightError(Exception):
    """Weights that do not fit the network, or a weight file that cannot be read.

    `problems` lists every problem found, one sentence each; str() puts one per line."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UnreadableWeightFile(WeightError):
    """The path is missing, unreadable, or not a regular file (the CLI exits 2 for these)."""


@dataclass(frozen=True)
class StoredTensor:
    """One tensor as its file's header declares it; `read()` fetches the data."""

    path: str
    key: str
    code: str
    shape: tuple[int, ...]
    start: int  # absolute offset of the first byte in the file
    nbytes: int

    @property
    def dtype(self) -> str:
        return DTYPE_CODES[self.code][0]

    def read(self) -> np.ndarray:
        numpy_dtype = DTYPE_CODES[self.code][2]
        if numpy_dtype is None:
            raise WeightError(f"cannot read weight file {self.path}: tensor '{self.key}' has dtype "
                              f"{self.dtype}, which NumPy cannot hold; save float32 or float64 tensors")
        array = np.empty(self.shape, np.dtype(numpy_dtype))
        with open_regular(self.path) as f:
            f.seek(self.start)
            got = _read_into(f, memoryview(array.reshape(-1).view(np.uint8)))
        if got != self.nbytes:
            raise WeightError(f"cannot read weight file {self.path}: tensor '{self.key}' ends "
                              f"after {got} of its {self.nbytes} bytes (did the file change?)")
        return array


def _read_into(f, buffer: memoryview) -> int:
    done = 0
    while done < len(buffer):
        n = f.readinto(buffer[done:])
        if not n:
            break
        done += n
    return done


def open_regular(path: str | Path):
    """source.open_regular (regular files only, never blocking), with weight-file errors."""
    from .source import open_regular as open_file
    try:
        return open_file(path)
    except OSError as err:
        raise UnreadableWeightFile(f"cannot read weight file {path}: {err.strerror or err}") from None


def read_header(path: str | Path) -> dict[str, StoredTensor]:
    """Every tensor the file declares, checked against the file's size; no tensor data is read."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        length = int.from_bytes(f.read(8), "little") if size >= 8 else None
        problem = _header_length_problem(length, size)
        if problem:
            raise WeightError(f"cannot read weight file {path}: {problem}")
        raw = f.read(length)
    entries = _parse_json(raw, path)
    data_start, data_len = 8 + length, size - 8 - length
    tensors, problems = {}, []
    for key, entry in entries.items():
        if key == "__metadata__":
            continue
        tensor, problem = _stored_tensor(str(path), key, entry, data_start, data_len)
        if problem:
            problems.append(f"cannot read weight file {path}: tensor '{key}' {problem}")
        else:
            tensors[key] = tensor
    if problems:
        raise WeightError(problems)
    return tensors


def _header_length_problem(length: int | None, size: int) -> str | None:
    if length is None:
        return f"not a safetensors file ({size} bytes, shorter than the 8-byte header length)"
    if length > HEADER_LIMIT:
        return (f"not a safetensors file, or one with a header of {length:,} bytes, more than "
                f"the {HEADER_LIMIT:,}-byte limit")
    if 8 + length > size:
        return f"the header declares {length:,} bytes, but the file has only {size - 8:,} after the length"
    return None


def _parse_json(raw: bytes, path) -> dict:
    try:
        entries = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as err:
        raise WeightError(f"cannot read weight file {path}: the header is not valid JSON ({err})") from None
    if not isinstance(entries, dict):
        raise WeightError(f"cannot read weight file {path}: the header is not a JSON object")
    return entries


def _no_duplicate_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _stored_tensor(path: str, key: str, entry, data_start: int, data_len: int):
    """(StoredTensor, None) for a consistent header entry, else (None, what is wrong)."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return None, "is not {'dtype', 'shape', 'data_offsets'}"
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in DTYPE_CODES:
        return None, f"has an unknown dtype {code!r}"
    if not _naturals(shape):
        return None, f"has a malformed shape {shape!r}"
    if not _naturals(offsets) or len(offsets) != 2 or offsets[0] > offsets[1]:
        return None, f"has malformed data_offsets {offsets!r}"
    begin, end = offsets
    nbytes = math.prod(shape) * DTYPE_CODES[code][1]
    if end > data_len:
        return None, (f"declares bytes {begin:,}..{end:,} of the data, but the file holds only "
                      f"{data_len:,} bytes of tensor data")
    if end - begin != nbytes:
        return None, (f"is {DTYPE_CODES[code][0]} of shape {tuple(shape)} ({nbytes:,} bytes), but "
                      f"its data_offsets span {end - begin:,} bytes")
    return StoredTensor(path, key, code, tuple(shape), data_start + begin, nbytes), None


def _naturals(value) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)
