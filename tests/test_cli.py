"""The ``run`` command: the result.json contract end to end, and one clear error per bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from tests.conftest import ROOT, read_result

CONTRACT_KEYS = {
    "model",
    "mode",
    "weight_bits",
    "activation_bits",
    "integer_bits",
    "phi_widths",
    "rho_widths",
    "aggregation",
    "n_constituents",
    "sparsity",
    "backend",
    "strategy",
    "reuse_factor",
    "keras_accuracy",
    "firmware_accuracy",
    "accuracy_ratio",
    "logit_agreement",
    "max_abs_logit_diff",
    "auc_keras",
    "auc_firmware",
    "n_test",
    "timings",
    "status",
    "error",
}
SMALL = {
    "data": {"source": "toy", "n_samples": 1500, "n_constituents": 8},
    "model": {"phi": [16, 16], "rho": [16]},
    "train": {"epochs": 8, "batch_size": 64},
    "quantization": {"mode": "qat", "bits": 8},
}


def _write(tmp_path, raw, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    out = tmp / "run"
    argv = [
        "run",
        _write(tmp, SMALL),
        "--out",
        str(out),
        "--set",
        "hls.reuse_factor=2",
        "--set",
        "hls.strategy=Resource",
    ]
    code = main(argv)
    return code, out


@pytest.mark.slow
def test_run_writes_the_contract(toy_run):
    code, out = toy_run
    assert code == 0
    result = read_result(out / "result.json")
    assert CONTRACT_KEYS <= set(result)
    assert set(result["timings"]) >= {"train_s", "convert_s", "compile_s", "predict_s"}
    assert result["emulator"] == "cpp" and result["twin_check"]["mismatched_samples"] == 0  # run checks the twin
    assert result["twin_check"]["samples"] == result["n_test"] == 300
    assert result["status"] == "ok" and result["error"] is None
    assert result["mode"] == "qat" and result["weight_bits"] == 8 and result["reuse_factor"] == 2
    assert result["strategy"] == "Resource"
    assert result["phi_widths"] == [16, 16] and result["n_constituents"] == 8 and result["n_test"] == 300
    assert result["keras_accuracy"] > 0.35  # 5 toy classes, chance 0.2
    assert result["logit_agreement"] == 1.0 and result["max_abs_logit_diff"] == 0.0  # QAT: bit-exact logits
    assert abs(result["accuracy_ratio"] - result["firmware_accuracy"] / result["keras_accuracy"]) < 1e-12
    for name in ("model.h5", "config.yaml", "history.json", "hls4ml_config.yml", "hls4ml_prj/firmware/myproject.cpp"):
        assert (out / name).exists(), name
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["hls"]["reuse_factor"] == 2 and resolved["model"]["phi"] == [16, 16]
    hls_config = yaml.safe_load((out / "hls4ml_config.yml").read_text())
    assert hls_config["Model"]["Strategy"] == "Resource" and hls_config["LayerName"]["rho_0"]["ReuseFactor"] == 2


@pytest.mark.slow
def test_rerun_of_a_saved_model_reproduces_the_firmware(toy_run, tmp_path):
    """The saved model.h5 converts again through --model with the same agreement."""
    _, out = toy_run
    data = _write(tmp_path, {"data": SMALL["data"]})
    assert main(["run", data, "--model", str(out / "model.h5"), "--out", str(tmp_path / "again")]) == 0
    again = read_result(tmp_path / "again" / "result.json")
    assert again["n_test"] == 1500 and again["logit_agreement"] == 1.0


@pytest.mark.slow
def test_regression_head(tmp_path):
    raw = {**SMALL, "data": {**SMALL["data"], "task": "regression"}, "model": {**SMALL["model"], "head": "regression"}}
    raw["train"] = {"epochs": 15, "batch_size": 64}
    out = tmp_path / "reg"
    assert main(["run", _write(tmp_path, raw), "--out", str(out)]) == 0
    result = read_result(out / "result.json")
    assert result["keras_accuracy"] is None and result["logit_agreement"] is None
    assert result["resolution_keras"] < 0.5  # the pT sum is learnable
    assert abs(result["resolution_firmware"] - result["resolution_keras"]) <= 0.02 * result["resolution_keras"]


@pytest.mark.slow
def test_bit_exact_mode(tmp_path):
    """hls4ml's model-wise precision propagation, with the input quantizer it needs: still exact."""
    out = tmp_path / "bitexact"
    assert main(["run", _write(tmp_path, SMALL), "--out", str(out), "--set", "hls.bit_exact=true"]) == 0
    result = read_result(out / "result.json")
    assert result["logit_agreement"] == 1.0 and result["max_abs_logit_diff"] == 0.0
    n = result["n_test"]
    assert round((1 - result["prob_agreement"]) * n) <= result["prob_ties"]


