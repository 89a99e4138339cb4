"""Interaction network on tracking sector graphs through the harness: study, report, diagnose, resources, bad input.

One 6-point study (widths 4, 8 × QAT 8-bit, PTQ ap_fixed<10,6>, PTQ ap_fixed<16,6>) on 120 generated
minimum-bias events (20 % noise hits, pattern window × 3, 32 sectors, N_max = 32, E_max = 64) is shared
by the tests that need a converted network.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepsets_trigger import record
from deepsets_trigger.cli import main
from deepsets_trigger.config import HLSSettings, config_from_dict
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import FixedType
from gnn_keras.interaction.conversion import accumulator_type, check_interaction, index_type
from gnn_keras.interaction.data import edge_inputs
from gnn_keras.interaction.model import InteractionSpec, build_interaction_network
from gnn_keras.tracking.generate import DEFAULT_CACHE
from tests.conftest import read_result

pytestmark = pytest.mark.slow

GRAPHS = {"source": "tracks", "n_events": 120, "noise_fraction": 0.2, "builder_params": {"window": 3.0}, "seed": 3,
          "overflow": "drop"}  # fmt: skip
STUDY = {
    "model": {"kind": "interaction_network", "iterations": 2},
    "train": {"epochs": 40, "batch_size": 64, "learning_rate": 0.005, "patience": 8},
    "grid": [
        {"model.width": [4, 8], "quantization.mode": ["qat"], "quantization.bits": [8]},
        {"model.width": [4, 8], "quantization.mode": ["ptq"], "quantization.bits": [10, 16]},
    ],
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tracks")
    for init in Path(DEFAULT_CACHE).expanduser().glob("pythia-mpi-*.dat"):  # Pythia's 6 s start-up, cached
        shutil.copy(init, cache)
    return cache


@pytest.fixture(scope="module")
def data(cache):
    """The test graphs as the family loads them (this also caches the graph file for the study's workers)."""
    from deepsets_trigger.data import load_data

    return load_data(config_from_dict({"data": {**GRAPHS, "cache_dir": str(cache)}, "model": STUDY["model"]}))


@pytest.fixture(scope="module")
def study(data, cache, tmp_path_factory):
    from deepsets_trigger.study import run_study

    out = tmp_path_factory.mktemp("study") / "in"
    summary = run_study({**STUDY, "data": {**GRAPHS, "cache_dir": str(cache)}}, out, workers=2)
    assert (summary.ok, summary.failed) == (6, 0)
    with open(out / "results.csv") as f:
        rows = {(r["mode"], int(r["width"]), int(r["weight_bits"])): r for r in csv.DictReader(f)}
    return out, rows


def _point(study, mode, width, bits):
    out, rows = study
    directory = out / "points" / rows[(mode, width, bits)]["point_id"]
    return directory, read_result(directory / "result.json")


def test_study_of_widths_and_precisions(study, capsys):
    """QAT 8-bit: every edge logit equals the C++ bit for bit; PTQ ap_fixed<16,6>: ≥ 99.5 % of decisions agree."""
    table = []
    for key in sorted(study[1]):
        r = _point(study, *key)[1]
        assert record.unknown_keys(r) == []  # every key the family adds is documented in record.py
        table.append(
            f"{key[0]} w{key[1]} {key[2]}b: AUC {r['auc_keras']:.4f}/{r['auc_firmware']:.4f} eff "
            f"{r['efficiency_keras']:.4f}/{r['efficiency_firmware']:.4f} pur {r['purity_keras']:.4f}/"
            f"{r['purity_firmware']:.4f} agree {r['logit_agreement']:.4f} max|Δlogit| {r['max_abs_logit_diff']:.3g} "
            f"LUT {r['lut']} DSP {r['dsp']} lat {r['latency_cycles']}"
        )
    with capsys.disabled():
        print("\n" + "\n".join(table))
    for width in (4, 8):
        qat = _point(study, "qat", width, 8)[1]
        assert qat["logit_agreement"] == 1.0 and qat["max_abs_logit_diff"] == 0.0  # bit-exact
        assert (qat["efficiency_keras"], qat["purity_keras"]) == (qat["efficiency_firmware"], qat["purity_firmware"])
        assert qat["n_edges"] == 4030 and qat["edge_threshold"] == 0.5 and qat["relational_widths"] == [width] * 2
        assert 0 < qat["max_abs_score_diff"] < 0.01  # hls4ml's sigmoid table (measured 0.0048)
        ptq16 = _point(study, "ptq", width, 16)[1]
        assert ptq16["logit_agreement"] >= 0.995  # measured 0.9995 (w4), 0.9968 (w8)
        assert abs(ptq16["efficiency_firmware"] - ptq16["efficiency_keras"]) <= 0.005  # measured ≤ 0.0018
        ptq10 = _point(study, "ptq", width, 10)[1]
        assert 0.9 <= ptq10["logit_agreement"] < ptq16["logit_agreement"]  # measured 0.984 (w4), 0.938 (w8)
    checked = [r["twin_check"] for r in (_point(study, *k)[1] for k in study[1]) if r.get("twin_check")]
    assert len(checked) == 6 and all(c["mismatched_samples"] == 0 for c in checked)  # 664 graphs each
    best = _point(study, "qat", 8, 8)[1]
    assert best["auc_keras"] >= 0.80 and best["efficiency_keras"] >= 0.8  # measured 0.828, 0.844 (purity 0.826)
    assert all(r["lut"] and r["latency_cycles"] for r in (_point(study, *k)[1] for k in study[1]))

    assert main(["report", str(study[0])]) == 0
    plots = {p.stem for p in (study[0] / "plots").glob("*.png")}
    assert {"accuracy_vs_bits", "ratio_heatmap", "resources_vs_bits", "latency_vs_bits", "pareto", "roc"} <= plots


def test_firmware_types_costs_and_diagnosis_of_a_point(study):
    """The converted QAT network: integer index, overflow-free accumulators, priced layers, a clean diagnosis."""
    import yaml

    from gnn_keras.interaction.resources import aggregate_cost, gather_cost

    point, result = _point(study, "qat", 8, 8)
    final = yaml.safe_load((point / "hls4ml_config.yml").read_text())["LayerName"]
    assert final["edge_index"]["Precision"]["result"] == "ufixed<5,5>"  # ap_uint<5>: 32 node slots
    assert final["aggregate_0"]["Precision"]["accum"] == "ufixed<14,9>"  # ap_ufixed<8,3> messages + log2(64) bits
    rows = {row["layer"]: row for row in json.loads((point / "resources.json").read_text())["layers"]}
    # 64 edges × 2 × 8 features × 8 bits, 32:1 muxes of ⌈31/3⌉ = 11 LUTs per bit
    assert rows["gather_1"]["lut"] == 64 * 2 * 8 * 8 * 11 == gather_cost(32, 64, 8, 8)["lut"]
    # 32 × 64 comparators (2 LUTs) + 32 nodes × 8 features × 63 adders × 14 accumulator bits
    assert rows["aggregate_0"]["lut"] == 32 * 64 * 2 + 32 * 8 * 63 * 14 and rows["concat_0"]["lut"] == 0
    assert aggregate_cost(32, 64, 8, 14, mean=True)["dsp"] == 256

    assert "input 'edge_index' retyped ap_ufixed<5,5>: the edge index is an integer" in " ".join(
        result["conversion_notes"]
    )
    assert main(["diagnose", str(point), "--n-samples", "50"]) == 0
    diagnosis = read_result(point / "diagnosis.json")
    assert diagnosis["culprit_layer"] is None  # bit-exact up to the sigmoid table
    assert {r["keras_layer"] for r in diagnosis["layers"]} >= {"gather_0", "aggregate_1", "edge_logit"}
    assert main(["resources", str(point), "--json"]) == 0


def test_pruning_the_mlps(data):
    from deepsets_trigger.config import PruningConfig, TrainConfig
    from deepsets_trigger.train import train_model

    model = build_interaction_network(InteractionSpec(relational=(8,), object=(8,), classifier=(), iterations=1))
    train = TrainConfig(epochs=4, batch_size=256, patience=8)
    pruned, _ = train_model(model, data, train, PruningConfig(sparsity=0.5, end_fraction=0.5, frequency=5))
    kernels = [layer.get_weights()[0] for layer in pruned.layers if layer.__class__.__name__ == "Dense"]
    assert len(kernels) == 3 and abs(np.mean(np.concatenate([k.ravel() for k in kernels]) == 0) - 0.5) < 0.02


def _graph_file(cache: Path, tmp_path: Path, bad_index: bool = False) -> Path:
    import h5py

    path = tmp_path / "graphs.h5"
    shutil.copy(next(cache.glob("trackgraphs-*.h5")), path)
    if bad_index:
        with h5py.File(path, "r+") as f:
            index = f["edge_index"][()]
            index[0, 0, 1] = f["n_nodes"][0]  # one past the graph's last node (inside the padding)
            f["edge_index"][...] = index
    return path


@pytest.mark.parametrize(
    "data_keys, message",
    [
        ({"e_max": 4}, "edges, more than the model's e_max = 4"),
        ({"n_max": 5}, "nodes, more than the model's n_max = 5"),
        ({"bad_index": True}, "an edge index points past its graph's nodes"),
        ({"source": "tracks", "builder_params": {"window": 0}}, "window"),
        ({"source": "tracks", "n_max": 8, "overflow": "error"}, "more than n_max=8 or e_max=64"),
    ],
)
def test_bad_graph_input_is_one_error(data_keys, message, data, cache, tmp_path, capsys):
    keys = dict(data_keys)
    if keys.get("source") == "tracks":  # the cached events, cut into graphs that do not fit
        section = {**GRAPHS, **keys, "cache_dir": str(cache)}
    else:
        path = _graph_file(cache, tmp_path, keys.pop("bad_index", False))
        section = {"source": "graph_h5", "path": str(path), **keys}
    config = tmp_path / "in.yaml"
    config.write_text(json.dumps({"data": section, "model": {"kind": "interaction_network"}}))
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_custom_layers_through_run_and_without_registration(tmp_path, capsys):
    """A jet IN with a user's NodeEdgeProjection: `run --model --trust-custom-layers MODULE`, bit-exact; an
    unregistered custom layer is one error (exit 2) naming it."""
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    from gnn_keras.interaction.examples.node_edge_projection import NodeEdgeProjection

    w = quantized_bits(8, 0, alpha=1)
    hits = keras.Input((8, 3), name="constituents")
    h = QActivation(quantized_bits(8, 2, alpha=1), name="input_quant")(hits)
    pairs = keras.layers.Concatenate(name="pairs")(
        [NodeEdgeProjection(True, name="receivers")(h), NodeEdgeProjection(False, name="senders")(h)]
    )
    e = QActivation(quantized_relu(8, 3), name="rel_relu")(
        QDense(8, kernel_quantizer=w, bias_quantizer=w, name="rel")(pairs)
    )
    logits = QDense(5, kernel_quantizer=w, bias_quantizer=w, name="logits")(
        keras.layers.GlobalMaxPooling1D(name="pool")(e)
    )
    keras.Model(hits, keras.layers.Activation("softmax", name="softmax")(logits)).save(tmp_path / "jet_in.h5")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(200, 8, 3)).astype(np.float32))
    args = ["run", "--model", str(tmp_path / "jet_in.h5"), "--inputs", str(tmp_path / "x.npy")]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2  # not trusted: refused before Keras reads it
    module = "gnn_keras.interaction.examples.node_edge_projection"
    assert main([*args, "--trust-custom-layers", module, "--out", str(tmp_path / "run")]) == 0
    result = read_result(tmp_path / "run" / "result.json")
    assert result["status"] == "ok" and result["mode"] == "qat"
    assert result["logit_agreement"] == 1.0 and result["max_abs_logit_diff"] == 0.0 and result["prob_agreement"] == 1.0

    (tmp_path / "unregistered.py").write_text(
        "from tensorflow import keras\n\n\nclass Doubled(keras.layers.Layer):\n"
        "    def call(self, x):\n        return 2 * x\n"
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("unregistered", tmp_path / "unregistered.py")
    doubled = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doubled)
    x = keras.Input((8, 3), name="constituents")
    keras.Model(x, keras.layers.Dense(2, name="out")(doubled.Doubled(name="twice")(x))).save(tmp_path / "mine.h5")
    args = ["run", "--model", str(tmp_path / "mine.h5"), "--inputs", str(tmp_path / "x.npy")]
    capsys.readouterr()
    trust = ["--trust-custom-layers", str(tmp_path / "unregistered.py")]
    assert main([*args, *trust, "--out", str(tmp_path / "mine")]) == 2
    assert "layer 'twice' of class 'Doubled' has no hls4ml converter" in capsys.readouterr().err
    assert not (tmp_path / "mine").exists()


