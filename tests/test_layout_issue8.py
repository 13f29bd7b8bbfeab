"""cnnspec.layout: the flatten order of PyTorch's flat values as a dataflow over the graph.

The orders are checked as data (pieces), against torch.flatten itself, in the generated code,
and by the numbers: a dense fed by a concat of two flattens, or by an add of two flattens in
different orders, gives the NHWC-order result of the portable weights -- and would not without
the permutation (the classic converter bug, in its graph form).
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_cases import framework_reference, graph
from test_backends_graph_issue8 import GRAPHS

import cnnspec
from cnnspec import layout, runtime
from cnnspec.weights import init_weights

torch = pytest.importorskip("torch")


def test_orders_flow_through_concat_and_order_keeping_kinds():
    net = GRAPHS["concat_flattens"]()
    orders = layout.flat_orders(net)
    cat = ((36, (4, 3, 3)), (60, (4, 3, 5)), (5, None))
    assert orders == {"fa": ((36, (4, 3, 3)),), "fb": ((60, (4, 3, 5)),), "cat": cat, "bn": cat}


def test_pieces_whose_two_orders_coincide_are_nhwc():
    assert layout.normal([(6, (1, 1, 6)), (4, (2, 2, 1)), (3, None)]) is None
    assert layout.normal([(2, None), (6, (1, 1, 6)), (12, (2, 2, 3))]) == ((8, None), (12, (2, 2, 3)))
    net = graph((1, 1, 4), [("f", "flatten", None), ("d", "dense 2", None)])
    assert layout.flat_orders(net) == {}


def test_elementwise_merges_keep_equal_orders_and_convert_different_ones():
    same = GRAPHS["add_same_order"]()
    orders = layout.flat_orders(same)
    assert orders["sum"] == ((18, (3, 3, 2)),)
    assert layout.converted_inputs(same, same.node("sum"), orders) == (False, False)
    mixed = GRAPHS["add_after_flatten"]()
    orders = layout.flat_orders(mixed)
    assert orders == {"f1": ((24, (4, 3, 2)),), "f2": ((24, (2, 3, 4)),)}  # sum: NHWC
    assert layout.converted_inputs(mixed, mixed.node("sum"), orders) == (True, True)
    gate = GRAPHS["gate_from_flatten"]()
    orders = layout.flat_orders(gate)
    assert layout.converted_inputs(gate, gate.node("scaled"), orders) == (False, True)


@pytest.mark.parametrize("order", [((24, (2, 3, 4)),), ((6, None), (24, (2, 3, 4)), (10, (5, 2, 1))),
                                   ((12, (3, 2, 2)), (30, (2, 5, 3)))])
def test_rows_match_torch_flatten_and_invert_each_other(order):
    pieces = layout.pieces_of(order, 0)
    rng = np.random.default_rng(0)
    nhwc, torch_order = [], []
    for length, image in pieces:
        if image is None:
            v = rng.standard_normal((2, length))
            nhwc.append(v)
            torch_order.append(v)
        else:
            v = rng.standard_normal((2, *image))
            nhwc.append(v.reshape(2, -1))
            torch_order.append(torch.flatten(torch.from_numpy(v).permute(0, 3, 1, 2), 1).numpy())
    nhwc, torch_order = np.concatenate(nhwc, 1), np.concatenate(torch_order, 1)
    length = nhwc.shape[1]
    np.testing.assert_array_equal(nhwc[:, layout.torch_rows(order, length)], torch_order)
    np.testing.assert_array_equal(torch_order[:, layout.portable_rows(order, length)], nhwc)


def test_generated_torch_code_permutes_rows_by_pieces_and_converts_mixed_adds():
    code = cnnspec.compile(GRAPHS["concat_flattens"](), "torch")
    text = "((36, (4, 3, 3)), (60, (4, 3, 5)), (5, None))"
    assert f'params["fc.kernel"][_flat_rows({text})].T' in code
    assert f'params["bn.gamma"][_flat_rows({text})]' in code
    assert f'"fc.kernel": _numpy(model.fc.weight).T[_flat_rows({text}, inverse=True)]' in code
    assert "x = torch.cat([fa, fb, x], dim=1)  # 101" in code
    code = cnnspec.compile(GRAPHS["add_after_flatten"](), "torch")
    assert "x = _to_nhwc(f1, ((24, (4, 3, 2)),)) + _to_nhwc(x, ((24, (2, 3, 4)),))" in code
    assert '_copy(model.fc.weight, params["fc.kernel"].T, "fc.kernel")' in code  # sum is NHWC


@pytest.mark.parametrize("name", ["concat_flattens", "add_after_flatten", "add_same_order"])
def test_dense_after_a_merge_of_flattens_gets_the_nhwc_result_and_would_not_without_rows(name):
    net = GRAPHS[name]()
    params = init_weights(net, seed=11, dtype="float64")
    x = np.random.default_rng(4).standard_normal((3, *net.input_shape))
    expected = framework_reference(net, params, x)["fc"]  # NHWC flatten order throughout
    model = runtime.build_model(net, "torch", params, dtype="float64")
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        np.testing.assert_allclose(model(nchw).numpy(), expected, rtol=0, atol=1e-12)
        layers = runtime.run_layers(model, "torch", net, x)  # flat values back in NHWC order
        reference = framework_reference(net, params, x)
        for node in net.layers:
            np.testing.assert_allclose(layers[node.name], reference[node.name], atol=1e-12)
        model.fc.weight.copy_(torch.from_numpy(params["fc.kernel"].T))  # rows not permuted
        wrong = model(nchw).numpy()
    if layout.flat_orders(net).get(net.node("fc").inputs[0]) is not None:
        assert np.max(np.abs(wrong - expected)) > 1e-3


def test_to_portable_inverts_load_portable_with_pieces():
    net = GRAPHS["concat_flattens"]()
    params = init_weights(net, seed=2, dtype="float64")
    model = runtime.build_model(net, "torch", params, dtype="float64")
    back = model.cnnspec_module.to_portable(model)
    assert set(back) == set(params)
    for key, value in params.items():
        np.testing.assert_array_equal(back[key], value)