def _fails_cleanly(capsys, tmp_path, argv, fragment):
    out = tmp_path / "out"
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err and err[-1].startswith("error: ") and fragment in err[-1], err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"modle": {}}, "unknown top-level section 'modle'"),
        ({"quantization": {"mode": "ptq", "precision": "ap_fixed<4,8>"}}, "more integer bits (8) than total bits (4)"),
        ({"quantization": {"mode": "ptq", "precision": "fixed16"}}, "cannot read 'fixed16'"),
        ({"data": {"source": "npy"}}, "needs data.x and data.y"),
        ({"hls": {"synth": True}}, "vitis_hls, which is not on PATH"),
    ],
)
def test_bad_configs(capsys, tmp_path, raw, fragment):
    _fails_cleanly(capsys, tmp_path, ["run", _write(tmp_path, raw)], fragment)


def test_nan_in_data(capsys, tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 8, 3)).astype(np.float32)
    x[7, 2, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.eye(5)[np.arange(50) % 5])
    raw = {"data": {"source": "npy", "x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy")}}
    _fails_cleanly(capsys, tmp_path, ["run", _write(tmp_path, raw)], "NaN or infinite values in 1 sample(s)")


def test_missing_and_corrupt_model_files(capsys, tmp_path):
    inputs = tmp_path / "in.txt"
    np.savetxt(inputs, np.zeros((3, 24)))
    _fails_cleanly(
        capsys, tmp_path, ["run", "--model", str(tmp_path / "nope.h5"), "--inputs", str(inputs)], "does not exist"
    )
    (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    _fails_cleanly(
        capsys,
        tmp_path,
        ["run", "--model", str(tmp_path / "corrupt.h5"), "--inputs", str(inputs)],
        "is not a Keras model file",
    )
    (tmp_path / "m.json").write_text("{}")
    _fails_cleanly(capsys, tmp_path, ["run", "--model", str(tmp_path / "m.json"), "--inputs", str(inputs)], "--weights")


def test_wrong_input_shape(capsys, tmp_path):
    from tensorflow import keras

    inp = keras.Input((8, 3), name="x_in")
    keras.Model(inp, keras.layers.Dense(2, name="d")(keras.layers.Flatten()(inp))).save(tmp_path / "m.h5")
    np.savetxt(tmp_path / "in.txt", np.zeros((4, 25)))
    _fails_cleanly(
        capsys,
        tmp_path,
        ["run", "--model", str(tmp_path / "m.h5"), "--inputs", str(tmp_path / "in.txt")],
        "each sample has 25 values but the model expects 24 (8×3)",
    )


def test_flags_that_need_each_other(capsys, tmp_path):
    _fails_cleanly(capsys, tmp_path, ["run", "--inputs", "x.npy"], "needs a CONFIG.yaml, or --model")
    _fails_cleanly(capsys, tmp_path, ["run", _write(tmp_path, {}), "--inputs", "x.npy"], "--inputs goes with --model")
    _fails_cleanly(capsys, tmp_path, ["run", "--model", "m.h5"], "--model needs samples")


def test_out_that_is_not_a_run_directory_is_refused(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert main(["run", _write(tmp_path, SMALL), "--out", str(out)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "precious"


def test_console_entry_point_exit_code_and_one_line(tmp_path):
    bad = _write(tmp_path, {"hls": {"backend": "Quartus"}})
    proc = subprocess.run(
        [sys.executable, "-m", "deepsets_trigger", "run", bad, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: hls.backend: 'Quartus' is not one of 'Vitis', 'Vivado'."
    assert not (tmp_path / "o").exists()
