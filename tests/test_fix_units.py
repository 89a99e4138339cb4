"""Every registered fix on a hand-built config, graph or model: no hls4ml conversion, no g++, fast."""

from __future__ import annotations

import numpy as np
import pytest

from deepsets_trigger.convert.fixes import FixContext, LayerTypes, fixes
from deepsets_trigger.precision import FixedType, parse_precision

T16 = FixedType(16, 6)


def _layer(name, cls, inputs=(), result=T16, **more):
    return LayerTypes(name, cls, list(inputs), more.pop("input_type", T16), result, **more)


def _fix(name):
    return next(f for f in fixes() if f.name == name)


def _apply(name, *target, ctx=None):
    fix = _fix(name)
    ctx = ctx or FixContext()
    if fix.applies is not None and not fix.applies(*target, ctx):
        return []
    return fix.apply(*target, ctx)


def _functional(*layers, outputs=None):
    return {
        "layers": [dict(layer) for layer in layers],
        "input_layers": [[layers[0]["config"]["name"], 0, 0]],
        "output_layers": [[n, 0, 0] for n in (outputs or [layers[-1]["config"]["name"]])],
    }


def _keras_layer(name, cls, inbound=None, **config):
    return {
        "class_name": cls,
        "config": {"name": name, **config},
        "name": name,
        "inbound_nodes": [[[inbound, 0, 0, {}]]] if inbound else [],
    }


def test_reserved_names():
    cfg = _functional(_keras_layer("input", "InputLayer"), _keras_layer("d", "Dense", "input"))
    ctx = FixContext()
    notes = _apply("reserved_names", cfg, ctx=ctx)
    assert cfg["layers"][0]["config"]["name"] == "input_layer" and cfg["input_layers"][0][0] == "input_layer"
    assert cfg["layers"][1]["inbound_nodes"][0][0][0] == "input_layer"
    assert ctx.renames == {"input_layer": "input"} and "reserved" in notes[0]


def test_standalone_softmax():
    cfg = _functional(_keras_layer("x", "InputLayer"), _keras_layer("p", "Softmax", "x", axis=-1))
    assert _apply("standalone_softmax", cfg) and cfg["layers"][1]["class_name"] == "Activation"
    assert cfg["layers"][1]["config"]["activation"] == "softmax"
    bad = _functional(_keras_layer("x", "InputLayer"), _keras_layer("p", "Softmax", "x", axis=1))
    with pytest.raises(Exception, match="axis"):
        _apply("standalone_softmax", bad)


class _FakeQuantizedLayer:
    """What dropped_quantizers reads: ``quantizers``, ``input_shape``, get/set_weights."""

    def __init__(self):
        self.name, self.input_shape = "phi_0", (None, 8, 3)
        self.quantizers = [lambda w: _Q(np.round(w * 4) / 4), None]
        self.weights_ = [np.array([[0.3, -0.6]]), np.array([0.1, 0.2])]

    def get_weights(self):
        return self.weights_

    def set_weights(self, weights):
        self.weights_ = weights


class _Q:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


def test_dropped_quantizers_store_quantized_weights():
    layer = _FakeQuantizedLayer()
    model = type("M", (), {"layers": [layer]})()
    notes = _apply("dropped_quantizers", model)
    np.testing.assert_array_equal(layer.weights_[0], [[0.25, -0.5]])
    np.testing.assert_array_equal(layer.weights_[1], [0.1, 0.2])  # no bias quantizer: unchanged
    assert "phi_0" in notes[0]


def test_reuse_factor_picks_the_closest_valid_one():
    graph = {"phi_0": _layer("phi_0", "PointwiseConv1D", has_weights=True, mult_shape=(3, 16))}
    config = {"Model": {"ReuseFactor": 5}}
    notes = _apply("reuse_factor", config, graph, ctx=FixContext(reuse_factor=5))
    assert config["LayerName"]["phi_0"]["ReuseFactor"] in (4, 6) and "not valid" in notes[0]


def test_reuse_factor_of_a_resource_conv1d_stays_within_its_inputs():
    graph = {"phi_0": _layer("phi_0", "PointwiseConv1D", has_weights=True, mult_shape=(4, 12))}
    config = {"Model": {"ReuseFactor": 8, "Strategy": "Resource"}}
    _apply("reuse_factor", config, graph, ctx=FixContext(reuse_factor=8))
    assert config["LayerName"]["phi_0"]["ReuseFactor"] <= 4  # nnet_conv1d_resource.h asserts RF <= n_chan