def test_aggregation_accumulator_cannot_overflow(tmp_path):
    """A node receiving all 64 edges: hls4ml's default (the model precision) wraps, the derived type does not.

    The firmware twin mirrors all four layers bit for bit, the wrapping accumulator included.
    """
    from qkeras import QActivation, quantized_relu
    from tensorflow import keras

    from deepsets_trigger.convert import compile_model, convert, predict
    from deepsets_trigger.emulate import build_twin, compare
    from deepsets_trigger.precision import parse_precision
    from gnn_keras.interaction.layers import EdgeAggregate, EdgeGather

    n_nodes, n_edges, width = 8, 64, 4
    messages = keras.Input((n_edges, width), name="messages")
    index = keras.Input((n_edges, 2), name="edge_index", dtype="int32")
    mask = keras.Input((n_edges,), name="edge_mask")
    quantized = QActivation(quantized_relu(8, 3), name="message_quant")(messages)  # ap_ufixed<8,3>: < 8
    wide = {"bits": 16, "integer": 10}  # results up to ±1024: only the accumulator can overflow
    outputs = [
        EdgeAggregate(n_nodes, "sum", name=name, **wide)([quantized, index, mask]) for name in ("plain", "toolkit")
    ]
    outputs.append(EdgeAggregate(n_nodes, "mean", name="mean", bits=12, integer=3)([quantized, index, mask]))
    outputs.append(EdgeGather(name="gather")([quantized, index]))  # the messages' slots read as nodes
    model = keras.Model([messages, index, mask], outputs)
    rng = np.random.default_rng(7)
    n = 40
    x_msg = np.round(rng.uniform(0, 7.9, (n, n_edges, width)) * 32).astype(np.float32) / 32  # on the ufixed<8,3> grid
    x_idx = rng.integers(0, n_nodes, (n, n_edges, 2)).astype(np.int32)
    x_idx[:20, :, 1] = 3  # high in-degree: node 3 receives every edge
    x_mask = np.ones((n, n_edges), np.float32)
    x_mask[20:, 3:] = 0  # the other graphs: three edges (sums below 24)
    x = [x_msg, x_idx, x_mask]
    default = parse_precision("ap_fixed<16,6>")
    conversion = convert(
        model,
        HLSSettings(),
        tmp_path / "prj",
        mode="qat",
        default_precision=default,
        layer_precisions={"plain": {"accum": default}},  # hls4ml's accum_t: the model default (kept as chosen)
        log_path=tmp_path / "hls4ml.log",
    )
    compile_model(conversion)
    plain, toolkit, mean, gathered = predict(conversion, x)
    keras_out = [np.asarray(o).reshape(n, -1) for o in model.predict(x, verbose=0)]
    accum = {
        layer.name: str(layer.get_attr("accum_t").precision)
        for layer in conversion.hls_model.get_layers()
        if layer.class_name == "EdgeAggregate"
    }
    assert accum["toolkit"] == "ufixed<14,9,TRN,WRAP,0>" and accum["plain"] == "fixed<16,6,TRN,WRAP,0>"
    np.testing.assert_array_equal(toolkit, keras_out[1])  # exact sums, also at degree 64 (≈ 250)
    np.testing.assert_array_equal(mean, keras_out[2])  # mean: exact sum × reciprocal table, one rounding
    np.testing.assert_array_equal(gathered, keras_out[3])
    twin = build_twin(conversion.hls_model)
    assert "edge by edge" in twin.plans["plain"] and "one exact sum" in twin.plans["toolkit"]
    assert compare(twin.predict(x), [plain, toolkit, mean, gathered])["mismatched_samples"] == 0
    hub = np.zeros((n, n_nodes, width), bool)
    hub[:20, 3] = True
    wrong = np.abs(plain - keras_out[0]) > 0
    assert wrong[hub.reshape(n, -1)].mean() >= 0.95  # sums of ~64 × 4 wrap at 32 (measured: all)
    assert not wrong[~hub.reshape(n, -1)].any()  # low in-degree: fine either way


