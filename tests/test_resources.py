"""Resources: real synthesis reports to exact numbers, and the analytic model's behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepsets_trigger.cli import main
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import captured_output
from deepsets_trigger.resources import estimate, ingest_reports
from deepsets_trigger.resources.analytic import csd_digits, part_family
from deepsets_trigger.resources.published import PUBLISHED, RESIDUALS, relative_error
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
    """The report's model, rebuilt: DSP, latency, and LUT/FF after Vivado synthesis within 15 %."""
    est = estimate(_dense(tmp_path, io_type="io_stream"))
    measured = {k: est[k] for k in ("dsp", "latency_cycles", "lut", "ff")}
    assert measured == {"dsp": 70, "latency_cycles": 9, "lut": 1373, "ff": 2512}  # the residual table's numbers
    assert abs(relative_error(est["dsp"], 73)) <= 0.15 and abs(relative_error(est["latency_cycles"], 10)) <= 0.15
    assert abs(relative_error(est["lut"], 1526)) <= 0.15 and abs(relative_error(est["ff"], 2428)) <= 0.15


def test_estimates_respond_like_the_hardware(tmp_path):
    wide = estimate(_dense(tmp_path))
    narrow = estimate(_dense(tmp_path, precision="ap_fixed<8,3>"))
    assert wide["dsp"] == 70 and narrow["dsp"] == 0 and narrow["lut"] > wide["lut"] / 4
    by_rf = {rf: estimate(_dense(tmp_path, rf=rf)) for rf in (1, 2, 4)}
    assert [by_rf[rf]["dsp"] for rf in (1, 2, 4)] == [70, 35, 18]  # ⌈70/RF⌉: DSP ∝ 1/RF
    assert by_rf[4]["ii"] == 4 and by_rf[4]["latency_cycles"] > by_rf[1]["latency_cycles"]
    assert estimate(_dense(tmp_path, rf=4, strategy="Latency"))["bram"] == 0
    assert estimate(_dense(tmp_path, rf=4, strategy="Resource"))["bram"] > 0
    pruned = estimate(_dense(tmp_path, prune=0.5))
    rows = {r["class"]: r for r in wide["layers"]}, {r["class"]: r for r in pruned["layers"]}
    assert rows[0]["Dense"]["multiplications"] == 80 and rows[1]["Dense"]["multiplications"] == 40
    # half the non-zero weights: half the multipliers (± the constants that happen to be shifts)
    assert abs(rows[1]["Dense"]["multipliers"] / rows[0]["Dense"]["multipliers"] - 0.5) < 0.05
    assert pruned["bops"] < wide["bops"]


def test_csd_digits_and_part_families():
    assert [csd_digits(v) for v in (0, 1, 2, 3, 7, -7, 23, 85, -128)] == [0, 1, 1, 2, 2, 2, 3, 4, 1]
    assert part_family("xcvu13p-flga2577-2-e").dsp == "DSP48E2" and part_family("xc7z020clg400-1").dsp == "DSP48E1"
    assert part_family("xcvc1902-vsva2197-2MP-e-S").dsp == "DSP58"


@pytest.fixture(scope="module")
def published_estimates(tmp_path_factory):
    """The published DeepSets (8, 16, 32 constituents) converted with hls4ml 1.3.0 and estimated."""
    from deepsets_trigger.resources.published import convert_published

    out = tmp_path_factory.mktemp("published")
    return {n: estimate(convert_published(p, out / str(n), out / "log")) for n, p in PUBLISHED.items()}