def test_pointwise_parallel():
    graph = {"phi_0": _layer("phi_0", "PointwiseConv1D", input_shape=(8, 3), mult_shape=(3, 16), has_weights=True)}
    config: dict = {}
    _apply("pointwise_parallel", config, graph)
    assert config["LayerName"]["phi_0"]["ParallelizationFactor"] == 8
    config = {"LayerName": {"phi_0": {"ParallelizationFactor": 2}}}
    _apply("pointwise_parallel", config, graph)
    assert config["LayerName"]["phi_0"]["ParallelizationFactor"] == 2  # the user's is kept


def test_input_type():
    graph = {"x": _layer("x", "Input")}
    config: dict = {}
    _apply("input_type", config, graph, ctx=FixContext(input_precision=parse_precision("ap_fixed<12,4,RND,SAT>")))
    assert config["LayerName"]["x"]["Precision"]["result"] == "fixed<12,4,RND,SAT>"


def test_pooling_accumulator_holds_the_sum():
    t = FixedType(8, 3, False)
    graph = {"pool": _layer("pool", "GlobalPooling1D", input_type=t, input_shape=(8, 16), pool_op="Average")}
    config: dict = {}
    _apply("pooling_accumulator", config, graph)
    precision = config["LayerName"]["pool"]["Precision"]
    assert precision["accum"] == "ufixed<14,6>"  # 8 inputs: 3 more integer and fractional bits
    assert precision["result"] == "ufixed<11,3>"


def test_logits_type_from_the_observed_range():
    graph = {
        "logits": _layer("logits", "Dense", result=FixedType(40, 20), has_weights=True),
        "softmax": _layer("softmax", "Softmax", ["logits"], input_shape=(5,)),
    }
    config: dict = {}
    _apply("logits_type", config, graph, ctx=FixContext(output_ranges={"logits": 5.0}))
    t = parse_precision(config["LayerName"]["logits"]["Precision"]["result"])
    assert t.integer == 5 and t.saturation == "SAT" and t.max_value >= 10  # ×2 margin over |max| 5


def test_linear_passthrough():
    graph = {"energy": _layer("energy", "Dense", result=FixedType(18, 9), has_weights=True)}
    config: dict = {}
    _apply("linear_passthrough", config, graph)
    assert config["LayerName"]["energy_linear"]["Precision"]["result"] == "fixed<18,9>"


def test_softmax_tables():
    graph = {
        "logits": _layer("logits", "Dense", has_weights=True),
        "softmax": _layer("softmax", "Softmax", ["logits"], input_shape=(5,)),
    }
    config: dict = {}
    _apply("softmax_tables", config, graph, ctx=FixContext(softmax_table_size=2048))
    section = config["LayerName"]["softmax"]
    assert section["TableSize"] == 2048 and section["exp_table_t"] == "ufixed<18,1,RND,SAT>"
    assert section["accum_t"] == "ufixed<21,4,RND,SAT>"  # 5 classes: 3 more integer bits


class _Var:
    def __init__(self, data, t):
        self.data, self.data_length = np.asarray(data, np.float64), len(data)
        self.type = type("T", (), {"precision": t})()


def test_weight_rounding_to_nearest():
    from hls4ml.model.types import FixedPrecisionType

    weight = _Var([0.26, -0.24, 0.5], FixedPrecisionType(4, 2))  # LSB 0.25
    layer = type("L", (), {"name": "d", "weights": {"weight": weight}})()
    model = type("H", (), {"get_layers": lambda self: [layer]})()
    notes = _apply("weight_rounding", model)
    np.testing.assert_array_equal(weight.data, [0.25, -0.25, 0.5])  # truncation would give -0.25 → -0.25, 0.26 → 0.25
    assert "d" in notes[0]


def test_garnet_count_input():
    graph = {
        "hits": _layer("hits", "Input"),
        "n_hits": _layer("n_hits", "Input"),
        "garnet": _layer("garnet", "GarNet", ["hits", "n_hits"], input_shape=(128, 4)),
    }
    config: dict = {}
    _apply("garnet_count_input", config, graph)
    assert config["LayerName"]["n_hits"]["Precision"]["result"] == "ufixed<10,10>"


def test_garnet_internal_types():
    graph = {"garnet": _layer("garnet", "GarNet", input_shape=(128, 4), reuse_factor=1)}
    config: dict = {}
    _apply("garnet_internal_types", config, graph)
    assert parse_precision(config["LayerName"]["garnet"]["Precision"]["edge_weight"]).fractional == 16