def test_accumulator_type_rule():
    assert accumulator_type(FixedType(8, 3, signed=False), 64) == FixedType(14, 9, signed=False)
    assert accumulator_type(FixedType(16, 6), 5) == FixedType(19, 9)
    assert index_type(32) == FixedType(5, 5, signed=False) and index_type(33) == FixedType(6, 6, signed=False)


def test_keras_layers_against_loops():
    """EdgeGather / EdgeAggregate (sum, mean, quantized) equal plain loops over the edges."""
    from gnn_keras.interaction.layers import EdgeAggregate, EdgeGather, reciprocal_table

    rng = np.random.default_rng(3)
    nodes = rng.normal(size=(2, 5, 3)).astype(np.float32)
    index = rng.integers(0, 5, (2, 7, 2)).astype(np.int32)
    mask = (rng.random((2, 7)) < 0.7).astype(np.float32)
    msg = rng.uniform(0, 4, (2, 7, 2)).astype(np.float32)
    gathered = EdgeGather()([nodes, index]).numpy()
    sums, counts = np.zeros((2, 5, 2)), np.zeros((2, 5))
    for g in range(2):
        for e in range(7):
            assert np.array_equal(gathered[g, e], np.concatenate([nodes[g, index[g, e, 0]], nodes[g, index[g, e, 1]]]))
            if mask[g, e]:
                sums[g, index[g, e, 1]] += msg[g, e]
                counts[g, index[g, e, 1]] += 1
    np.testing.assert_allclose(EdgeAggregate(5, "sum")([msg, index, mask]).numpy(), sums, rtol=1e-6)
    mean = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], 0)
    np.testing.assert_allclose(EdgeAggregate(5, "mean")([msg, index, mask]).numpy(), mean, rtol=1e-6)
    q = EdgeAggregate(5, "mean", bits=8, integer=3)([msg, index, mask]).numpy()
    inverse = reciprocal_table(7, 18)[counts.astype(int)]
    np.testing.assert_array_equal(q, FixedType(8, 4, True, "RND_CONV", "SAT").cast(sums * inverse[..., None]))


