"""Flatten order for PyTorch: a dataflow over the graph (design.md section 3, "Flatten order").

Portable weights and NumPy/Keras run flat vectors in NHWC flatten order, ``(h*W + w)*C + c``;
``torch.flatten`` of an NCHW tensor gives ``(c*H + h)*W + w``. Every flat value of the PyTorch
model therefore carries an *order*: how its elements relate to the portable (NHWC) order.

An order is ``None`` (the NHWC order itself) or a tuple of pieces ``(length, image)``, laid end
to end: ``image`` is the ``(H, W, C)`` the piece was flattened from (NCHW order within the
piece), or ``None`` for a piece already in NHWC order. Pieces whose two orders coincide
(``C == 1`` or ``H*W == 1``) count as NHWC, and an order of NHWC pieces only is ``None``, so
equal orders compare equal.

How each node kind treats the order (``flat_order`` of its kind): ``makes`` (flatten or
reshape of an image to a flat vector: one piece, since both emit ``torch.flatten`` of the NCHW
tensor), ``keeps`` (dropout, activation, batch norm; flatten or reshape of a flat value: the
input's order), ``concat`` (a flat concat: the inputs' pieces end to end, offsets implied by
the lengths), ``elementwise`` (add, multiply: when the flat inputs' orders differ, the generated
code converts every input that is not in NHWC order to NHWC order explicitly (`_to_nhwc`), and
the result is in NHWC order; a flat gate of an image multiply is always converted), ``new``
(dense, global pooling, everything else: NHWC order). A dense layer or a 1-D batch norm reads
its input in the input's order: its rows are permuted when portable weights are loaded
(``torch_rows``), and back when they are saved (``portable_rows``).

Images carry no order (PyTorch holds them NCHW, the spec NHWC, and every image kind knows it):
a keepdims global pool (1x1xC), a per-pixel dense (HxWxN), upsample and crop give images. The
one kind that turns a flat value into an image, ``reshape`` (e.g. C -> 1x1xC, or a flatten's
vector back to HxWxC), must read its input in NHWC order: ``image_source_order`` gives the
order the generated code undoes first (``_to_nhwc``, or, for one NCHW piece, a reshape of the
vector to that piece's NCHW image).
"""

from __future__ import annotations

from .kinds import NODE_KINDS

Image = tuple[int, int, int]
Piece = tuple[int, "Image | None"]
Order = "tuple[Piece, ...] | None"


def flat_order_of(kind: str) -> str:
    """`keeps`, `makes`, `concat`, `elementwise` or `new` for a node kind (its declaration's)."""
    return NODE_KINDS[kind].flat_order


def normal(pieces) -> Order:
    """Pieces with NHWC pieces merged; None when every piece is in NHWC order."""
    out: list[Piece] = []
    for length, image in pieces:
        if image is not None and (image[2] == 1 or image[0] * image[1] == 1):
            image = None
        if image is None and out and out[-1][1] is None:
            out[-1] = (out[-1][0] + length, None)
        else:
            out.append((length, image))
    return None if all(image is None for _, image in out) else tuple(out)


def pieces_of(order: Order, length: int) -> tuple[Piece, ...]:
    return order if order is not None else ((length, None),)


def flat_orders(network) -> dict[str, Order]:
    """node name -> the order of its output in the PyTorch model, for every flat output that
    is not in NHWC order (absent: NHWC order, or not flat)."""
    orders: dict[str, Order] = {}
    for node in network.layers:
        order = node_order(network, node, orders)
        if order is not None:
            orders[node.name] = order
    return orders


def node_order(network, node, orders: dict[str, Order]) -> Order:
    """The order of one node's output, given its inputs' orders."""
    if len(node.out_shape) != 1:
        return None
    rule = flat_order_of(node.kind)
    first = orders.get(node.inputs[0]) if node.inputs else None
    if rule == "makes":
        image = tuple(node.in_shape)
        return normal([(node.out_shape[0], image)]) if len(image) == 3 else first
    if rule == "keeps":
        return first
    if rule == "concat":
        shapes = network.input_shapes(node)
        return normal([p for name, shape in zip(node.inputs, shapes)
                       for p in pieces_of(orders.get(name), shape[0])])
    if rule == "elementwise":
        found = {orders.get(name) for name in node.inputs}
        return first if len(found) == 1 else None
    return None


def image_source_order(node, orders: dict[str, Order]) -> Order:
    """For a node that makes an image from a flat input (reshape): its input's order in the
    PyTorch model, which the generated code must undo before it reads the vector in NHWC
    order. None: the input is an image, or its flat value is in NHWC order already."""
    if len(node.out_shape) != 3 or len(node.in_shape) != 1 or not node.inputs:
        return None
    return orders.get(node.inputs[0])


def converted_inputs(network, node, orders: dict[str, Order]) -> tuple[bool, ...]:
    """For an elementwise node: which inputs the generated code converts to NHWC order (those
    not in NHWC order, when the flat inputs' orders differ, or that gate an image)."""
    if flat_order_of(node.kind) != "elementwise":
        return tuple(False for _ in node.inputs)
    found = [orders.get(name) for name in node.inputs]
    mixed = len(set(found)) > 1 or len(node.out_shape) != 1
    return tuple(mixed and order is not None for order in found)


def order_text(order: Order) -> str:
    """An order as Python source, e.g. ``((48, (4, 4, 3)), (10, None))``."""
    items = ", ".join(f"({length}, {image})" for length, image in order)
    return f"({items},)" if len(order) == 1 else f"({items})"


def torch_rows(order: Order, length: int):
    """Index array: position i of the PyTorch vector holds NHWC element rows[i]."""
    return _rows(order, length, inverse=False)


def portable_rows(order: Order, length: int):
    """The inverse of torch_rows: NHWC element j is PyTorch position rows[j]."""
    return _rows(order, length, inverse=True)


def _rows(order: Order, length: int, inverse: bool):
    import numpy as np
    parts, start = [], 0
    for size, image in pieces_of(order, length):
        if image is None:
            part = np.arange(size)
        elif inverse:
            part = np.arange(size).reshape(image[2], image[0], image[1]).transpose(1, 2, 0).ravel()
        else:
            part = np.arange(size).reshape(image).transpose(2, 0, 1).ravel()
        parts.append(start + part)
        start += size
    return np.concatenate(parts) if parts else np.arange(0)
