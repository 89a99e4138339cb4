"""Accumulated rounding in a user's QKeras DeepSets: attributed by counterfactuals, then advised away.

The model is what issue 13 met: QKeras Dense layers (8-bit weights) with ``quantized_relu(8,0)``,
converted with an hls4ml config that keeps the result type ``ap_fixed<16,6>`` on every Dense.
The firmware truncates each pre-activation to 10 fractional bits, the activations then differ
from QKeras' by an LSB here and there, and the logits drift.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from deepsets_trigger.precision import parse_precision

pytestmark = pytest.mark.slow

PHI = ("phi_0", "phi_1", "phi_2")


def _qkeras_deepsets():
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    q = quantized_bits(8, 0, alpha=1)
    inputs = keras.Input((8, 3), name="input_1")
    h = inputs
    for name in PHI:
        h = QDense(32, kernel_quantizer=q, bias_quantizer=q, name=name)(h)
        h = QActivation(quantized_relu(8, 0), name=f"{name}_relu")(h)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    h = QDense(32, kernel_quantizer=q, bias_quantizer=q, name="rho_0")(h)
    h = QActivation(quantized_relu(8, 0), name="rho_0_relu")(h)
    h = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="logits")(h)
    return keras.Model(inputs, keras.layers.Softmax(name="softmax")(h))


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """Train the model, write its hls4ml YAML (every Dense result fixed<16,6>), run ``diagnose --advise``."""
    import hls4ml

    from deepsets_trigger.config import config_from_dict
    from deepsets_trigger.data import load_dataset
    from deepsets_trigger.io import captured_output
    from deepsets_trigger.train import set_seeds

    work = tmp_path_factory.mktemp("rounding")
    set_seeds(3)
    data = load_dataset(config_from_dict({"data": {"source": "toy", "n_samples": 6000, "seed": 3}}).data)
    model = _qkeras_deepsets()
    model.compile("adam", "categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=64, verbose=0)
    model.save(work / "model.h5")
    with captured_output(work / "config.log"):
        config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for name in (*PHI, "rho_0", "logits"):
        config["LayerName"][name]["Precision"]["result"] = "fixed<16,6>"
    # softmax tables sized for probabilities (hls4ml trap 3, as the toolkit's own fix sizes them): hls4ml's
    # defaults here change 14 of 1000 decisions by themselves, and diagnose would rightly name them first
    config["LayerName"]["softmax"].update(
        exp_table_t="ufixed<18,1,RND,SAT>",
        inv_table_t="ufixed<18,1,RND,SAT>",
        inv_inp_t="ufixed<18,4,RND,SAT>",
        accum_t="ufixed<21,4,RND,SAT>",
        inp_norm_t="ufixed<16,3,RND,SAT>",
    )
    (work / "hls.yml").write_text(yaml.safe_dump({"Backend": "Vitis", "IOType": "io_parallel", "HLSConfig": config}))
    np.save(work / "x.npy", data.x_test[0])
    args = ["diagnose", "--model", str(work / "model.h5"), "--hls-config", str(work / "hls.yml")]
    assert main([*args, "--inputs", str(work / "x.npy"), "--out", str(work / "d"), "--advise"]) == 0
    return json.loads((work / "d" / "diagnosis.json").read_text()), work / "d"


def test_accumulated_rounding_is_named_on_a_phi_layer(diagnosed):
    record, _ = diagnosed
    a = record["attribution"]
    print("\nas configured:", a["baseline"], "\nevery layer exact:", a["all_exact"])
    for row in a["layers"]:
        diffs = f"{row['max_abs_logit_diff']:.4f}  {row['mean_abs_logit_diff']:.5f}"
        print(f"  {row['layer']:<8} {row['agreement']:.4f}  {diffs}")
    print("culprits:", a["culprits"], a["recovered"])
    assert record["emulator"] == a["emulator"] == "twin"  # verified against the C++ first:
    assert record["twin_check"]["mismatched_samples"] == 0 and record["twin_check"]["layers_compared"] >= 9
    assert record["culprit_layer"] in PHI and record["cause"] == "rounding", record["explanation"]
    assert record["culprit_layer"] != "softmax"
    # measured (1200 toy jets): 0.9958 as configured, max |Δlogit| 0.047
    assert 0.99 < a["baseline"]["agreement"] < 1.0 and a["baseline"]["max_abs_logit_diff"] > 0.02
    # every candidate exact reproduces Keras: the exact types are right
    assert a["all_exact"]["agreement"] == 1.0 and a["all_exact"]["max_abs_logit_diff"] < 0.01
    assert a["recovered"]["agreement"] == 1.0 > a["baseline"]["agreement"]
    best = next(row for row in a["layers"] if row["layer"] == record["culprit_hls_layer"])
    assert best["mean_abs_logit_diff"] == min(row["mean_abs_logit_diff"] for row in a["layers"])
    assert best["mean_abs_logit_diff"] < 0.9 * a["baseline"]["mean_abs_logit_diff"]
    softmax = next(r for r in record["layers"] if r["hls_layer"] == "softmax")
    assert softmax["cause"] is None  # the tables are not blamed for the logits' error


def test_advisor_reproduces_the_qkeras_model_verified_by_cpp(diagnosed):
    record, out = diagnosed
    advice = record["advice"]
    before, advised = advice["before"], advice["advised"]
    for key in ("before", "advised"):
        a = advice[key]
        print(
            f"\n{key}: agreement {a['agreement']:.4f}, max|Δlogit| {a['max_abs_logit_diff']:.4g}, "
            f"{a['total_bits']} bits, BOPs {a['bops']:.0f}, LUT {a['lut']}, DSP {a['dsp']}"
        )
    print("types:", advice["types"], "candidates:", advice["candidates_evaluated"])
    assert advice["emulator"] == "twin" and advice["verified_by"] == "cpp"
    assert advice["twin_check"]["mismatched_samples"] == 0  # the advised model: twin == C++ bit for bit
    assert advised["agreement"] >= 0.995 and advised["agreement"] >= before["agreement"]
    assert advised["max_abs_logit_diff"] < before["max_abs_logit_diff"]
    assert advised["mean_abs_logit_diff"] < before["mean_abs_logit_diff"]
    for key in ("total_bits", "bops", "lut", "dsp"):
        assert before[key] is not None and advised[key] is not None
    written = yaml.safe_load((out / "advised_hls4ml_config.yml").read_text())
    for name, kinds in advice["types"].items():  # the file holds the types the C++ was verified with
        for kind, t in kinds.items():
            assert parse_precision(written["LayerName"][name]["Precision"][kind]) == parse_precision(t)


def test_a_yaml_type_replacing_a_quantizer_is_named(diagnosed):
    """The YAML gives ``phi_1_relu`` the default ``ap_fixed<16,6>`` instead of ``quantized_relu(8,0)``'s type:
    the firmware no longer clips at 1, and the counterfactual gives the quantizer's type back."""
    work = diagnosed[1].parent
    config = yaml.safe_load((work / "hls.yml").read_text())
    config["HLSConfig"]["LayerName"]["phi_1_relu"]["Precision"] = {"result": "fixed<16,6>"}
    (work / "replaced.yml").write_text(yaml.safe_dump(config))
    args = ["diagnose", "--model", str(work / "model.h5"), "--hls-config", str(work / "replaced.yml")]
    assert main([*args, "--inputs", str(work / "x.npy"), "--out", str(work / "q")]) == 0
    record = json.loads((work / "q" / "diagnosis.json").read_text())
    attribution = record["attribution"]
    assert record["culprit_hls_layer"] == "phi_1_relu" and record["cause"] == "quantizer type"
    assert attribution["quantizer_types"]["phi_1_relu"] == "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"
    assert attribution["baseline"]["agreement"] < 0.9  # measured 0.859 (max |Δlogit| 2.68)
    assert attribution["recovered"]["agreement"] >= 0.999  # measured 1.000 (max |Δlogit| 0.014)