@pytest.mark.parametrize(
    "change, message",
    [
        ("nodes", "has 5 nodes, more than the model's n_max = 4"),
        ("edges", "has 3 edges, more than the model's e_max = 2"),
        ("index", "receiver index 9 is outside the graph's 5 nodes"),
        ("negative", "sender index -1 is outside"),
    ],
)
def test_bad_graphs_are_one_error(change, message):
    nodes = np.zeros((2, 6, 3), np.float32)
    index = np.zeros((2, 4, 2), np.int32)
    node_mask, edge_mask = np.zeros((2, 6), np.float32), np.zeros((2, 4), np.float32)
    node_mask[:, :3], node_mask[1, :5], edge_mask[:, :2] = 1, 1, 1
    index[:, :2] = [[0, 1], [1, 2]]
    n_nodes, n_edges = 6, 4
    if change == "nodes":
        n_nodes = 4
    elif change == "edges":
        edge_mask[0, 2], n_edges = 1, 2
    elif change == "index":
        index[1, 1, 1] = 9
    else:
        index[0, 0, 0] = -1
    with pytest.raises(ToolkitError, match=message):
        edge_inputs([nodes, index, node_mask, edge_mask], n_nodes, n_edges)
    ok = edge_inputs([nodes, np.zeros_like(index), node_mask, edge_mask], 5, 4)  # padding beyond N_max is cut
    assert ok[0].shape == (2, 5, 3) and ok[1].dtype == np.int32 and ok[2].dtype == np.float32


