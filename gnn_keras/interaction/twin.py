"""Firmware-twin handlers of the gather / aggregate layers, mirroring ``hls/nnet_interaction.h``.

- ``edge_gather``: ``res[(2e + side)·F + f] = nodes[n·F + f]`` with ``n = index[2e + side]``
  (a slot ≥ N_max reads node 0), assigned to res_t (a cast; the identity by default).
- ``edge_aggregate``: per node ``n`` and feature ``f``, ``accum_t acc = 0; acc += msg[e·D + f]``
  over the real edges (``mask[e] != 0``) whose receiver ``index[2e + 1]`` is ``n``, in edge order
  (each sum assigned to accum_t: rounding and overflow in its modes); a mean multiplies by
  ``inv_table[in-degree]`` (``1.0 / k`` assigned to inv_t) exactly and rounds once into res_t.

When accum_t provably holds every partial sum exactly (its fractional bits cover the message's and
E_max messages of the type's extremes stay in range, from the types alone), the sum is one exact
float64 contraction; otherwise the additions run one edge at a time, as the C++ does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsets_trigger.emulate.fixed import MAX_EXACT_BITS, cast, from_double, holds
from deepsets_trigger.emulate.registry import (
    BuildContext,
    Handler,
    Step,
    TwinUnsupported,
    attr_type,
    register,
    result_type,
)
from deepsets_trigger.precision import FixedType


def _sizes(layer: Any) -> tuple[int, int, int]:
    return int(layer.get_attr("n_nodes")), int(layer.get_attr("n_edges")), int(layer.get_attr("n_features"))


def build_gather(layer: Any, ctx: BuildContext) -> Step:
    n_nodes, n_edges, n_features = _sizes(layer)
    x_t, res_t = ctx.input_type(layer, 0), result_type(layer)
    identity = holds(res_t, x_t)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        nodes = xs[0].reshape(len(xs[0]), n_nodes, n_features)
        slots = xs[1].reshape(len(xs[1]), n_edges * 2).astype(np.int64)
        slots = np.where(slots < n_nodes, slots, 0)  # node_slot(): outside [0, N) reads node 0
        out = np.take_along_axis(nodes, slots[..., None], axis=1).reshape(len(nodes), -1)
        return out if identity else cast(out, res_t)

    plan = f"gather {n_edges}×2 of {n_nodes} nodes: {x_t.ap()} → {res_t.ap()}" + (" (no cast)" if identity else "")
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)


def _sum_is_exact(msg_t: FixedType, acc_t: FixedType, n_edges: int) -> bool:
    return (
        acc_t.fractional >= msg_t.fractional
        and acc_t.lowest <= n_edges * min(msg_t.min_value, 0.0)
        and acc_t.max_value >= n_edges * max(msg_t.max_value, 0.0)
    )


def _aggregate_sum(acc_t: FixedType, n_nodes: int, n_edges: int, fast: bool) -> Any:
    """``(messages (B, E, D), hits (B, N, E)) → acc (B, N, D)`` as the C++ sums them."""

    def exact(msg: np.ndarray, hit: np.ndarray) -> np.ndarray:
        return np.einsum("bne,bed->bnd", hit.astype(np.float64), msg)

    def per_edge(msg: np.ndarray, hit: np.ndarray) -> np.ndarray:
        acc = np.zeros((len(msg), n_nodes, msg.shape[2]))
        for e in range(n_edges):
            acc = np.where(hit[:, :, e, None], cast(acc + msg[:, None, e, :], acc_t), acc)
        return acc

    return exact if fast else per_edge


def build_aggregate(layer: Any, ctx: BuildContext) -> Step:
    n_nodes, n_edges, n_features = _sizes(layer)
    msg_t, res_t, acc_t = ctx.input_type(layer, 0), result_type(layer), attr_type(layer, "accum_t")
    mean = layer.get_attr("aggregation") == "mean"
    inv_t = None
    if mean:
        inv_t = attr_type(layer, "inv_t")
        if acc_t.width + inv_t.width > MAX_EXACT_BITS:
            raise TwinUnsupported(layer.name, layer.class_name, f"{acc_t.ap()} × {inv_t.ap()} exceeds float64")
        k = np.arange(n_edges + 1, dtype=np.float64)
        inv_table = from_double(np.divide(1.0, k, out=np.zeros_like(k), where=k > 0), inv_t)
    fast = _sum_is_exact(msg_t, acc_t, n_edges)
    if max(acc_t.integer, msg_t.integer) + max(acc_t.fractional, msg_t.fractional) + 1 > MAX_EXACT_BITS:
        raise TwinUnsupported(layer.name, layer.class_name, f"{acc_t.ap()} + {msg_t.ap()} exceeds float64")
    summed = _aggregate_sum(acc_t, n_nodes, n_edges, fast)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        b = len(xs[0])
        msg = xs[0].reshape(b, n_edges, n_features)
        receiver = xs[1].reshape(b, n_edges, 2)[:, :, 1]
        hit = (xs[2].reshape(b, n_edges) != 0)[:, None, :] & (receiver[:, None, :] == np.arange(n_nodes)[:, None])
        acc = summed(msg, hit)
        if mean:
            acc = acc * inv_table[hit.sum(axis=2)][..., None]  # exact in float64 (checked at build)
        return cast(acc, res_t).reshape(b, -1)

    how = "one exact sum (accum_t holds every partial sum)" if fast else "edge by edge, each sum cast to accum_t"
    plan = f"{'mean' if mean else 'sum'} of {msg_t.ap()} in {acc_t.ap()}: {how} → {res_t.ap()}"
    if mean:
        plan += f", × 1/degree table {inv_t.ap()}"
    return Step(layer.name, layer.class_name, list(layer.inputs), layer.outputs[0], res_t, run, plan)


def register_twin() -> None:
    """Register the handlers with the firmware twin (idempotent)."""
    register("EdgeGather")(Handler(lambda layer: None, build_gather))
    register("EdgeAggregate")(Handler(lambda layer: None, build_aggregate))