def test_garnet_quantized_transforms_and_weights():
    from deepsets_trigger.convert.functional import functional_config, rebuild
    from gnn_keras.models import GarNetSpec, build_garnet

    model = build_garnet(GarNetSpec(n_vertices=8, quantize=True, total_bits=6, int_bits=2, heads=("regression",)))
    ctx = FixContext(source_model=model)
    cfg = functional_config(model)
    notes = _apply("garnet_quantized_transforms", cfg, ctx=ctx)
    entry = next(layer for layer in cfg["layers"] if layer["class_name"] == "GarNet")
    assert entry["config"]["quantize_transforms"] is False and "ternarize" in notes[0]
    rebuilt = rebuild(cfg, model, ctx.renames)
    _apply("garnet_quantized_weights", rebuilt, ctx=ctx)
    source = model.get_layer("garnet")._input_feature_transform
    kernel = np.asarray(source.get_quantizers()[0](source.get_weights()[0]))
    np.testing.assert_array_equal(rebuilt.get_layer("garnet").get_weights()[0], kernel)


def test_interaction_edge_logits():
    from deepsets_trigger.config import HLSSettings

    def network():
        return _functional(
            _keras_layer("nodes", "InputLayer"),
            _keras_layer("edge_logit", "Dense", "nodes"),
            _keras_layer("edge_score", "Activation", "edge_logit", activation="sigmoid"),
        )

    cfg = network()
    notes = _apply("interaction_edge_logits", cfg, ctx=FixContext(hls=HLSSettings()))
    assert [item[0] for item in cfg["output_layers"]] == ["edge_logit", "edge_score"]
    assert "before the sigmoid" in notes[0]
    assert _apply("interaction_edge_logits", cfg) == []  # already an output
    kept = network()
    assert _apply("interaction_edge_logits", kept, ctx=FixContext(hls=HLSSettings(expose_logits=False))) == []
    assert [item[0] for item in kept["output_layers"]] == ["edge_score"]


def test_interaction_types():
    msg = FixedType(8, 3, signed=False)
    graph = {
        "nodes": _layer("nodes", "Input"),
        "edge_index": _layer("edge_index", "Input"),
        "edge_mask": _layer("edge_mask", "Input"),
        "gather_0": _layer("gather_0", "EdgeGather", ["nodes", "edge_index"], input_shape=(32, 3)),
        "aggregate_0": _layer(
            "aggregate_0", "EdgeAggregate", ["rel", "edge_index", "edge_mask"], input_type=msg, input_shape=(64, 8)
        ),
        "aggregate_1": _layer(
            "aggregate_1", "EdgeAggregate", ["rel", "edge_index", "edge_mask"], input_type=msg, input_shape=(64, 8)
        ),
    }
    config = {"LayerName": {"aggregate_1": {"Precision": {"accum": "fixed<16,6>"}}}}  # a user's choice: kept
    notes = _apply("interaction_types", config, graph)
    layers = config["LayerName"]
    assert layers["edge_index"]["Precision"]["result"] == "ufixed<5,5>"  # 32 slots: ap_uint<5>
    assert layers["edge_mask"]["Precision"]["result"] == "ufixed<1,1>" and "nodes" not in layers
    assert layers["aggregate_0"]["Precision"]["accum"] == "ufixed<14,9>"  # 64 messages: 6 more integer bits
    assert layers["aggregate_1"]["Precision"]["accum"] == "fixed<16,6>" and len(notes) == 3
    user = {}
    _apply("interaction_types", user, graph, ctx=FixContext(user_results={"edge_index"}))
    assert "edge_index" not in user["LayerName"]
    assert _apply("interaction_types", {}, {"nodes": graph["nodes"]}) == []  # no gather/aggregate: not applied


UNIT_TESTS = {
    "reserved_names": test_reserved_names,
    "standalone_softmax": test_standalone_softmax,
    "dropped_quantizers": test_dropped_quantizers_store_quantized_weights,
    "reuse_factor": test_reuse_factor_picks_the_closest_valid_one,
    "pointwise_parallel": test_pointwise_parallel,
    "input_type": test_input_type,
    "pooling_accumulator": test_pooling_accumulator_holds_the_sum,
    "logits_type": test_logits_type_from_the_observed_range,
    "linear_passthrough": test_linear_passthrough,
    "softmax_tables": test_softmax_tables,
    "weight_rounding": test_weight_rounding_to_nearest,
    "garnet_count_input": test_garnet_count_input,
    "garnet_internal_types": test_garnet_internal_types,
    "garnet_quantized_transforms": test_garnet_quantized_transforms_and_weights,
    "garnet_quantized_weights": test_garnet_quantized_transforms_and_weights,
    "interaction_edge_logits": test_interaction_edge_logits,
    "interaction_types": test_interaction_types,
}


def test_every_registered_fix_has_a_unit_test():
    uncovered = {f.name for f in fixes()} - set(UNIT_TESTS)
    assert not uncovered, f"fixes without a unit test here: {uncovered}"
