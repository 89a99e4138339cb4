"""Gap diagnostics: injected faults found and named, no false alarm, advisor verified, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepsets_trigger.cli import main
from deepsets_trigger.config import HLSSettings, config_from_dict
from deepsets_trigger.convert import Conversion, convert
from deepsets_trigger.diagnose import diagnose
from deepsets_trigger.precision import parse_precision

pytestmark = pytest.mark.slow

SMALL = {
    "data": {"source": "toy", "n_samples": 3000},
    "model": {"phi": [8, 8], "rho": [8]},
    "train": {"epochs": 20},
    "quantization": {"mode": "ptq", "precision": "ap_fixed<16,6>"},
}


@pytest.fixture(scope="session")
def float_run(tmp_path_factory):
    """A trained float DeepSets through `run` (PTQ ap_fixed<16,6>): model, data and run directory."""
    from deepsets_trigger.data import load_dataset
    from deepsets_trigger.model_files import load_keras_model
    from deepsets_trigger.pipeline import run_point

    out = tmp_path_factory.mktemp("diag") / "run"
    cfg = config_from_dict(SMALL)
    run_point(cfg, out)
    data = load_dataset(cfg.data, cfg.model.head)
    return out, load_keras_model(out / "model.h5"), data


def _convert(model, data, tmp_path, layers=None, mode="ptq", user_config=None):
    return convert(
        model,
        HLSSettings(),
        tmp_path / ("user" if user_config else "prj"),
        mode=mode,
        default_precision=parse_precision("ap_fixed<16,6>"),
        layer_precisions=layers or {},
        input_precision=parse_precision("ap_fixed<16,6>"),
        calib_x=data.x_train[0],
        log_path=tmp_path / "hls4ml.log",
        user_hls_config=user_config,
    )


def _row(record, hls_layer):
    return next(r for r in record["layers"] if r["hls_layer"] == hls_layer)


@pytest.mark.parametrize(("mode", "cause"), [("WRAP", "wrap"), ("SAT", "saturate")])
def test_too_few_integer_bits_is_named_with_wrap_or_saturation(float_run, tmp_path, mode, cause):
    _, model, data = float_run
    narrow = parse_precision(f"ap_fixed<8,1,AP_TRN,AP_{mode}>")
    conversion = _convert(model, data, tmp_path, {"phi_1": {"result": narrow}})
    record, _ = diagnose(conversion, data.x_test[0][:500])
    row = _row(record, "phi_1")
    assert record["culprit_layer"] == "phi_1" and record["cause"] == cause, record["explanation"]
    assert row["max_abs_diff"] > 0.1  # the fault is real: phi_1 leaves [-1, 1)
    fraction = row["wrapped_fraction"] if mode == "WRAP" else row["saturated_fraction"]
    other = row["saturated_fraction"] if mode == "WRAP" else row["wrapped_fraction"]
    assert fraction > 0 and other == 0
    assert all(r["cause"] is None for r in record["layers"] if r["hls_layer"] in ("phi_0", "phi_0_relu"))


def test_narrow_pooling_accumulator_is_named(float_run, tmp_path):
    from hls4ml.backends.fpga.fpga_types import APTypeConverter, HLSTypeConverter
    from hls4ml.model.types import FixedPrecisionType, NamedType

    _, model, data = float_run
    conversion = _convert(model, data, tmp_path)
    pool = conversion.hls_model.graph["pool"]
    narrow = NamedType("pool_accum_t", FixedPrecisionType(10, 1))  # sums of 8 inputs reach ~1.1 > 0.5
    pool.set_attr("accum_t", HLSTypeConverter(APTypeConverter()).convert(narrow))
    record, _ = diagnose(conversion, data.x_test[0][:500])
    row = _row(record, "pool")
    assert record["culprit_layer"] == "pool" and record["cause"] == "accumulator", record["explanation"]
    assert row["max_abs_diff"] > 0.05 and row["accumulator_overflow_fraction"] > 0
    assert row["wrapped_fraction"] == 0  # the mean itself fits its result type: only the sum overflows


def test_small_softmax_table_is_named(float_run, tmp_path):
    _, model, data = float_run
    import copy

    config = copy.deepcopy(_convert(model, data, tmp_path).hls_config)
    config["LayerName"]["softmax"]["TableSize"] = 16  # a user's config with a small table (fixes keep it)
    record, _ = diagnose(_convert(model, data, tmp_path, user_config=config), data.x_test[0][:500])
    assert record["culprit_layer"] == "softmax" and record["cause"] == "softmax table", record["explanation"]
    assert _row(record, "softmax")["max_abs_diff"] > 0.02 and _row(record, "logits")["relative_error"] < 0.05


def _qat_model():
    from deepsets_trigger.models.deepsets import build_deepsets
    from deepsets_trigger.train import set_seeds

    set_seeds(4)
    cfg = config_from_dict({"model": {"phi": [8, 8], "rho": [8]}, "quantization": {"mode": "qat", "bits": 6}})
    return build_deepsets(cfg, [(8, 3)], 5)


def test_dropped_quantizer_of_a_3d_dense_is_named_on_plain_hls4ml(float_run, tmp_path):
    import hls4ml

    from deepsets_trigger.io import captured_output

    _, _, data = float_run
    model = _qat_model()
    with captured_output(tmp_path / "plain.log"):
        config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=str(tmp_path / "plain"), backend="Vitis", io_type="io_parallel"
        )
    plain = Conversion(hls_model, model, ["softmax"], config, [], tmp_path / "plain.log")
    record, _ = diagnose(plain, data.x_test[0][:300])
    assert record["culprit_layer"] == "phi_0" and record["cause"] == "weights", record["explanation"]
    assert "trap 1" in _row(record, "phi_0")["detail"]


def test_correct_qat_conversion_raises_no_alarm(float_run, tmp_path):
    _, _, data = float_run
    model = _qat_model()
    record, _ = diagnose(_convert(model, data, tmp_path, mode="qat"), data.x_test[0][:500])
    assert record["culprit_layer"] is None and all(r["cause"] is None for r in record["layers"])
    logits = _row(record, "logits")
    assert logits["max_abs_diff"] == 0.0  # bit-exact logits, so nothing to blame
    assert _row(record, "softmax")["max_abs_diff"] < 0.02  # table error of a correct softmax (tolerance)


def test_diagnose_command_writes_the_contract(float_run, tmp_path, capsys):
    run, _, _ = float_run
    assert main(["diagnose", str(run), "--n-samples", "200", "--out", str(tmp_path / "d")]) == 0
    record = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert "culprit_layer" in record and record["n_samples"] == 200
    keys = {"keras_layer", "hls_layer", "firmware_type", "max_abs_diff", "wrapped_fraction", "saturated_fraction"}
    assert all(keys | {"cause"} <= set(r) for r in record["layers"])
    assert {r["hls_layer"] for r in record["layers"]} >= {"phi_0", "pool", "logits", "softmax"}
    for name in ("diagnosis.md", "diagnosis_ranges.png", "diagnosis_errors.png"):
        assert (tmp_path / "d" / name).stat().st_size > 0
    assert "diagnosis.md" in capsys.readouterr().out


def test_diagnose_bad_input(float_run, tmp_path, capsys):
    run, _, _ = float_run
    (tmp_path / "empty").mkdir()
    assert main(["diagnose", str(tmp_path / "empty")]) == 2
    assert "no converted model" in capsys.readouterr().err
    assert main(["diagnose", str(run), "--n-samples", "0", "--out", str(tmp_path / "z")]) == 2
    assert "--n-samples must be positive" in capsys.readouterr().err
    assert not (tmp_path / "z" / "diagnosis.json").exists()


def test_advisor_beats_the_smallest_uniform_precision(tmp_path, capsys):
    """Float DeepSets whose uniform ap_fixed<8,3> loses accuracy: advised per-layer types reach 0.99."""
    from deepsets_trigger.diagnose import diagnose_run
    from deepsets_trigger.pipeline import run_point

    cfg = config_from_dict(
        {
            "data": {"source": "toy", "n_samples": 6000},
            "model": {"phi": [16, 16], "rho": [16]},
            "train": {"epochs": 40},
            "quantization": {"mode": "ptq", "precision": "ap_fixed<8,3>"},
        }
    )
    run_point(cfg, tmp_path / "run")
    record = diagnose_run(tmp_path / "run", n_samples=1000, advise=True, target_ratio=0.99)
    advice = record["advice"]
    before, advised, uniform = advice["before"], advice["advised"], advice["uniform"]
    print(f"\nbefore {before['label']}: ratio {before['accuracy_ratio']:.4f}, {before['total_bits']} bits")
    print(f"advised {advised['label']}: ratio {advised['accuracy_ratio']:.4f}, {advised['total_bits']} bits")
    print(f"uniform {uniform['label']}: ratio {uniform['accuracy_ratio']:.4f}, {uniform['total_bits']} bits")
    assert before["accuracy_ratio"] < 0.97  # the visible gap
    assert advised["accuracy_ratio"] >= 0.99 and uniform["accuracy_ratio"] >= 0.99  # verified by re-emulation
    assert advised["total_bits"] < uniform["total_bits"]
    assert (tmp_path / "run" / "advised_hls4ml_config.yml").is_file()
    assert np.isfinite(advised["bops"]) and advised["bops"] > 0


def test_diagnose_a_model_with_its_own_hls4ml_yaml(float_run, tmp_path, capsys):
    """`diagnose --model M.h5 --hls-config C.yml --inputs X.npy --out DIR`: the user's config, as written."""
    import yaml

    run, _, data = float_run
    config = {
        "Backend": "Vitis",
        "IOType": "io_parallel",
        "HLSConfig": {
            "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
            "LayerName": {"phi_1": {"Precision": {"result": "ap_fixed<8,1>"}}},
        },
    }
    (tmp_path / "hls.yml").write_text(yaml.safe_dump(config))
    np.save(tmp_path / "x.npy", data.x_test[0][:300])
    args = ["diagnose", "--model", str(run / "model.h5"), "--hls-config", str(tmp_path / "hls.yml")]
    assert main([*args, "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "d")]) == 0
    record = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert record["culprit_layer"] == "phi_1" and record["cause"] == "wrap" and record["n_samples"] == 300
    assert main([*args, "--out", str(tmp_path / "e")]) == 2  # no inputs
    assert "--inputs" in capsys.readouterr().err