def test_published_configurations(published_estimates):
    """Latency within 25 %; II, DSP and LUT within the residuals the README states, and why."""
    errors = {key: {} for key in ("latency_cycles", "ii", "dsp", "lut")}
    for n, point in PUBLISHED.items():
        est = published_estimates[n]
        reference = {"latency_cycles": point.latency_cycles, "ii": point.ii, "dsp": point.dsp, "lut": point.lut}
        for key, ref in reference.items():
            errors[key][n] = relative_error(est[key], ref)
    assert all(abs(e) <= 0.25 for e in errors["latency_cycles"].values())  # measured +11 %, −9 %, −15 %
    assert errors["ii"][8] == errors["ii"][16] == 0  # both II 3: the softmax's dual-port exp table
    assert all(abs(errors[k][n]) <= 0.10 for k in ("dsp", "lut") for n in (8, 16))  # measured ≤ 10 %
    # 32 constituents at RF 8: hls4ml 1.0's pointwise code shared multipliers 2:1 (limit N²·n·m/RF³ per
    # copy), hls4ml 1.3.0's BatchedDenseForConv1D does not (limit N²·n·m/RF): more LUTs, II 3 not 2
    assert errors["ii"][32] == 0.5 and 0.6 < errors["lut"][32] < 0.8 and 0.2 < errors["dsp"][32] < 0.4
    dense = {"latency_cycles": -0.1, "dsp": relative_error(70, 73), "lut": relative_error(1373, 1526)}
    for key, values in errors.items():
        worst = max(abs(e) for e in [*values.values(), dense.get(key, 0.0)])
        assert RESIDUALS[key]["max_rel"] == round(worst, 2), (key, worst)
    assert RESIDUALS["ff"]["max_rel"] == round(abs(relative_error(2512, 2428)), 2)
    rows = {r["layer"]: r for r in published_estimates[8]["layers"]}
    assert rows["phi2"]["kernel"] == "batched_pointwise" and rows["phi2"]["dsp"] == 0 and rows["rho"]["dsp"] > 0


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


def _run_dir(tmp_path, **changes):
    """A run directory as ``run`` writes it, for a QAT DeepSets like the published one."""
    import yaml

    result = {
        "model": "deepsets",
        "phi_widths": [32, 32, 32],
        "rho_widths": [32],
        "aggregation": "mean",
        "weight_bits": 8,
        "activation_bits": 8,
        "backend": "Vitis",
        "strategy": "Latency",
        "reuse_factor": 2,
        "n_constituents": 8,
        **changes,
    }
    resources = {"lut": 401_000, "ff": 37_000, "dsp": 560, "bram": 0, "latency_cycles": 21, "ii": 3, "bops": 1e7}
    resources |= {"resource_source": "analytic", "layers": []}
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({**result, **resources}))
    (run / "resources.json").write_text(json.dumps(resources))
    hls = {"backend": "Vitis", "part": "xcvu13p-flga2577-2-e", "clock_period": 5.0}
    quantization = {"input_precision": "ap_fixed<12,4,AP_RND,AP_SAT>"}
    (run / "config.yaml").write_text(yaml.safe_dump({"hls": hls, "quantization": quantization}))
    return run


def test_compare_published_names_the_match_or_the_differences(tmp_path, capsys):
    run = _run_dir(tmp_path)
    assert main(["resources", str(run), "--compare-published"]) == 0
    out = capsys.readouterr().out
    assert "total (analytic): lut=401000 (±70 % over 4 points)" in out and "bram=0 (uncalibrated)" in out
    assert "latency_cycles=21 (±15 % over 4 points)" in out and "ff=37000 (±3 % over 1 point)" in out
    assert "matches: 8 constituents, RF 2" in out
    row = next(line for line in out.splitlines() if line.startswith("dsp"))
    assert row.split()[:5] == ["dsp", "560", "analytic", "626", "-11"]
    other = _run_dir(tmp_path / "o", phi_widths=[8, 8], reuse_factor=1)
    assert main(["resources", str(other), "--compare-published"]) == 0
    out = capsys.readouterr().out
    assert "does not match a published configuration" in out and "phi_widths [8, 8]" in out
    assert "reuse_factor 1 (published 2)" in out


