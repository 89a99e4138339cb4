"""One regression test per hls4ml 1.3.0 trap (DEVELOPERS.md 1–4).

Each shows plain hls4ml getting a tiny model wrong and the toolkit getting it right. When
an hls4ml release fixes a trap, its "plain" assertion fails: that is the signal to delete
the corresponding fix in ``deepsets_trigger.convert``.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepsets_trigger.config import HLSSettings
from deepsets_trigger.convert import compile_model, convert, predict
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.precision import parse_precision

pytestmark = pytest.mark.slow


def _plain(model, tmp_path, name):
    """What a user gets from hls4ml's documented two-liner."""
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=str(tmp_path / name), backend="Vitis", io_type="io_parallel"
    )
    hls_model.compile()
    return hls_model


def _toolkit(model, tmp_path, name, calib, **hls):
    conv = convert(
        model,
        HLSSettings(**hls),
        tmp_path / name,
        mode="qat",
        default_precision=parse_precision("ap_fixed<16,6>"),
        input_precision=parse_precision("ap_fixed<16,6,AP_RND_CONV,AP_SAT>"),
        calib_x=calib,
        log_path=tmp_path / f"{name}.log",
    )
    compile_model(conv)
    return conv


def _q(bits, integer):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def test_trap1_pointwise_dense_keeps_its_quantized_weights(tmp_path):
    from qkeras import QActivation, QDense
    from tensorflow import keras

    inp = keras.Input((4, 3), name="x_in")
    h = QActivation(_q(16, 5), name="input_quant")(inp)
    out = QDense(4, kernel_quantizer=_q(8, 0), bias_quantizer=_q(8, 0), name="phi")(h)
    model = keras.Model(inp, out)
    kernel = np.random.default_rng(0).uniform(-1, 1, size=(3, 4)).astype(np.float32)
    kernel[0, 0] = 1.0  # QKeras: 0.9921875; a plain cast to ap_fixed<8,1>: wraps to -1.0
    model.get_layer("phi").set_weights([kernel, np.full(4, 0.3, np.float32)])
    x = np.random.default_rng(1).uniform(-2, 2, size=(64, 4, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0).reshape(64, -1)

    plain = _plain(model, tmp_path, "plain").predict(x).reshape(64, -1)
    assert np.max(np.abs(plain - expected)) > 0.5  # the wrapped weight

    conv = _toolkit(model, tmp_path, "toolkit", x)
    weights = conv.hls_model.graph["phi"].weights["weight"].data.reshape(3, 4)
    quantized = _q(8, 0)(kernel).numpy()
    np.testing.assert_array_equal(weights, quantized)  # bit for bit
    assert np.all(weights * 2**7 == np.round(weights * 2**7))  # on the ap_fixed<8,1> grid
    np.testing.assert_array_equal(predict(conv, x)[0], expected)


def test_trap2_average_pooling_accumulator_does_not_overflow(tmp_path):
    from qkeras import QActivation, quantized_relu
    from tensorflow import keras

    inp = keras.Input((8, 4), name="x_in")
    h = QActivation(quantized_relu(8, 3), name="relu")(inp)
    out = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    model = keras.Model(inp, out)
    # on the input type's grid (ap_fixed<16,6>), as firmware inputs are: no double rounding
    x = np.round(np.random.default_rng(2).uniform(5, 9, size=(64, 8, 4)) * 2**10).astype(np.float32) / 2**10
    expected = model.predict(x, verbose=0)  # means near 7.5; the sums near 60 overflow fixed<16,6>

    plain = _plain(model, tmp_path, "plain").predict(x).reshape(64, -1)
    assert np.max(np.abs(plain - expected)) >= 8 - 2**-7  # the sum wraps by 64, the mean by 8

    conv = _toolkit(model, tmp_path, "toolkit", x)
    np.testing.assert_array_equal(predict(conv, x)[0], expected)


def test_trap3_huge_logit_type_does_not_break_the_softmax(tmp_path):
    from qkeras import QActivation, QDense
    from tensorflow import keras

    inp = keras.Input((16,), name="x_in")
    h = QActivation(_q(16, 5), name="input_quant")(inp)
    logits = QDense(5, kernel_quantizer=_q(16, 6), bias_quantizer=_q(16, 6), name="logits")(h)
    model = keras.Model(inp, keras.layers.Activation("softmax", name="softmax")(logits))
    rng = np.random.default_rng(3)
    model.get_layer("logits").set_weights([rng.normal(0, 0.4, (16, 5)).astype(np.float32), np.zeros(5, np.float32)])
    x = rng.normal(0, 1, size=(400, 16)).astype(np.float32)
    expected = model.predict(x, verbose=0)

    plain = _plain(model, tmp_path, "plain")
    inferred = plain.graph["logits"].get_output_variable().type.precision
    assert inferred.integer >= 12  # the "huge" inferred type
    plain_agree = np.mean(plain.predict(x).reshape(400, -1).argmax(1) == expected.argmax(1))
    assert plain_agree < 0.9

    conv = _toolkit(model, tmp_path, "toolkit", x)
    fw_logits, fw_probs = predict(conv, x)
    keras_logits = conv.keras_model.predict(x, verbose=0)[0]
    assert np.mean(fw_logits.argmax(1) == keras_logits.argmax(1)) == 1.0
    assert np.mean(fw_probs.argmax(1) == expected.argmax(1)) >= 0.99
    assert np.max(np.abs(fw_probs - expected)) < 0.03


def test_trap4_standalone_softmax_layer_compiles(tmp_path):
    from tensorflow import keras

    inp = keras.Input((10,), name="x_in")
    logits = keras.layers.Dense(4, name="logits")(inp)
    model = keras.Model(inp, keras.layers.Softmax(name="probs")(logits))
    x = np.random.default_rng(4).normal(0, 1, size=(200, 10)).astype(np.float32)
    expected = model.predict(x, verbose=0)

    with pytest.raises(Exception, match="[Cc]ompil|softmax"):
        _plain(model, tmp_path, "plain")

    conv = _toolkit(model, tmp_path, "toolkit", x)
    assert any("standalone Softmax" in note for note in conv.notes)
    logits, probs = predict(conv, x)
    keras_logits = conv.keras_model.predict(x, verbose=0)[0]
    assert np.mean(logits.argmax(1) == keras_logits.argmax(1)) >= 0.99
    # after the softmax, a flip is allowed only where the firmware's top two probabilities tie
    top2 = np.sort(probs, axis=1)[:, -2:]
    flips = (probs.argmax(1) != expected.argmax(1)) & (logits.argmax(1) == keras_logits.argmax(1))
    assert np.all(top2[flips, 0] == top2[flips, 1])


def test_trap4_bit_exact_needs_an_input_quantizer(tmp_path):
    from tensorflow import keras

    inp = keras.Input((10,), name="x_in")
    model = keras.Model(inp, keras.layers.Dense(4, name="out")(inp))
    with pytest.raises(ToolkitError, match="input quantizer right after the Input"):
        convert(
            model,
            HLSSettings(bit_exact=True),
            tmp_path / "p",
            mode="ptq",
            default_precision=parse_precision("ap_fixed<16,6>"),
        )


def test_reserved_input_name_is_renamed(tmp_path):
    from tensorflow import keras

    inp = keras.Input((6,), name="input")
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(inp))
    x = np.random.default_rng(5).normal(0, 1, size=(50, 6)).astype(np.float32)
    conv = _toolkit(model, tmp_path, "toolkit", x)
    assert "input_layer" in conv.hls_model.graph
    # float weights at hls4ml's default ap_fixed<16,6>: a few LSBs of error, measured 0.0045
    np.testing.assert_allclose(predict(conv, x)[0], model.predict(x, verbose=0), atol=0.01)


