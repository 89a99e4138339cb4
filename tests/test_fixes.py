"""The conversion fixes, one by one, on converted (not compiled) models: fast."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from deepsets_trigger.config import HLSSettings, config_from_dict
from deepsets_trigger.convert import convert
from deepsets_trigger.convert.hls_config import read_user_hls_config, settings_from_user
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import parse_precision
from deepsets_trigger.registry import family


@pytest.fixture(scope="module")
def qat_deepsets():
    from deepsets_trigger.train import set_seeds

    set_seeds(0)
    cfg = config_from_dict({"model": {"phi": [8, 8], "rho": [8]}, "quantization": {"mode": "qat", "bits": 6}})
    return family("deepsets").build(cfg, [(8, 3)], 5)


def _convert(model, tmp_path, mode="qat", precision="ap_fixed<16,6>", layers=None, **hls):
    x = np.random.default_rng(0).uniform(0, 2, size=(64, *model.input_shape[1:])).astype(np.float32)
    return convert(
        model,
        HLSSettings(**hls),
        tmp_path / "prj",
        mode=mode,
        default_precision=parse_precision(precision),
        layer_precisions=layers,
        input_precision=parse_precision("ap_fixed<16,6,AP_RND_CONV,AP_SAT>"),
        calib_x=x,
        log_path=tmp_path / "log",
    )


def _types(conv, name):
    layer = conv.hls_model.graph[name]
    return {k: str(v.precision) for k, v in layer.types.items()}


def test_qat_types_follow_the_quantizers(qat_deepsets, tmp_path):
    conv = _convert(qat_deepsets, tmp_path, softmax_table_size=4096)
    assert conv.outputs == ["logits", "softmax"]
    assert _types(conv, "constituents")["result_t"] == "fixed<16,6,RND_CONV,SAT,0>"  # = input_quant
    assert _types(conv, "phi_0")["weight_t"].startswith("fixed<6,1")
    # 8 inputs of ufixed<6,3>: 3 more integer and 3 more fractional bits
    assert _types(conv, "pool")["accum_t"].startswith("ufixed<12,6")
    logits = parse_precision(_types(conv, "logits")["result_t"])
    assert logits.saturation == "SAT" and logits.integer <= 8
    for name in conv.hls_model.graph:  # the output port must not truncate the logits
        if name.endswith("_linear"):
            assert _types(conv, name)["result_t"] == _types(conv, name.removesuffix("_linear"))["result_t"]
    softmax = conv.hls_model.graph["softmax"]
    assert softmax.get_attr("table_size") == 4096
    assert str(softmax.get_attr("inp_norm_t").precision).startswith("ufixed<16,3")


def test_linear_layers_inserted_by_hls4ml_pass_their_producers_type(tmp_path):
    from tensorflow import keras

    inp = keras.Input((4,), name="x_in")
    model = keras.Model(inp, keras.layers.Dense(1, name="energy")(keras.layers.Dense(8, name="d0")(inp)))
    conv = _convert(model, tmp_path, mode="ptq", precision="ap_fixed<18,9>")
    linear = [n for n in conv.hls_model.graph if n.endswith("_linear")]
    for name in linear:  # without the fix these fall back to fixed<16,6>
        assert _types(conv, name)["result_t"].startswith("fixed<18,9")


def test_ptq_uniform_and_per_layer(qat_deepsets, tmp_path):
    cfg = config_from_dict({"model": {"phi": [8, 8], "rho": [8]}, "quantization": {"mode": "float"}})
    model = family("deepsets").build(cfg, [(8, 3)], 5)
    layers = {"phi_1": {"result": parse_precision("ap_fixed<10,4>")}}
    conv = _convert(model, tmp_path, mode="ptq", precision="ap_fixed<8,3>", layers=layers)
    assert _types(conv, "phi_0")["weight_t"].startswith("fixed<8,3")
    assert _types(conv, "phi_0_relu")["result_t"].startswith("fixed<8,3")
    assert _types(conv, "phi_1")["result_t"].startswith("fixed<10,4")
    assert _types(conv, "pool")["accum_t"].startswith("fixed<14,6")
    with pytest.raises(ToolkitError, match="names layer 'phi_9'"):
        _convert(model, tmp_path, mode="ptq", layers={"phi_9": {"result": parse_precision("ap_fixed<8,3>")}})


def test_user_yaml_translation(tmp_path):
    path = tmp_path / "cfg.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "KerasJson": "m.json",
                "XilinxPart": "xcku115-flvb2104-2-i",
                "IOType": "io_parallel",
                "HLSConfig": {
                    "Model": {"Precision": "ap_fixed<16, 6>", "ReuseFactor": 1, "ConvImplementation": "Pointwise"},
                    "LayerName": {"phi_0": {"ConvImplementation": "Pointwise"}, "softmax": {"table_size": 2048}},
                },
            }
        )
    )
    hls, settings, notes = read_user_hls_config(path)
    assert "ConvImplementation" not in hls["Model"] and "ConvImplementation" not in hls["LayerName"]["phi_0"]
    assert hls["LayerName"]["softmax"]["TableSize"] == 2048
    assert sum("ConvImplementation: Pointwise" in n for n in notes) == 2
    assert settings_from_user(settings) == {"part": "xcku115-flvb2104-2-i"}
    with pytest.raises(ToolkitError, match="io_parallel"):
        settings_from_user({"IOType": "io_stream"})
    (tmp_path / "bad.yml").write_text("- just\n- a list\n")
    with pytest.raises(ToolkitError, match="must hold a mapping of keys, not a list"):
        read_user_hls_config(tmp_path / "bad.yml")


def test_alpha_auto_on_a_3d_dense_is_refused(tmp_path):
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    inp = keras.Input((4, 3), name="x_in")
    q = quantized_bits(8, 0, alpha="auto_po2")
    model = keras.Model(inp, QDense(4, kernel_quantizer=q, bias_quantizer=quantized_bits(8, 0), name="phi")(inp))
    with pytest.raises(ToolkitError, match="alpha='auto_po2'.*use alpha=1"):
        _convert(model, tmp_path)