def test_conversion_rules_and_config_errors():
    model = build_interaction_network(InteractionSpec(n_nodes=4, n_edges=4, iterations=1))
    check_interaction(model, HLSSettings())
    with pytest.raises(ToolkitError, match="Vivado and Vitis backends"):
        check_interaction(model, HLSSettings(backend="Quartus"))
    with pytest.raises(ToolkitError, match="hls.bit_exact"):
        check_interaction(model, HLSSettings(bit_exact=True))
    for bad, message in (
        ({"model": {"kind": "interaction_network"}}, "set data.source: tracks or graph_h5"),
        ({"data": GRAPHS, "model": {"kind": "interaction_network", "edge_threshold": 1.0}}, "edge_threshold"),
        ({"data": GRAPHS, "model": {"kind": "interaction_network", "relational": []}}, "model.relational"),
        ({"data": {**GRAPHS, "n_max": 0}, "model": {"kind": "interaction_network"}}, "n_max must be a positive"),
    ):
        with pytest.raises(ToolkitError, match=message):
            config_from_dict(bad)


def test_saved_interaction_network_is_accepted_with_the_family_classes(tmp_path):
    from deepsets_trigger.model_files import check_model_file, load_keras_model
    from gnn_keras.interaction.layers import custom_objects

    model = build_interaction_network(InteractionSpec(n_nodes=4, n_edges=6, iterations=1))
    model.save(tmp_path / "in.h5")
    check_model_file(tmp_path / "in.h5", custom_objects())  # the family's classes are accepted
    with pytest.raises(ToolkitError, match="'EdgeGather'"):
        check_model_file(tmp_path / "in.h5", {})
    loaded = load_keras_model(tmp_path / "in.h5")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