def test_invalid_reuse_factor_on_a_pointwise_dense(tmp_path):
    """hls4ml re-validates a 3-D Dense's reuse factor before it becomes a pointwise Conv1D,
    which takes the invalid value back and asserts in C++ (killing the process). The
    emulation runs in a child here, so the abort is reported instead."""
    import hls4ml
    from qkeras import QActivation, QDense
    from tensorflow import keras

    from deepsets_trigger.convert import Conversion

    inp = keras.Input((8, 3), name="x_in")
    h = QActivation(_q(16, 5), name="input_quant")(inp)
    model = keras.Model(inp, QDense(16, kernel_quantizer=_q(8, 0), bias_quantizer=_q(8, 0), name="phi")(h))
    x = np.random.default_rng(6).uniform(-2, 2, size=(32, 8, 3)).astype(np.float32)

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis", default_reuse_factor=2)
    config["Model"]["Strategy"] = "Resource"
    plain = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=str(tmp_path / "plain"), backend="Vitis", io_type="io_parallel"
    )
    crashed = Conversion(plain, model, ["phi"], config, log_path=tmp_path / "plain.log")
    compile_model(crashed)  # hls4ml's own C++, built as the toolkit builds every library
    with pytest.raises(RuntimeError, match="SIGABRT.*Reuse Factor is not allowed"):
        predict(crashed, x)

    conv = _toolkit(model, tmp_path, "toolkit", x, strategy="Resource", reuse_factor=2)
    assert any("reuse factor of 'phi' (3×16): 2 is not valid, using 1" in note for note in conv.notes)
    np.testing.assert_array_equal(predict(conv, x)[0], model.predict(x, verbose=0).reshape(32, -1))
