"""The firmware twin in runs and studies: verified before it is used, bit-exact, and refused when wrong."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from deepsets_trigger.config import config_from_dict
from deepsets_trigger.pipeline import run_point
from deepsets_trigger.pipeline.emulation import TWIN_FAULT
from deepsets_trigger.study import run_study
from tests.conftest import read_result

pytestmark = pytest.mark.slow

SWEEP = {
    "data": {"source": "toy", "n_samples": 900, "n_constituents": 8},
    "model": {"phi": [8, 8], "rho": [8]},
    "train": {"epochs": 4, "batch_size": 64},
    "quantization": {"mode": "ptq"},
    "grid": {"quantization.precision": ["ap_fixed<7,3>", "ap_fixed<9,4>", "ap_fixed<12,5>", "ap_fixed<16,6>"]},
}


def _results(out):
    with sqlite3.connect(out / "results.sqlite") as db:
        return {pid: json.loads(r) for pid, r in db.execute("SELECT point_id, result FROM points")}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin") / "sweep"
    summary = run_study(SWEEP, out, workers=2)
    return summary, out, _results(out)


def test_two_points_verify_the_twin_and_the_others_use_it(sweep):
    summary, out, results = sweep
    assert (summary.ok, summary.failed) == (4, 0)
    checked = {pid: r for pid, r in results.items() if r["emulator"] == "cpp"}
    twin = {pid: r for pid, r in results.items() if r["emulator"] == "twin"}
    assert len(checked) == 2 and len(twin) == 2
    narrowest = next(pid for pid, r in results.items() if r["precision"] == "ap_fixed<7,3>")
    assert narrowest in checked  # the narrowest type always verifies
    for r in checked.values():
        assert r["twin_check"] == {"samples": r["n_test"], "mismatched_samples": 0, "max_abs_diff": 0.0}
        assert r["timings"]["compile_s"] > 0
    for r in twin.values():
        assert sorted(r["twin_check"]["verified_on"]) == sorted(checked) and r["timings"]["compile_s"] == 0
    assert not (out / "points" / next(iter(twin)) / "hls4ml_prj").exists()  # no compile, no project


def test_a_twin_point_equals_its_compiled_cpp(sweep, tmp_path):
    _, out, results = sweep
    pid, twin_result = next((pid, r) for pid, r in results.items() if r["emulator"] == "twin")
    cfg = config_from_dict(yaml.safe_load((out / "points" / pid / "config.yaml").read_text()))
    cpp_result = run_point(cfg, tmp_path / "cpp", model_cache=out / "models", plan="cpp")
    assert cpp_result["emulator"] == "cpp"
    with np.load(out / "points" / pid / "predictions.npz") as a, np.load(tmp_path / "cpp" / "predictions.npz") as b:
        np.testing.assert_array_equal(a["firmware"], b["firmware"])
    for key in ("firmware_accuracy", "logit_agreement", "max_abs_logit_diff", "prob_agreement"):
        assert twin_result[key] == cpp_result[key], key


def test_a_wrong_twin_sends_the_model_back_to_the_cpp(tmp_path, monkeypatch):
    monkeypatch.setenv(TWIN_FAULT, "1")  # the twin's first output moves by one LSB; workers inherit it
    raw = {**SWEEP, "grid": {"quantization.precision": ["ap_fixed<9,4>", "ap_fixed<12,5>", "ap_fixed<16,6>"]}}
    summary = run_study(raw, tmp_path / "faulty", workers=1)
    assert (summary.ok, summary.failed) == (3, 0)
    results = _results(tmp_path / "faulty")
    assert {r["emulator"] for r in results.values()} == {"cpp"}
    mismatches = [r["twin_check"]["mismatched_samples"] for r in results.values() if r["twin_check"]]
    assert mismatches and all(m == 1 for m in mismatches)  # recorded in the store, one sample each
    others = [r for r in results.values() if any("twin was not verified" in n for n in r["conversion_notes"])]
    assert len(others) == 1  # the point that did not verify says why it compiled


def test_a_layer_the_twin_lacks(tmp_path, capsys):
    from tensorflow import keras

    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(3, activation="tanh", name="squash")(inputs)).save(tmp_path / "m.h5")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    argv = ["run", "--model", str(tmp_path / "m.h5"), "--inputs", str(tmp_path / "x.npy")]
    assert main([*argv, "--out", str(tmp_path / "twin"), "--set", "hls.emulator=twin"]) == 2
    err = capsys.readouterr().err
    assert "squash" in err and "hls.emulator" in err and not (tmp_path / "twin").exists()
    assert main([*argv, "--out", str(tmp_path / "auto")]) == 0
    result = read_result(tmp_path / "auto" / "result.json")
    assert result["emulator"] == "cpp" and result["twin_check"] is None
    assert any("does not mirror" in n and "squash" in n for n in result["conversion_notes"])


def test_the_quick_verification_build_computes_what_the_optimised_one_does(tmp_path):
    """The -O0 parallel build of the verifying points gives the same bits as hls4ml's -O3 build_lib.sh."""
    from tensorflow import keras

    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import compile_model, convert, predict
    from deepsets_trigger.precision import parse_precision

    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    probs = keras.layers.Dense(3, activation="softmax", name="classes")(hidden)
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(hidden)
    model = keras.Model(inputs, [probs, score])
    x = np.random.default_rng(2).normal(size=(300, 6)).astype(np.float32)
    conversion = convert(
        model,
        HLSSettings(),
        tmp_path / "prj",
        mode="ptq",
        default_precision=parse_precision("ap_fixed<10,4>"),
        calib_x=x,
        log_path=tmp_path / "log",
    )
    compile_model(conversion)
    optimised = predict(conversion, x)
    compile_model(conversion, quick=True)
    quick = predict(conversion, x)
    assert len(quick) == len(optimised) == 3  # logits, probabilities, sigmoid score
    for a, b in zip(quick, optimised, strict=True):
        np.testing.assert_array_equal(a, b)
