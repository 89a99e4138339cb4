"""One shape for every extension: a family from the test suite alone, the fix registry, the record."""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import pytest
import yaml

from deepsets_trigger import record, registry
from deepsets_trigger.cli import build_parser, main
from deepsets_trigger.convert.fixes import fixes
from deepsets_trigger.study import run_study
from tests import plugin_family
from tests.conftest import ROOT, read_result

FLAT = {
    "data": {"source": "toy", "n_samples": 800, "n_constituents": 4},
    "model": {"kind": "flat_mlp", "hidden": [16]},
    "train": {"epochs": 15, "batch_size": 64},
    "quantization": {"mode": "ptq", "precision": "ap_fixed<16,6>"},
}


@pytest.mark.slow
def test_a_family_from_the_test_suite_runs_through_run_study_and_diagnose(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(registry.PLUGINS_ENV, "tests.plugin_family")  # study workers load it from here
    plugin_family.register()
    config = tmp_path / "flat.yaml"
    config.write_text(yaml.safe_dump(FLAT))
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 0
    result = read_result(tmp_path / "run" / "result.json")
    assert result["model"] == "flat_mlp" and result["width"] == 16 and result["phi_widths"] is None
    # measured: accuracy 0.41 (5 classes: chance 0.2), logit agreement 0.994
    assert result["logit_agreement"] >= 0.98 and result["keras_accuracy"] > 0.3

    assert main(["diagnose", str(tmp_path / "run"), "--n-samples", "200"]) == 0
    diagnosis = read_result(tmp_path / "run" / "diagnosis.json")
    assert {r["keras_layer"] for r in diagnosis["layers"]} >= {"hidden_0", "logits"}

    summary = run_study({**FLAT, "grid": {"model.hidden": [[4], [6]]}}, tmp_path / "study", workers=2)
    assert (summary.ok, summary.failed) == (2, 0)
    with open(tmp_path / "study" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["width"]) for r in rows) == [4, 6] and {r["model"] for r in rows} == {"flat_mlp"}
    capsys.readouterr()


def test_every_fix_is_declared_and_in_the_readme_trap_table():
    registered = {f.name: f for f in fixes()}
    assert {"dropped_quantizers", "pooling_accumulator", "logits_type", "standalone_softmax"} <= set(registered)
    assert {"garnet_count_input", "garnet_quantized_transforms"} <= set(registered)  # the GarNet plugin's
    for fix in registered.values():
        assert fix.phase in ("keras", "weights", "config", "model") and fix.summary and fix.hls4ml == "1.3.0"
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## What the converter fixes")[1].split("\n## ")[0]
    named = set(re.findall(r"`([a-z_]+)`", table))
    assert set(registered) <= named, f"fixes missing from the README table: {set(registered) - named}"


# the contract of the issues that introduced them: never renamed
CSV_CONTRACT = (
    "point_id, model, mode, weight_bits, activation_bits, integer_bits, width, sparsity, reuse_factor, strategy, "
    "status, keras_accuracy, firmware_accuracy, accuracy_ratio, logit_agreement, max_abs_logit_diff, lut, ff, dsp, "
    "bram, latency_cycles, ii, bops, resource_source, train_s, convert_s, compile_s, predict_s, error"
)
RESULT_CONTRACT = (
    "model mode weight_bits activation_bits integer_bits phi_widths rho_widths aggregation n_constituents sparsity "
    "backend strategy reuse_factor keras_accuracy firmware_accuracy accuracy_ratio logit_agreement max_abs_logit_diff "
    "auc_keras auc_firmware n_test timings status error lut ff dsp bram latency_cycles ii bops resource_source "
    "prob_agreement max_abs_prob_diff prob_ties target_sparsity emulation_samples_per_s config_hash "
    "resolution_keras resolution_firmware max_abs_output_diff outputs expected_max_abs_diff expected_mean_abs_diff "
    "expected_agreement reuse_factors input_saturated_fraction null_reasons"
)
CLI_CONTRACT = {
    "run": "--out --model --weights --hls-config --inputs --expected --set --trust-custom-layers",
    "study": "--out --workers --scheduler --resume --retry-failed --point-timeout --set",
    "diagnose": "--model --weights --hls-config --n-samples --inputs --out --advise --target-ratio",
    "resources": "--source --json --compare-published",
    "data jets": "--n-jets --out --seed --workers --pt-min --pt-max",
    "data calo": "--n-events --out --particles --pileup --e-min --e-max --seed",
    "data tracks": "--n-events --out --pileup --seed",
    "graphs": "--config --out",
}


def _options(parser, path: str) -> set[str]:
    for name in path.split():
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return {opt for a in parser._actions for opt in a.option_strings}


def test_contract_names_are_unchanged():
    assert list(record.CSV_COLUMNS[: len(CSV_CONTRACT.split(", "))]) == CSV_CONTRACT.split(", ")
    assert set(RESULT_CONTRACT.split()) <= set(record.BY_NAME)
    parser = build_parser()
    for command, flags in CLI_CONTRACT.items():
        assert set(flags.split()) <= _options(parser, command), command


def test_modules_and_functions_stay_readable():
    too_long = []
    for path in sorted([*ROOT.glob("deepsets_trigger/**/*.py"), *ROOT.glob("gnn_keras/**/*.py")]):
        rel = str(path.relative_to(ROOT))
        source = path.read_text()
        if len(source.splitlines()) > 400:
            too_long.append(f"{rel}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60:
                too_long.append(f"{rel}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "split these where a reader would: " + "; ".join(too_long)


def test_record_fields_are_documented():
    assert all(f.meaning for f in record.FIELDS)
    assert len(record.BY_NAME) == len(record.FIELDS)
    assert Path(ROOT / "deepsets_trigger" / "record.py").is_file()
