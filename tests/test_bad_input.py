"""The bad-input corpus: every case is exit 2, one line on stderr without a traceback, and no new files.

Each case names the defect it covers (D-numbers of the reliability issue). Inputs live in a shared
read-only workspace ``W``; outputs go to a fresh directory ``T`` per case; both are compared before
and after. Cases that must succeed assert their result further below.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from deepsets_trigger.study.store import ResultStore
from tests.conftest import read_result

GOOD = {
    "data": {"source": "toy", "n_samples": 600, "n_constituents": 4},
    "model": {"phi": [4], "rho": [4]},
    "train": {"epochs": 1, "batch_size": 64},
    "quantization": {"mode": "qat", "bits": 6},
}


def _yaml(path: Path, raw: object) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("inputs"))


def make_workspace(w: Path) -> Path:
    """Every input file the cases need, written once into ``w``."""
    from tensorflow import keras

    _yaml(w / "good.yaml", GOOD)
    _yaml(w / "study.yaml", {**GOOD, "grid": {"quantization.bits": [4, 6]}})
    (w / "broken.yaml").write_text("data: {source: toy\nmodel: [")
    (w / "dupes.yaml").write_text("train: {epochs: 3}\ntrain: {epochs: 4}\n")
    _yaml(w / "toplevel.yaml", {**GOOD, "dat": {}})
    _yaml(w / "epochs0.yaml", {**GOOD, "train": {"epochs": 0}})
    np.save(w / "empty.npy", np.zeros((0, 4, 3), np.float32))
    np.save(w / "strings.npy", np.array([["a", "b"]]))
    np.save(w / "x.npy", np.random.default_rng(0).normal(size=(40, 4, 3)).astype(np.float32))
    np.save(w / "y_one_class.npy", np.zeros(40, np.int64))
    np.save(w / "y.npy", np.arange(40) % 2)
    _yaml(w / "npy_empty.yaml", {**GOOD, "data": {"source": "npy", "x": str(w / "empty.npy"), "y": str(w / "y.npy")}})
    _yaml(
        w / "npy_strings.yaml", {**GOOD, "data": {"source": "npy", "x": str(w / "strings.npy"), "y": str(w / "y.npy")}}
    )
    _yaml(
        w / "one_class.yaml",
        {
            **GOOD,
            "data": {"source": "npy", "x": str(w / "x.npy"), "y": str(w / "y_one_class.npy"), "n_constituents": 4},
        },
    )
    (w / "empty.txt").write_text("")
    (w / "nan_rows.txt").write_text("1 2 3\nnan 1 2\n")
    (w / "rows3.txt").write_text("1 2 3\n4 5 6\n")
    (w / "expected_bad_columns.txt").write_text("0.1 0.2 0.7\n0.2 0.2 0.6\n")
    (w / "expected_nan.txt").write_text("0.5 0.5\nnan 0.5\n")
    (w / "a_file").write_text("x")
    (w / "victim.txt").write_text("precious")
    (w / "adir").mkdir()
    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="dense")(inputs)).save(w / "m.h5")
    with h5py.File(w / "nokeys.h5", "w") as f:
        f.create_dataset("other", data=np.zeros(3))
    for name, hls in {
        "bogus_strategy.yml": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Bogus"}},
        "unknown_model_key.yml": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactr": 1}},
        "rf0.yml": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 0}},
        "missing_layer.yml": {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": {"dense_9": {"ReuseFactor": 1}}},
        "bad_precision.yml": {"Model": {"Precision": "ap_fixd<16,6>"}},
    }.items():
        _yaml(w / name, hls)
    (w / "python_tag.yml").write_text(f"Model: !!python/object/apply:os.system ['touch {w / 'pwned'}']\n")
    run = w / "run"  # a run directory with damaged files
    run.mkdir()
    _yaml(run / "config.yaml", GOOD)
    (run / "model.h5").write_bytes((w / "m.h5").read_bytes())
    (run / "hls4ml_config.yml").write_text("Model: {Precision: [")
    (run / "resources.json").write_text('{"lut": 12, "ff"')
    (w / "garbage_study").mkdir()
    (w / "garbage_study" / "results.sqlite").write_bytes(b"not a database at all" * 100)
    (w / "foreign_sqlite").mkdir()
    with sqlite3.connect(w / "foreign_sqlite" / "results.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    other = w / "other_study"
    other.mkdir()
    ResultStore(other / "results.sqlite").close()
    with sqlite3.connect(other / "results.sqlite") as db:  # a study started with another config
        db.execute("INSERT INTO meta VALUES ('study_hash', ?)", ("0" * 16,))
    return w


CASES = [
    # (id, argv with {W} inputs and {T} outputs, fragment of the one-line error)
    ("D6 empty .npy", "run {W}/npy_empty.yaml --out {T}/o", "is empty"),
    ("D6 string .npy", "run {W}/npy_strings.yaml --out {T}/o", "not numbers"),
    ("D6 --set broken list", "run {W}/good.yaml --out {T}/o --set model.phi=[8,", "not valid YAML"),
    (
        "D6 --set into a value",
        "run {W}/good.yaml --out {T}/o --set hls.reuse_factor=2 --set hls.reuse_factor.x=3",
        "is a value, not a section",
    ),
    ("D6 --out in /proc", "run {W}/good.yaml --out /proc/x", "writable"),
    ("D6 --out under a file", "run {W}/good.yaml --out {W}/a_file/sub", "is a file"),
    ("D6 data plot --out a file", "data plot {W}/nokeys.h5 --out {W}/a_file", "is a file"),
    ("D6 data calo --out /proc", "data calo --n-events 10 --out /proc/x.h5", "writable"),
    ("D6 --pileup inf", "data calo --n-events 10 --pileup inf --out {T}/c.h5", "finite"),
    ("D6 --n-events huge", "data calo --n-events 1000000000000 --out {T}/c.h5", "--n-events must be between"),
    ("D6 truncated resources.json", "resources {W}/run", "not readable JSON"),
    ("D6 diagnose --out a file", "diagnose {W}/run --out {W}/a_file", "is a file"),
    ("D6 corrupt hls4ml_config.yml", "diagnose {W}/run --out {T}/d", "not valid YAML"),
    ("D6 empty --inputs", "run --model {W}/m.h5 --inputs {W}/empty.txt --out {T}/o", "holds no values"),
    ("D6 --scheduler not a url", "study {W}/study.yaml --out {T}/s --scheduler notaurl", "tcp://HOST:PORT"),
    (
        "D7 --expected columns",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --expected {W}/expected_bad_columns.txt --out {T}/o",
        "3 column(s) but the model's output has 2",
    ),
    (
        "D4 NaN --expected",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --expected {W}/expected_nan.txt --out {T}/o",
        "NaN",
    ),
    ("D4 NaN --inputs, 1-D input", "run --model {W}/m.h5 --inputs {W}/nan_rows.txt --out {T}/o", "NaN"),
    ("D4 learning rate NaN", "run {W}/good.yaml --out {T}/o --set train.learning_rate=.nan", "not a finite number"),
    ("D4 clock period NaN", "run {W}/good.yaml --out {T}/o --set hls.clock_period=.nan", "not a finite number"),
    ("D4 --pileup nan", "data calo --n-events 10 --pileup nan --out {T}/c.h5", "finite"),
    ("D4 one class", "run {W}/one_class.yaml --out {T}/o", "one class only"),
    (
        "D9 Strategy Bogus",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/bogus_strategy.yml --out {T}/o",
        "Strategy 'Bogus'",
    ),
    (
        "D9 unknown Model key",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/unknown_model_key.yml --out {T}/o",
        "Model.ReuseFactr",
    ),
    (
        "D9 LayerName missing layer",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/missing_layer.yml --out {T}/o",
        "LayerName.dense_9 names no layer",
    ),
    (
        "D9 ReuseFactor 0",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/rf0.yml --out {T}/o",
        "ReuseFactor must be a whole number",
    ),
    (
        "D9 bad precision",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/bad_precision.yml --out {T}/o",
        "cannot read 'ap_fixd<16,6>'",
    ),
    (
        "!!python tag",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --hls-config {W}/python_tag.yml --out {T}/o",
        "not valid YAML",
    ),
    ("D10 data plot no keys", "data plot {W}/nokeys.h5 --out {T}/pl3", "neither a jet file"),
    (
        "D10 unreachable scheduler",
        "study {W}/study.yaml --out {T}/s --scheduler tcp://127.0.0.1:1",
        "cannot reach the Dask scheduler",
    ),
    ("D11 directory as config", "run {W}/adir --out {T}/o", "is a directory"),
    ("D11 directory as --inputs", "run --model {W}/m.h5 --inputs {W}/adir --out {T}/o", "is a directory"),
    ("D11 directory as --model", "run --model {W}/adir --inputs {W}/rows3.txt --out {T}/o", "is a directory"),
    ("D11 malformed YAML", "run {W}/broken.yaml --out {T}/o", "line 2, column 6"),
    ("D11 garbage results.sqlite", "study {W}/study.yaml --out {W}/garbage_study --resume", "not a results store"),
    ("D11 foreign SQLite", "study {W}/study.yaml --out {W}/foreign_sqlite --resume", "not a deepsets-trigger"),
    ("D11 unknown top-level key", "run {W}/toplevel.yaml --out {T}/o", "unknown top-level section 'dat'"),
    ("D11 key path in messages", "run {W}/epochs0.yaml --out {T}/o", "train.epochs must be positive"),
    ("D11 --resume, changed config", "study {W}/study.yaml --out {W}/other_study --resume", "differs from the one"),
    ("D12 data calo over a user file", "data calo --n-events 10 --out {W}/victim.txt", "not written by deepsets"),
    ("D12 --particles e,e", "data calo --n-events 10 --particles e,e --out {T}/c.h5", "lists a particle twice"),
    ("D12 --retry-failed alone", "study {W}/study.yaml --out {T}/s --retry-failed", "add --resume"),
    ("D12 duplicate YAML keys", "run {W}/dupes.yaml --out {T}/o", "duplicate key 'train'"),
    ("missing config", "run {W}/nothing.yaml --out {T}/o", "does not exist"),
    ("--set without =", "run {W}/good.yaml --out {T}/o --set epochs", "KEY=VALUE"),
    ("--n-jets 0", "data jets --n-jets 0 --out {T}/j.h5", "--n-jets must be between"),
    ("JSON model without weights", "run --model {W}/m.json --inputs {W}/rows3.txt --out {T}/o", "--weights"),
    ("unknown particle", "data calo --n-events 10 --particles e,muon --out {T}/c.h5", "unknown particle 'muon'"),
    ("--point-timeout -1", "study {W}/study.yaml --out {T}/s --point-timeout -1", "--point-timeout"),
    ("--workers 0", "study {W}/study.yaml --out {T}/s --workers 0", "--workers must be at least 1"),
    ("missing run dir", "diagnose {W}/no_run --out {T}/d", "not a directory"),
    ("missing resources dir", "resources {W}/no_such_dir", "not a directory"),
    ("study --out is a file", "study {W}/study.yaml --out {W}/a_file", "is a file"),
    (
        "--trust-custom-layers bad module",
        "run --model {W}/m.h5 --inputs {W}/rows3.txt --out {T}/o --trust-custom-layers no_such_module_xyz",
        "cannot be imported",
    ),
]


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else -1 for p in root.rglob("*")}


@pytest.mark.parametrize("case, argv, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workspace, tmp_path, capsys, case, argv, fragment):
    before = _tree(workspace)
    code = main(argv.format(W=workspace, T=tmp_path).split())
    err = capsys.readouterr().err
    assert code == 2, f"{case}: exit {code}, stderr: {err}"
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err
    assert _tree(workspace) == before, "an input was changed or a file was added next to it"
    assert not list(tmp_path.iterdir()), f"files were written: {list(tmp_path.iterdir())}"
    assert not (workspace / "pwned").exists()


def test_corpus_covers_the_issue():
    assert len(CASES) >= 40
    defects = {case.split()[0] for case, _, _ in CASES if case.startswith("D")}
    assert defects == {"D4", "D6", "D7", "D9", "D10", "D11", "D12"}


@pytest.mark.slow
def test_what_must_succeed_records_honestly(workspace, tmp_path, capsys):
    """A diverging training is a failed point with its reason; undefined AUCs are null with a reason."""
    out = tmp_path / "diverged"
    config = _yaml(tmp_path / "float.yaml", {**GOOD, "quantization": {"mode": "float"}})
    assert main(["run", str(config), "--out", str(out), "--set", "train.learning_rate=1e30"]) == 1
    result = read_result(out / "result.json")
    assert result["status"] == "failed" and "training diverged" in result["error"]
    assert not (out / "model.h5").exists()

    x = np.random.default_rng(1).normal(size=(30, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    ext = tmp_path / "ext"
    assert (
        main(["run", "--model", str(workspace / "m.h5"), "--inputs", str(tmp_path / "x.npy"), "--out", str(ext)]) == 0
    )
    result = read_result(ext / "result.json")
    assert result["reuse_factors"] == {"dense": 1}
    assert result["input_saturated_fraction"] == 0.0
    capsys.readouterr()

    big = tmp_path / "big.npy"
    np.save(big, (x * 100).astype(np.float32))  # ±300 into ap_fixed<16,6> (±32)
    sat = tmp_path / "sat"
    assert main(["run", "--model", str(workspace / "m.h5"), "--inputs", str(big), "--out", str(sat)]) == 0
    result = read_result(sat / "result.json")
    expected = float(np.mean(np.abs(x * 100) > 31.999))
    assert result["input_saturated_fraction"] == pytest.approx(expected) and expected > 0.5
    assert any("normalisation" in note for note in result["conversion_notes"])


def test_undefined_numbers_are_null_with_a_reason(tmp_path):
    from deepsets_trigger.evaluate import per_class_auc
    from deepsets_trigger.pipeline.record import write_result as _write_result

    y = np.eye(3)[[0, 0, 1, 1]]  # class 2 absent from the test samples
    auc = per_class_auc(y, np.random.default_rng(0).random((4, 3)), ("a", "b", "c"))
    _write_result(tmp_path, {"auc_keras": auc, "resolution_keras": float("inf"), "status": "ok"})
    result = read_result(tmp_path / "result.json")
    assert result["auc_keras"]["c"] is None and result["resolution_keras"] is None
    assert result["auc_keras"]["a"] == auc["a"]
    assert set(result["null_reasons"]) == {"auc_keras.c", "resolution_keras"}
    assert "no sample of this class" in result["null_reasons"]["auc_keras.c"]
