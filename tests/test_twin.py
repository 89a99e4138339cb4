"""The firmware twin against hls4ml's compiled C++: casts, random configurations, external models, failure modes."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from deepsets_trigger.emulate import TwinUnsupported, build_twin, compare, unsupported_layers
from deepsets_trigger.emulate.fixed import from_double
from deepsets_trigger.precision import parse_precision
from tests.conftest import shared_path
from tests.twin_cases import draw, run_case

pytestmark = pytest.mark.slow

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
# a seeded subset of scripts/twin_property.py: exact per-product path with saturating accumulators
# and Resource order, QAT, max pooling, sigmoid and legacy-softmax tables, plain hls4ml and toolkit conversions
PROPERTY_SEEDS = (1, 2, 3)


def _ap_types() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def test_casts_match_ap_types_in_every_mode(tmp_path):
    """double → ap_fixed and ap_fixed → ap_fixed, 7 roundings × 4 overflows × 3 shapes, against g++ and ap_types."""
    shapes = [(6, 2, True), (5, 0, False), (7, -1, True)]
    types = [
        f"ap_{'' if s else 'u'}fixed<{w},{i},AP_{r},AP_{o}>"
        for (w, i, s), r, o in itertools.product(shapes, ROUNDING, OVERFLOW)
    ]
    body = "".join(
        f"for (int k = 0; k < n; k++) {{ {t} a = v[k]; {t} c = src[k]; "
        'printf("%.17g %.17g\\n", a.to_double(), c.to_double()); }\n'
        for t in types
    )
    (tmp_path / "probe.cpp").write_text(
        '#include <cstdio>\n#include "ap_fixed.h"\nint main() { int n; if (scanf("%d", &n) != 1) return 1;\n'
        "double *v = new double[n]; ap_fixed<40,20> *src = new ap_fixed<40,20>[n];\n"
        'for (int k = 0; k < n; k++) { scanf("%lf", &v[k]); src[k] = v[k]; }\n' + body + "return 0; }\n"
    )
    subprocess.run(["g++", "-O0", f"-I{_ap_types()}", "probe.cpp", "-o", "probe"], cwd=tmp_path, check=True)
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(0, 6, 1500), rng.integers(-600, 600, 600) / 64, rng.integers(-90, 90, 300) / 32 + 1 / 128]
    )
    values = np.concatenate([values, [np.inf, -np.inf, 0.0]])
    text = f"{len(values)}\n" + "\n".join("inf" if v == np.inf else "-inf" if v == -np.inf else repr(v) for v in values)
    out = subprocess.run(["./probe"], cwd=tmp_path, input=text, capture_output=True, text=True, check=True).stdout
    rows = np.array(out.split(), dtype=np.float64).reshape(len(types), len(values), 2)
    wide = from_double(values, parse_precision("ap_fixed<40,20>"))
    finite = np.isfinite(values)
    for k, text_type in enumerate(types):
        t = parse_precision(text_type)
        assert np.array_equal(from_double(values, t), rows[k, :, 0]), text_type
        assert np.array_equal(t.cast(wide)[finite], rows[k, finite, 1]), text_type
        # again without the values that overflow: the overflow pass is skipped when nothing leaves the range,
        # so the range's own edges (AP_SAT_SYM's minimum) must be handled without it
        inside = finite & (values >= t.min_value) & (values <= t.max_value)
        assert np.array_equal(from_double(values[inside], t), rows[k, inside, 0]), text_type


@pytest.fixture(scope="module")
def property_cases(tmp_path_factory):
    return {seed: run_case(draw(seed), tmp_path_factory.mktemp(f"case{seed}"), 512) for seed in PROPERTY_SEEDS}


@pytest.mark.parametrize("seed", PROPERTY_SEEDS)
def test_random_configuration_is_bit_exact(property_cases, seed):
    record = property_cases[seed]
    assert record["samples"] == 512
    assert record["mismatched_samples"] == 0 and record["max_abs_diff"] == 0.0, draw(seed).describe()


def test_property_subset_covers_the_exact_path(property_cases):
    # measured: seeds 1 and 2 have layers whose accumulators refuse the BLAS path
    assert sum(bool(record["exact_path_layers"]) for record in property_cases.values()) >= 2


def test_one_lsb_in_the_twin_is_detected(property_cases):
    record = property_cases[PROPERTY_SEEDS[0]]
    twin, conversion, x = record["twin"], record["conversion"], record["x"]
    from deepsets_trigger.convert import predict

    cpp = predict(conversion, x)
    assert compare(twin.predict(x), cpp)["mismatched_samples"] == 0
    last = next(step for step in reversed(twin.steps) if step.output == twin.outputs[0])
    original = last.run
    last.run = lambda xs: original(xs) + np.where(np.arange(original(xs).shape[1]) == 0, last.result.lsb, 0.0)
    try:
        record = compare(twin.predict(x), cpp)
    finally:
        last.run = original
    assert record["mismatched_samples"] > 0.9 * len(x)  # every sample whose first output did not saturate
    assert record["max_abs_diff"] >= last.result.lsb / 2


HEADS = {  # the same Dense four times: accumulator that saturates or wraps × Latency or Resource (reuse factor 4)
    "sat_latency": ("ap_fixed<10,4,AP_TRN,AP_SAT>", "Latency", 1),
    "sat_resource": ("ap_fixed<10,4,AP_TRN,AP_SAT>", "Resource", 4),
    "wrap_latency": ("ap_fixed<10,4>", "Latency", 1),
    "wrap_resource": ("ap_fixed<10,4>", "Resource", 4),
}


def _four_head_model(seed: int = 5):
    """The four heads, and a fifth output through a BatchNormalization (hls4ml cannot fuse it into a Dense)."""
    from tensorflow import keras

    rng = np.random.default_rng(seed)
    inp = keras.Input((16,), name="x")
    normed = keras.layers.Dense(4, name="after_bn")(keras.layers.BatchNormalization(name="bn")(inp))
    model = keras.Model(inp, [keras.layers.Dense(8, name=name)(inp) for name in HEADS] + [normed])
    kernel = np.round(rng.normal(0, 1, (16, 8)) * 16) / 16
    for name in HEADS:
        model.get_layer(name).set_weights([kernel, np.zeros(8)])
    gamma, beta, mean = rng.normal(1, 0.3, 16), rng.normal(0, 0.5, 16), rng.normal(0, 0.5, 16)
    model.get_layer("bn").set_weights([gamma, beta, mean, rng.uniform(0.5, 2, 16)])
    model.get_layer("after_bn").set_weights([rng.normal(0, 0.5, (16, 4)), rng.normal(0, 0.1, 4)])
    return model


def test_strategy_and_reuse_change_numbers_only_through_saturating_accumulators(tmp_path):
    """Latency vs Resource (RF 4) in one firmware: a wrapping accumulator gives the same bits, a saturating one not.

    The same firmware carries a BatchNormalization, checked bit-exact with the rest.
    """
    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import compile_model, convert, predict

    layers = {"x": {"Precision": {"result": "ap_fixed<10,3>"}}}
    for name, (accum, strategy, reuse) in HEADS.items():
        precision = {"weight": "ap_fixed<16,6>", "bias": "ap_fixed<16,6>", "accum": accum, "result": "ap_fixed<16,6>"}
        layers[name] = {"Precision": precision, "Strategy": strategy, "ReuseFactor": reuse}
    config = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}, "LayerName": layers}
    conversion = convert(
        _four_head_model(),
        HLSSettings(),
        tmp_path / "prj",
        mode="ptq",
        default_precision=parse_precision("ap_fixed<16,6>"),
        user_hls_config=config,
    )
    twin = build_twin(conversion.hls_model)
    kernels = {name: twin.plans[name].split(":")[0] for name in HEADS}
    assert kernels["sat_resource"] == kernels["wrap_resource"] == "DenseResource_rf_leq_nin"
    assert all("exact:" in twin.plans[name] for name in HEADS)  # narrow accumulators: the per-product path
    compile_model(conversion)
    x = np.random.default_rng(1).normal(0, 2, (512, 16)).astype(np.float32)
    outputs = predict(conversion, x)
    assert compare(twin.predict(x), outputs) == {"samples": 512, "mismatched_samples": 0, "max_abs_diff": 0.0}
    assert twin.plans["bn"].startswith("exact x*scale+bias")
    cpp = dict(zip(HEADS, outputs[:4], strict=True))
    assert np.array_equal(cpp["wrap_latency"], cpp["wrap_resource"])  # modular sums: any order, same bits
    # saturating in another order: measured 450 of 512 samples differ between the two heads
    assert np.any(cpp["sat_latency"] != cpp["sat_resource"], axis=1).sum() > 256


# --- external models ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_x():
    x = np.random.default_rng(0).normal(size=(1000, 16))
    return (np.round(x * 1024) / 1024).astype(np.float32)


def _check_external(conversion, x):
    from deepsets_trigger.convert import compile_model, predict

    twin = build_twin(conversion.hls_model)
    compile_model(conversion)
    return twin, compare(twin.predict(x), predict(conversion, x))


def test_jet_mlp_keras_and_its_trace(tmp_path, mlp_x):
    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import compile_model, convert, enable_trace, trace
    from deepsets_trigger.model_files import load_keras_model

    mlp = shared_path("reference_models", "jet_mlp")
    model = load_keras_model(mlp / "KERAS_3layer.json", mlp / "KERAS_3layer_weights.h5")
    fixed = parse_precision("ap_fixed<16,6>")
    conversion = convert(
        model,
        HLSSettings(),
        tmp_path / "prj",
        mode="ptq",
        default_precision=fixed,
        input_precision=fixed,
        calib_x=mlp_x,
    )
    twin = build_twin(conversion.hls_model)
    enable_trace(conversion)
    compile_model(conversion)
    cpp_out, cpp_trace = trace(conversion, mlp_x)
    assert compare(twin.predict(mlp_x), cpp_out) == {"samples": 1000, "mismatched_samples": 0, "max_abs_diff": 0.0}
    twin_trace = twin.trace(mlp_x)
    assert set(cpp_trace) <= set(twin_trace) and len(cpp_trace) >= 8
    for name, values in cpp_trace.items():
        assert np.array_equal(twin_trace[name], values), name


def test_jet_mlp_qkeras_with_its_yaml(tmp_path, mlp_x):
    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import convert
    from deepsets_trigger.convert.hls_config import default_precision_of, read_user_hls_config, settings_from_user
    from deepsets_trigger.model_files import load_keras_model

    mlp = shared_path("reference_models", "jet_mlp")
    model = load_keras_model(mlp / "qkeras_3layer.json", mlp / "qkeras_3layer_weights.h5")
    hls_cfg, settings, _ = read_user_hls_config(mlp / "qkeras_3layer_config.yml")
    hls = HLSSettings(**settings_from_user(settings))
    conversion = convert(
        model,
        hls,
        tmp_path / "prj",
        mode="qat",
        default_precision=default_precision_of(hls_cfg),
        calib_x=mlp_x,
        user_hls_config=hls_cfg,
    )
    twin, record = _check_external(conversion, mlp_x)
    assert record == {"samples": 1000, "mismatched_samples": 0, "max_abs_diff": 0.0}
    # its YAML leaves accumulators at ap_fixed<16,6>: products of <16,6> × <6,1> are truncated one by one
    assert "exact:" in twin.plans["fc1"]


def _qkeras_deepsets_with_softmax_layer():
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q = quantized_bits(8, 0, alpha=1)
    inp = keras.Input((8, 3), name="input_1")
    h = inp
    for i in range(2):
        h = QActivation(quantized_relu(8, 0), name=f"qrelu_{i}")(
            QDense(16, kernel_quantizer=q, bias_quantizer=q, name=f"qdense_{i}")(h)
        )
    h = keras.layers.GlobalAveragePooling1D(name="avgpool")(h)
    h = QActivation(quantized_relu(8, 0), name="qrelu_rho")(
        QDense(16, kernel_quantizer=q, bias_quantizer=q, name="qdense_rho")(h)
    )
    h = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="qdense_out")(h)
    model = keras.Model(inp, keras.layers.Softmax(name="softmax")(h))
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    return model


def test_qkeras_deepsets_with_standalone_softmax(tmp_path):
    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import convert

    layers = {
        n: {"Precision": {"weight": "fixed<8,1>", "bias": "fixed<8,1>"}}
        for n in ("qdense_0", "qdense_1", "qdense_rho", "qdense_out")
    }
    layers.update(
        {n: {"Precision": {"result": "ufixed<8,0,RND_CONV,SAT>"}} for n in ("qrelu_0", "qrelu_1", "qrelu_rho")}
    )
    hls_cfg = {"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}, "LayerName": layers}
    x = np.abs(np.random.default_rng(4).normal(0, 1, (1000, 8, 3))).astype(np.float32)
    conversion = convert(
        _qkeras_deepsets_with_softmax_layer(),
        HLSSettings(backend="Vivado"),
        tmp_path / "prj",
        mode="qat",
        default_precision=parse_precision("ap_fixed<16,6>"),
        calib_x=x,
        user_hls_config=hls_cfg,
    )
    assert any("standalone Softmax" in note for note in conversion.notes)
    twin, record = _check_external(conversion, x)
    assert record == {"samples": 1000, "mismatched_samples": 0, "max_abs_diff": 0.0}
    assert {step.class_name for step in twin.steps} >= {"PointwiseConv1D", "GlobalPooling1D", "Dense", "Softmax"}


def test_unsupported_layer_is_named(tmp_path):
    import hls4ml
    from tensorflow import keras

    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Activation("tanh", name="squash")(keras.layers.Dense(3, name="fc")(inp)))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=str(tmp_path / "prj"), backend="Vitis", io_type="io_parallel"
    )
    problems = unsupported_layers(hls_model)
    assert problems == ["squash (Activation): activation 'tanh' is not mirrored (linear, relu, sigmoid, softmax are)"]
    with pytest.raises(TwinUnsupported, match="layer 'squash' \\(Activation\\)") as info:
        build_twin(hls_model)
    assert info.value.layer == "squash"
