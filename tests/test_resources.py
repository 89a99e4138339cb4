"""Resources: real synthesis reports to exact numbers, and the analytic model's behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepsets_trigger.cli import main
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output
from deepsets_trigger.resources import estimate, ingest_reports
from deepsets_trigger.resources.reports import parse_csynth_rpt, parse_csynth_xml, parse_vivado_synth
from tests.conftest import read_result, shared_path

REPORTS = {
    # directory: (C synthesis lut, ff, dsp, bram, latency, ii), (Vivado synthesis lut, ff, dsp, bram)
    "hls4ml_test_vivado": ((2532, 7969, 73, 0, 10, 8), (1526, 2428, 66, 0)),
    "tutorial_pruned_cnn": ((245466, 52549, 5414, 100, 1044, 1028), (123948, 43435, 5386, 42)),
    "tutorial_quantized_pruned_cnn": ((263280, 43847, 340, 100, 1044, 1028), (118931, 30702, 353, 34)),
}
KEYS = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii")


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_real_report_parses_to_its_numbers(name):
    directory = shared_path("synthesis_reports", name)
    csynth, synth = REPORTS[name]
    record = ingest_reports(directory)
    assert tuple(record[k] for k in KEYS) == csynth and record["resource_source"] == "vivado"
    assert tuple(record["implementation"][k] for k in ("lut", "ff", "dsp", "bram")) == synth
    assert tuple(parse_csynth_rpt(next(directory.glob("*_csynth.rpt")))[k] for k in KEYS) == csynth
    for xml in directory.glob("*_csynth.xml"):
        assert tuple(parse_csynth_xml(xml)[k] for k in KEYS) == csynth


def test_truncated_or_foreign_reports_are_refused(tmp_path, capsys):
    source = shared_path("synthesis_reports", "hls4ml_test_vivado")
    text = (source / "myproject_csynth.rpt").read_text()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "myproject_csynth.rpt").write_text(text[:1500])  # before the summaries
    with pytest.raises(ToolkitError, match="looks truncated"):
        ingest_reports(tmp_path / "cut")
    xml = (source / "myproject_csynth.xml").read_text()
    (tmp_path / "cutxml").mkdir()
    (tmp_path / "cutxml" / "myproject_csynth.xml").write_text(xml[: len(xml) // 2])
    with pytest.raises(ToolkitError, match="truncated"):
        ingest_reports(tmp_path / "cutxml")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "quartus_csynth.rpt").write_text("Quartus Prime Fitter report\n")
    assert main(["resources", str(tmp_path / "foreign")]) == 2
    assert "not a Vivado/Vitis HLS synthesis report" in capsys.readouterr().err
    (tmp_path / "synth.rpt").write_text("random text")
    with pytest.raises(ToolkitError, match="not a Vivado utilisation report"):
        parse_vivado_synth(tmp_path / "synth.rpt")
    assert main(["resources", str(tmp_path / "nothing-here")]) == 2


def _dense(tmp_path, precision="ap_fixed<16,6>", io_type="io_parallel", strategy="Latency", rf=1, prune=0.0):
    import hls4ml
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(5, input_shape=(16,), activation="relu")])
    if prune:
        kernel, bias = model.layers[0].get_weights()
        kernel.ravel()[: int(prune * kernel.size)] = 0.0
        model.layers[0].set_weights([kernel, bias])
    with captured_output(tmp_path / "hls4ml.log"):
        config = hls4ml.utils.config_from_keras_model(model, granularity="model", default_precision=precision)
        config["Model"].update(Strategy=strategy, ReuseFactor=rf)
        return hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=config,
            io_type=io_type,
            backend="Vivado",
            output_dir=str(tmp_path / f"p{rf}{strategy}"),
            part="xc7z020clg400-1",
            clock_period=5,
        )


def test_calibration_against_the_real_report(tmp_path):
    """The report's model, rebuilt: DSP and latency within 15 % (measured +10 % each)."""
    est = estimate(_dense(tmp_path, io_type="io_stream"))
    assert abs(est["dsp"] - 73) / 73 <= 0.15, est["dsp"]
    assert abs(est["latency_cycles"] - 10) / 10 <= 0.15, est["latency_cycles"]
    assert (est["dsp"], est["latency_cycles"]) == (80, 11)  # the docstring's numbers
    assert abs(est["lut"] - 1526) / 1526 <= 0.15 and abs(est["ff"] - 2428) / 2428 <= 0.15  # vs Vivado synthesis


def test_estimates_respond_like_the_hardware(tmp_path):
    wide = estimate(_dense(tmp_path))
    narrow = estimate(_dense(tmp_path, precision="ap_fixed<8,3>"))
    assert wide["dsp"] == 80 and narrow["dsp"] == 0 and narrow["lut"] > wide["lut"] / 4
    by_rf = {rf: estimate(_dense(tmp_path, rf=rf)) for rf in (1, 2, 4)}
    assert [by_rf[rf]["dsp"] for rf in (1, 2, 4)] == [80, 40, 20]
    assert by_rf[4]["ii"] == 4 and by_rf[4]["latency_cycles"] > by_rf[1]["latency_cycles"]
    assert estimate(_dense(tmp_path, rf=4, strategy="Latency"))["bram"] == 0
    assert estimate(_dense(tmp_path, rf=4, strategy="Resource"))["bram"] > 0
    pruned = estimate(_dense(tmp_path, prune=0.5))
    dense_row = next(r for r in pruned["layers"] if r["class"] == "Dense")
    assert dense_row["multipliers"] == 40 and pruned["dsp"] == 40
    assert pruned["bops"] < wide["bops"]


def test_unsupported_layers_are_not_estimated(tmp_path):
    import hls4ml
    import tensorflow as tf

    model = tf.keras.Sequential(
        [tf.keras.layers.Conv2D(2, 3, input_shape=(6, 6, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)]
    )
    with captured_output(tmp_path / "log"):
        config = hls4ml.utils.config_from_keras_model(model, granularity="model")
        hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=config, output_dir=str(tmp_path / "c"))
    est = estimate(hls_model)
    assert est["not_estimated"] and all(est[k] is None for k in ("lut", "dsp", "latency_cycles"))
    assert any(r.get("estimate") == "not estimated" for r in est["layers"])


@pytest.mark.slow
def test_resources_command_on_a_run(tmp_path, capsys):
    import yaml

    cfg = {
        "data": {"source": "toy", "n_samples": 600},
        "model": {"phi": [8, 8], "rho": [8]},
        "train": {"epochs": 2},
        "quantization": {"mode": "ptq", "precision": "ap_fixed<12,5>"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")]) == 0
    result = read_result(tmp_path / "run" / "result.json")
    assert result["resource_source"] == "analytic" and result["dsp"] > 0 and result["bops"] > 0
    capsys.readouterr()
    assert main(["resources", str(tmp_path / "run"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"lut", "ff", "dsp", "bram", "latency_cycles", "ii", "bops", "resource_source", "layers"}
    assert record["dsp"] == result["dsp"] and np.isclose(record["bops"], result["bops"])
    assert main(["resources", str(tmp_path / "run"), "--source", "yosys"]) == 2
    assert "yosys tier" in capsys.readouterr().err