def test_distributed_arithmetic_rules_are_checked_with_the_config(tmp_path, capsys):
    import yaml

    from deepsets_trigger.config import config_from_dict

    ok = config_from_dict({"quantization": {"mode": "qat"}, "hls": {"strategy": "distributed_arithmetic"}})
    assert ok.hls.strategy == "distributed_arithmetic"
    bad = {
        "needs hls.reuse_factor 1": {"quantization": {"mode": "qat"}, "hls": {"reuse_factor": 2}},
        "needs a quantization-aware model": {"quantization": {"mode": "ptq"}},
        "mode float": {"quantization": {"mode": "float"}},
        "model.kind garnet": {"data": {"source": "calo"}, "model": {"kind": "garnet"}, "quantization": {"mode": "qat"}},
    }
    for message, raw in bad.items():
        raw.setdefault("hls", {})["strategy"] = "distributed_arithmetic"
        with pytest.raises(ToolkitError, match=message):
            config_from_dict(raw)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(bad["needs hls.reuse_factor 1"]))
    assert main(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "distributed_arithmetic needs hls.reuse_factor 1" in err[0]
    assert not (tmp_path / "out").exists()


def test_distributed_arithmetic_refuses_a_float_model_at_conversion(tmp_path):
    """``run --model`` with a float model: the mode is known only at conversion, refused there."""
    import tensorflow as tf

    from deepsets_trigger.config import HLSSettings
    from deepsets_trigger.convert import convert
    from deepsets_trigger.precision import parse_precision

    model = tf.keras.Sequential([tf.keras.layers.Dense(5, input_shape=(16,))])
    hls = HLSSettings(strategy="distributed_arithmetic")
    with pytest.raises(ToolkitError, match="quantization-aware model .* got mode ptq"):
        convert(model, hls, tmp_path / "p", mode="ptq", default_precision=parse_precision("ap_fixed<16,6>"))
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_strategy_study_latency_resource_distributed_arithmetic(tmp_path):
    """Six points (three strategies × two bit widths): all ok, QAT logits bit-exact, sources, plots."""
    import shutil

    from deepsets_trigger.report import plot_latency_vs_bits, plot_resources_vs_bits
    from deepsets_trigger.study import load_results, run_study

    raw = {
        "data": {"source": "toy", "n_samples": 300, "n_constituents": 8, "cache_dir": str(tmp_path / "cache")},
        "model": {"phi": [4, 4], "rho": [4]},
        "train": {"epochs": 1, "batch_size": 64},
        "quantization": {"mode": "qat", "input_precision": "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"},
        "grid": {"hls.strategy": ["Latency", "Resource", "distributed_arithmetic"], "quantization.bits": [4, 6]},
    }
    summary = run_study(raw, tmp_path / "study", workers=2)
    assert (summary.total, summary.ok, summary.failed) == (6, 6, 0)
    df = load_results(tmp_path / "study")
    assert (df["max_abs_logit_diff"] == 0).all() and (df["logit_agreement"] == 1.0).all()
    da_source = "yosys" if shutil.which("yosys") else "da4ml"
    expected = {"Latency": "analytic", "Resource": "analytic", "distributed_arithmetic": da_source}
    assert {s: set(g["resource_source"]) for s, g in df.groupby("strategy")} == {k: {v} for k, v in expected.items()}
    assert (df["lut"] > 0).all() and (df["latency_cycles"] > 0).all() and (df["ii"] >= 1).all()
    da = df[df["strategy"] == "distributed_arithmetic"].set_index("weight_bits")
    latency = df[df["strategy"] == "Latency"].set_index("weight_bits")
    # no multipliers in DA logic: its only DSPs are the softmax's products, as in the Latency point
    assert (da["dsp"] == latency["dsp"]).all() and (da["dsp"] == 5).all() and (da["bram"] == 0).all()
    # every constituent in parallel (ParallelizationFactor 8): the interval is the softmax's ⌈5/2⌉, not 8 × RF
    assert set(df[df["strategy"] == "Latency"]["ii"]) == {3}
    fig = plot_resources_vs_bits(df)
    gids = {line.get_gid() for ax in fig.axes for line in ax.lines}
    strategies = {gid.split("|")[2]: gid.split("|")[5] for gid in gids if gid.startswith("resources|lut|")}
    assert strategies == expected
    latency = {line.get_gid().split("|")[1] for line in plot_latency_vs_bits(df).axes[0].lines}
    assert latency == set(expected)