def test_edge_comparison_with_and_without_exposed_logits(data):
    """The family's compare on hand-made outputs: decisions on the logits, or on the scores when not exposed."""
    from gnn_keras.interaction.family import compare

    mask = data.extras["mask_test"]
    truth = data.y_test[..., 0] == 1
    logits = np.where(truth, 1.0, -1.0) + np.random.default_rng(0).normal(0, 0.8, truth.shape)
    flipped = logits.copy()
    first = tuple(np.argwhere(mask)[0])
    flipped[first] = -np.sign(logits[first]) * 0.5  # one real edge crosses the working point
    scores = 1 / (1 + np.exp(-logits))
    both = compare(data, ["edge_logit", "edge_score"], [logits, scores], [flipped, 1 / (1 + np.exp(-flipped))])
    n = int(mask.sum())
    assert both["n_edges"] == n and both["logit_agreement"] == pytest.approx(1 - 1 / n)
    kept = logits[mask] > 0
    assert both["efficiency_keras"] == pytest.approx(np.sum(kept & truth[mask]) / truth[mask].sum())
    assert both["purity_keras"] == pytest.approx(np.sum(kept & truth[mask]) / kept.sum())
    only = compare(data, ["edge_score"], [scores], [1 / (1 + np.exp(-flipped))])
    assert only["logit_agreement"] == both["logit_agreement"] and only["auc_keras"] == both["auc_keras"]
