"""The Python API the notebooks use (``deepsets_trigger.api``) and their plots (``deepsets_trigger.figures``)."""

from __future__ import annotations

import numpy as np
import pytest

from deepsets_trigger import api, figures
from deepsets_trigger.evaluate import roc_auc

TOY = {
    "data": {"source": "toy", "n_samples": 800, "n_constituents": 8, "seed": 2},
    "model": {"kind": "deepsets", "phi": [8, 8], "rho": [8]},
    "train": {"epochs": 4, "batch_size": 128},
    "quantization": {"mode": "ptq", "precision": "ap_fixed<12,5>"},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A toy DeepSets trained step by step with the API, then converted and emulated by ``api.run``."""
    cfg = api.make_config(TOY)
    data = api.load_data(cfg)
    model, history = api.train(api.build_model(cfg, data), data, cfg)
    run = api.run(cfg, tmp_path_factory.mktemp("api") / "run", model=model)
    return cfg, data, model, history, run


def test_make_config_applies_overrides_like_set(tmp_path):
    cfg = api.make_config(TOY, {"quantization.precision": "ap_fixed<10,4>", "hls.reuse_factor": 2})
    assert str(cfg.quantization.precision) == "ap_fixed<10,4>" and cfg.hls.reuse_factor == 2
    assert TOY["quantization"]["precision"] == "ap_fixed<12,5>"  # the caller's mapping is not modified
    (tmp_path / "c.yaml").write_text("model: {kind: deepsets, phi: [4]}\n")
    assert api.make_config(tmp_path / "c.yaml").model.phi == [4]
    with pytest.raises(api.ToolkitError, match="phi"):
        api.make_config({"model": {"kind": "deepsets", "phi": []}})


def test_run_converts_the_model_object_it_is_given(trained):
    cfg, data, model, history, run = trained
    r = run.result
    assert r["status"] == "ok" and r["model"] == "deepsets.h5" and r["n_test"] == len(data.x_test[0])
    assert len(history["loss"]) == TOY["train"]["epochs"]
    # the Keras side of the comparison is the very model we trained here (float32 file round trip)
    expected = model.predict(data.x_test[0], verbose=0)
    assert np.max(np.abs(run.keras - expected)) < 1e-6
    # the logits output reproduces the record's agreement and largest difference
    keras_logits, fw_logits = run.output("logits")
    assert np.mean(keras_logits.argmax(1) == fw_logits.argmax(1)) == r["logit_agreement"]
    assert np.max(np.abs(keras_logits - fw_logits)) == pytest.approx(r["max_abs_logit_diff"], abs=1e-5)
    assert run.y.shape == run.keras.shape == run.firmware.shape
    assert any("pooling" in note for note in run.notes)
    assert run.hls_config["Model"]["Precision"] == "fixed<12,5>"
    with pytest.raises(api.ToolkitError, match="no output 'energy'.*logits"):
        run.output("energy")


def test_run_directory_reads_back_and_feeds_the_other_commands(trained, tmp_path):
    _, _, _, _, run = trained
    again = api.load_run(run.path)
    assert again.result == run.result and np.array_equal(again.firmware, run.firmware)
    totals = api.resources(run.path)
    assert (totals["lut"], totals["dsp"]) == (run.result["lut"], run.result["dsp"])
    assert totals["resource_source"] == "analytic"
    hls_model = api.hls_model_of(run.path, tmp_path / "again")
    assert hls_model.config.get_output_dir() == str(tmp_path / "again" / "hls4ml_prj")
    with pytest.raises(api.ToolkitError, match="no result.json"):
        api.load_run(tmp_path)


def test_run_refuses_model_options_without_a_model(tmp_path):
    with pytest.raises(api.ToolkitError, match="go with model="):
        api.run(api.make_config(TOY), tmp_path / "out", hls_config=tmp_path / "x.yml")
    assert not (tmp_path / "out").exists()


def test_roc_overlay_draws_keras_solid_firmware_dashed_with_both_aucs():
    rng = np.random.default_rng(0)
    y = np.eye(3)[rng.integers(0, 3, 500)]
    keras = y + rng.normal(0, 0.8, y.shape)
    firmware = keras + rng.normal(0, 0.3, y.shape)
    fig = figures.roc_overlay(y, keras, firmware, ["a", "b", "c"])
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert [line.get_linestyle() for line in curves] == ["-", "--"] * 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for k, name in enumerate("abc"):
        truth = y[:, k] > 0.5
        assert f"{name}: AUC {roc_auc(truth, keras[:, k]):.4f} / {roc_auc(truth, firmware[:, k]):.4f}" in labels
    assert ax.get_yscale() == "log"


def test_weight_histograms_count_exact_zeros():
    from tensorflow import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="d")])
    kernel = np.arange(16, dtype=np.float32).reshape(4, 4) - 7.5
    kernel[:2] = 0.0  # half the weights pruned
    model.get_layer("d").set_weights([kernel, np.zeros(4, np.float32)])
    fig = figures.weight_histograms({"pruned": model})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["pruned (50% exactly 0)"]
