"""Activations of ``nnet_activation.h``: linear, ReLU, sigmoid table, softmax (every implementation).

QKeras activations arrive here already converted by hls4ml: ``quantized_relu(b, i)`` is a
``relu`` whose result type is ``ap_ufixed<b, i, AP_RND_CONV, AP_SAT>``, ``quantized_bits`` a
``linear`` with the quantizer's type; the inserted ``<layer>_linear`` layers are ``linear``
too. All of them are one cast of the input to the result type.

Tables are built as the C++ builds them at its first call: ``float`` arithmetic, the C
library's ``expf`` (:func:`deepsets_trigger.emulate.fixed.expf`), then ``table_t x = float``
(``ap_fixed(double)``, the table type's rounding and overflow). Lookups use the same index
arithmetic (bit slices for softmax, ``int`` truncation for sigmoid and legacy softmax).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import (
    MAX_EXACT_BITS,
    c_int,
    cast,
    expf,
    from_double,
    from_top_bits,
    holds,
    top_bits,
)
from deepsets_trigger.emulate.registry import (
    BuildContext,
    Handler,
    Step,
    TwinUnsupported,
    config_value,
    register,
    result_type,
)
from deepsets_trigger.emulate.types import config_type
from deepsets_trigger.precision import FixedType

ELEMENTWISE = ("linear", "relu", "sigmoid")
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency", "argmax", "legacy")


def _ceillog2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


# --- linear, relu, sigmoid ----------------------------------------------------------------


def check_activation(layer: Any) -> str | None:
    name = str(layer.get_attr("activation", "")).lower()
    if name == "softmax":
        return check_softmax(layer)
    if name not in ELEMENTWISE:
        return f"activation '{name}' is not mirrored (linear, relu, sigmoid, softmax are)"
    return None


def build_activation(layer: Any, ctx: BuildContext) -> Step:
    reason = check_activation(layer)
    if reason:
        raise TwinUnsupported(layer.name, layer.class_name, reason)
    name = str(layer.get_attr("activation")).lower()
    if name == "softmax":
        return build_softmax(layer, ctx)
    res_t = result_type(layer)
    x_t = ctx.input_type(layer)
    if name in ("linear", "relu"):  # res[i] = data[i]  /  res[i] = data[i] > 0 ? data[i] : 0
        identity = holds(res_t, x_t, low=0.0 if name == "relu" else None)  # the cast changes nothing: skip it
        relu = name == "relu"

        def run(xs: list[np.ndarray]) -> np.ndarray:
            x = np.maximum(xs[0], 0.0) if relu else xs[0]
            return x if identity else cast(x, res_t)

        plan = f"{'max(x, 0) ' if relu else ''}{x_t.ap()} → {res_t.ap()}" + (
            " (holds every value: no cast)" if identity else ""
        )
        # max(x, 0) is exact in float32, and cast() converts to float64 itself
        step = Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)
        step.float32_in = True
        if identity:  # in place: no new array for the largest tensors of a DeepSets (φ outputs)
            step.run_owned = (lambda xs: np.maximum(xs[0], 0.0, out=xs[0])) if relu else (lambda xs: xs[0])
        return step
    else:
        run, plan = _sigmoid(layer, x_t, res_t)
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)


def sigmoid_table(size: int, table_t: FixedType) -> np.ndarray:
    """``init_sigmoid_table``: ``in_val = 2*8.0*(ii - N/2.0)/N`` (double → float), ``1.0/(1 + expf(-in_val))``."""
    ii = np.arange(size, dtype=np.float64)
    in_val = (16.0 * (ii - size / 2.0) / size).astype(np.float32)
    denominator = np.float32(1) + expf(-in_val)  # float + float
    value = (1.0 / denominator.astype(np.float64)).astype(np.float32)  # double division, returned as float
    return from_double(value.astype(np.float64), table_t)


def _table_index(x: np.ndarray, size: int, span: int, centred: bool = True) -> np.ndarray:
    """``int r = x * table_size / span; index = r + (span/2) * table_size / span``, clamped to the table.

    ``x * table_size`` is exact in float64 (checked at build) and ``/ span`` divides by a power of
    two; the C++ truncates toward zero twice (``ap_fixed`` division, then ``int``), which is one
    truncation toward zero of the exact quotient.
    """
    index = c_int(x * size / span) + ((span // 2 * size) // span if centred else 0)
    return np.clip(index, 0, size - 1)


def _sigmoid(layer: Any, x_t: FixedType, res_t: FixedType) -> tuple[Any, str]:
    size = int(config_value(layer, r"table_size = (\d+);") or layer.get_attr("table_size"))
    table_t = config_type(layer, "table_t")
    if x_t.width + _ceillog2(size) + 1 > MAX_EXACT_BITS:
        raise TwinUnsupported(layer.name, layer.class_name, f"x * {size} of {x_t.ap()} exceeds float64")
    table = sigmoid_table(size, table_t)
    return (lambda xs: cast(table[_table_index(xs[0], size, 16)], res_t)), f"sigmoid table {size} × {table_t.ap()}"


# --- softmax ----------------------------------------------------------------------------


def check_softmax(layer: Any) -> str | None:
    impl = config_value(layer, r"softmax_implementation::(\w+)")
    if impl not in SOFTMAX_IMPLEMENTATIONS:
        return f"softmax implementation {impl} is not mirrored"
    if int(layer.get_attr("n_inner", 1)) != 1 or int(layer.get_attr("n_outer", 1)) != 1:
        return "multi-dimensional softmax (softmax_multidim) is not mirrored"
    return None


def reduce_tree(values: list[np.ndarray], op: Any) -> np.ndarray:
    """``nnet::reduce``: split at the largest power of two below N, reduce both halves, combine."""
    n = len(values)
    if n == 1:
        return values[0]
    if n == 2:
        return op(values[0], values[1])
    left = 2 ** int(math.floor(math.log2(n - 1)))
    return op(reduce_tree(values[:left], op), reduce_tree(values[left:], op))


def exp_table(size: int, addr_t: FixedType, table_t: FixedType, scale: np.float32, negative: bool) -> np.ndarray:
    """``init_exp_table``: ``x = float(value of top bits i) * exp_scale``, negated for the stable softmax."""
    bits = _ceillog2(size)
    x = from_top_bits(np.arange(size), addr_t, bits).astype(np.float32) * np.float32(scale)
    if negative:
        x = -x
    return from_double(expf(x).astype(np.float64), table_t)


def invert_table(size: int, addr_t: FixedType, table_t: FixedType) -> np.ndarray:
    """``init_invert_table``: ``1 / float(value of top bits i)`` in float (``1/0`` is +inf at index 0)."""
    bits = _ceillog2(size)
    x = from_top_bits(np.arange(size), addr_t, bits).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.float32(1) / x
    return from_double(inv.astype(np.float64), table_t)


def build_softmax(layer: Any, ctx: BuildContext) -> Step:
    reason = check_softmax(layer)
    if reason:
        raise TwinUnsupported(layer.name, layer.class_name, reason)
    impl = config_value(layer, r"softmax_implementation::(\w+)")
    x_t, res_t = ctx.input_type(layer), result_type(layer)
    builders = {"stable": _softmax_tables, "latency": _softmax_tables, "argmax": _argmax, "legacy": _legacy}
    run, plan = builders[impl](layer, impl, x_t, res_t)
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, f"{impl}: {plan}")


def _need(layer: Any, condition: bool, what: str) -> None:
    if not condition:
        raise TwinUnsupported(layer.name, layer.class_name, what)


def _softmax_tables(layer: Any, impl: str, x_t: FixedType, res_t: FixedType) -> tuple[Any, str]:
    exp_size = int(config_value(layer, r"exp_table_size = (\d+);"))
    inv_size = int(config_value(layer, r"inv_table_size = (\d+);"))
    scale = np.float32(float(config_value(layer, r"exp_scale = ([^;]+);") or 1.0))
    exp_t, inv_t = config_type(layer, "exp_table_t"), config_type(layer, "inv_table_t")
    acc_t, inv_inp_t = config_type(layer, "accum_t"), config_type(layer, "inv_inp_t")
    addr_t = config_type(layer, "inp_norm_t") if impl == "stable" else x_t
    exp_bits, inv_bits = _ceillog2(exp_size), _ceillog2(inv_size)
    _need(layer, exp_bits <= addr_t.width, f"exp table of {exp_size} entries addressed by {addr_t.ap()}")
    _need(layer, inv_bits <= inv_inp_t.width, f"inverse table of {inv_size} entries addressed by {inv_inp_t.ap()}")
    _need(layer, x_t.width + 1 <= MAX_EXACT_BITS, f"x_max - x of {x_t.ap()} exceeds float64")
    _need(layer, acc_t.width + inv_t.width <= MAX_EXACT_BITS, f"{acc_t.ap()} × {inv_t.ap()} exceeds float64")
    _need(layer, acc_t.width + 1 <= MAX_EXACT_BITS, f"sums in {acc_t.ap()} exceed float64")
    exp_tab = exp_table(exp_size, addr_t, exp_t, scale, negative=impl == "stable")
    inv_tab = invert_table(inv_size, inv_inp_t, inv_t)

    def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # Op_add<accum_t>
        return cast(a + b, acc_t)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0]
        if impl == "stable":  # d = (inp_norm_t)(x_max - x)
            address = cast(x.max(axis=1, keepdims=True) - x, addr_t)
        else:
            address = x
        exp_res = cast(exp_tab[top_bits(address, addr_t, exp_bits)], acc_t)
        total = reduce_tree([exp_res[:, i] for i in range(exp_res.shape[1])], add)
        inv = inv_tab[top_bits(cast(total, inv_inp_t), inv_inp_t, inv_bits)]
        return cast(exp_res * inv[:, None], res_t)

    plan = (
        f"exp table {exp_size} × {exp_t.ap()} by {addr_t.ap()}, sum in {acc_t.ap()} (adder tree), "
        f"inverse table {inv_size} × {inv_t.ap()} by {inv_inp_t.ap()}"
    )
    return run, plan


def _argmax(layer: Any, impl: str, x_t: FixedType, res_t: FixedType) -> tuple[Any, str]:
    one = float(cast(np.array(1.0), res_t))

    def run(xs: list[np.ndarray]) -> np.ndarray:  # first strict maximum gets (res_T)1, the rest 0
        out = np.zeros_like(xs[0])
        out[np.arange(len(out)), np.argmax(xs[0], axis=1)] = one
        return out

    return run, "first maximum → (res_t)1"


def _legacy(layer: Any, impl: str, x_t: FixedType, res_t: FixedType) -> tuple[Any, str]:
    exp_size = int(config_value(layer, r"exp_table_size = (\d+);"))
    inv_size = int(config_value(layer, r"inv_table_size = (\d+);"))
    table_t = config_type(layer, "table_t")
    _need(layer, x_t.width + 1 + _ceillog2(exp_size) <= MAX_EXACT_BITS, f"legacy softmax of {x_t.ap()} exceeds float64")
    _need(layer, table_t.width + 1 + _ceillog2(inv_size) <= MAX_EXACT_BITS, "legacy softmax sums exceed float64")
    ii = np.arange(exp_size, dtype=np.float64)
    exp_in = (16.0 * (ii - exp_size / 2.0) / exp_size).astype(np.float32)
    exp_tab = from_double(expf(exp_in).astype(np.float64), table_t)
    inv_in = (64.0 * np.arange(inv_size, dtype=np.float64) / inv_size).astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv_tab = np.where(inv_in > 0, from_double(np.where(inv_in > 0, 1.0 / inv_in, 0.0), table_t), 0.0)
    one = cast(np.array(1.0), table_t)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        x = xs[0]
        n = x.shape[1]
        out = np.empty_like(x)
        for i in range(n):
            acc = np.zeros(len(x))
            for j in range(n):
                diff = one if i == j else exp_tab[_table_index(x[:, j] - x[:, i], exp_size, 16)]
                acc = cast(acc + diff, table_t)
            out[:, i] = cast(inv_tab[_table_index(acc, inv_size, 64, centred=False)], res_t)
        return out

    return run, f"legacy tables {exp_size}/{inv_size} × {table_t.ap()}"


register("Activation")(Handler(check_activation, build_activation))
register("Softmax")(Handler(check_softmax, build_softmax))
