"""Grid studies: the CSV contract, resume after kill -9, failure isolation, Dask, reports."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from deepsets_trigger.cli import main
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.study import CSV_COLUMNS, expand, load_results, run_study
from deepsets_trigger.study.runner import CRASH_HOOK
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

STUDY = {
    "data": {"source": "toy", "n_samples": 1200, "n_constituents": 8},
    "model": {"phi": [8, 8], "rho": [8]},
    "train": {"epochs": 4, "batch_size": 64},
    "quantization": {"mode": "ptq"},
    "grid": [
        {"model.phi_width": [8, 16], "quantization.mode": ["ptq"], "quantization.bits": [6, 12]},
        {"model.phi_width": [8, 16], "quantization.mode": ["qat"], "quantization.bits": [6]},
    ],
}
CONTRACT_HEADER = (
    "point_id, model, mode, weight_bits, activation_bits, integer_bits, width, sparsity, reuse_factor, strategy, "
    "status, keras_accuracy, firmware_accuracy, accuracy_ratio, logit_agreement, max_abs_logit_diff, lut, ff, dsp, "
    "bram, latency_cycles, ii, bops, resource_source, train_s, convert_s, compile_s, predict_s, error"
)


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _db(path):
    with sqlite3.connect(path) as db:
        return {
            pid: (status, result) for pid, status, result in db.execute("SELECT point_id, status, result FROM points")
        }


@pytest.fixture(scope="session")
def study6(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "s6"
    summary = run_study(STUDY, out, workers=2)
    return summary, out


def test_six_point_study_writes_the_contract(study6):
    summary, out = study6
    assert (summary.total, summary.ok, summary.failed) == (6, 6, 0)
    with open(out / "results.csv") as f:
        header = f.readline().strip().split(",")
    assert header == [c.strip() for c in CONTRACT_HEADER.split(",")] + ["emulator"] == list(CSV_COLUMNS)
    rows = _csv(out / "results.csv")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    assert sorted((r["mode"], r["width"], r["weight_bits"]) for r in rows) == sorted(
        [("ptq", w, b) for w in ("8", "16") for b in ("6", "12")] + [("qat", w, "6") for w in ("8", "16")]
    )
    qat = [r for r in rows if r["mode"] == "qat"]
    assert all(float(r["logit_agreement"]) == 1.0 for r in qat)
    assert {r["resource_source"] for r in rows} == {"analytic"}
    assert all(int(r["latency_cycles"]) > 0 and float(r["bops"]) > 0 and r["lut"] for r in rows)


def test_one_training_per_architecture_and_bit_configuration(study6):
    _, out = study6
    rows = _csv(out / "results.csv")
    trained = [r for r in rows if float(r["train_s"]) > 0]
    # 2 widths × (one float model for both PTQ precisions + one QAT model)
    assert len(list((out / "models").iterdir())) == 4
    assert len(trained) == 4
    df = load_results(out)
    assert list(df.columns) == list(CSV_COLUMNS) and len(df) == 6


def test_report_plots_match_the_csv(study6):
    from deepsets_trigger.report import make_report, plot_accuracy_vs_bits, plot_ratio_heatmap

    _, out = study6
    report = make_report(out)
    text = report.read_text()
    for name in ("accuracy_vs_bits", "ratio_heatmap", "roc", "resources_vs_bits", "latency_vs_bits", "pareto"):
        for suffix in ("png", "pdf"):
            assert (out / "plots" / f"{name}.{suffix}").stat().st_size > 5000
        assert f"plots/{name}.png" in text
    assert "not drawn" not in text and "Resource source: analytic" in text
    df = load_results(out)
    fig = plot_accuracy_vs_bits(df)
    lines = {line.get_gid(): line for line in fig.axes[0].lines}
    for row in df.itertuples():
        for kind, value in (("firmware", row.firmware_accuracy), ("keras", row.keras_accuracy)):
            line = lines[f"{kind}|{row.mode}|{row.width}"]
            x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
            assert y[x == row.weight_bits].tolist() == [value]
    from deepsets_trigger.report import pareto_front, plot_pareto

    front = next(line for line in plot_pareto(df).axes[0].lines if line.get_gid() == "pareto")
    ok = df[df["status"] == "ok"]
    idx = pareto_front(ok["lut"].to_numpy(float), ok["firmware_accuracy"].to_numpy(float))
    assert list(front.get_xdata()) == list(ok["lut"].to_numpy(float)[idx])
    heat = plot_ratio_heatmap(df)
    for image in (im for ax in heat.axes for im in ax.images):
        mode = image.get_gid().split("|")[1]
        expected = df[df["mode"] == mode].pivot_table(index="width", columns="weight_bits", values="accuracy_ratio")
        np.testing.assert_array_equal(np.asarray(image.get_array()), expected.values)


def _study_in_background(tmp_path, name: str, min_ok: int) -> tuple[subprocess.Popen, object, object, dict]:
    """Start ``study`` in a subprocess (1 worker) and wait until ``min_ok`` points are ok."""
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    out = tmp_path / name
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepsets_trigger", "study", str(config), "--out", str(out), "--workers", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.stderr", "w"),  # a file: an unread pipe could block the study
        start_new_session=True,
    )
    deadline = time.monotonic() + 400
    finished: dict = {}
    while time.monotonic() < deadline:
        time.sleep(1)
        if (out / "results.sqlite").exists():
            finished = {k: v for k, v in _db(out / "results.sqlite").items() if v[0] == "ok"}
            if len(finished) >= min_ok:
                break
    return proc, config, out, finished


def test_kill_9_then_resume(tmp_path):
    proc, config, out, before = _study_in_background(tmp_path, "killed", min_ok=2)
    os.kill(proc.pid, signal.SIGKILL)  # the study process only; its worker notices and exits
    proc.wait()
    assert 2 <= len(before) < 6, "the study finished or stalled before it could be killed"
    mid = _db(out / "results.sqlite")
    assert {pid: v for pid, v in mid.items() if v[0] == "ok"} == before

    assert main(["study", str(config), "--out", str(out), "--resume", "--workers", "2"]) == 0
    after = _db(out / "results.sqlite")
    rows = _csv(out / "results.csv")
    assert len(after) == 6 and len(rows) == 6 and len({r["point_id"] for r in rows}) == 6
    assert all(status == "ok" for status, _ in after.values())
    for pid, (_, result) in before.items():  # finished before the kill: not re-run
        assert after[pid][1] == result


def test_a_failing_point_is_one_failed_row(tmp_path):
    raw = {**STUDY, "grid": {"quantization.precision": ["ap_fixed<12,5>", "ap_fixed<4,8>", "ap_fixed<10,4>"]}}
    summary = run_study(raw, tmp_path / "s", workers=2)
    rows = _csv(tmp_path / "s" / "results.csv")
    assert (summary.ok, summary.failed) == (2, 1)
    bad = [r for r in rows if r["status"] == "failed"]
    assert len(bad) == 1 and "more integer bits (8) than total bits (4)" in bad[0]["error"]
    assert len(list((tmp_path / "s" / "models").iterdir())) == 1  # one float model served both good points


def test_timeout_and_segfault_become_failed_rows(tmp_path, monkeypatch):
    raw = {**STUDY, "grid": {"quantization.bits": [8, 10]}}
    crash = expand(raw)[1].point_id
    monkeypatch.setenv(CRASH_HOOK, crash)
    summary = run_study(raw, tmp_path / "crash", workers=2)
    rows = {r["point_id"]: r for r in _csv(tmp_path / "crash" / "results.csv")}
    assert summary.failed == 1 and rows[crash]["error"] == "the worker process died from signal SIGSEGV"
    assert [r["status"] for pid, r in rows.items() if pid != crash] == ["ok"]
    monkeypatch.delenv(CRASH_HOOK)
    summary = run_study(raw, tmp_path / "slow", workers=2, point_timeout=0.5)
    rows = _csv(tmp_path / "slow" / "results.csv")
    assert summary.failed == 2 and all(r["error"].startswith("timeout: the point ran longer than 0.5 s") for r in rows)


def test_dask_local_cluster_gives_the_same_rows(study6, tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    _, local_out = study6
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = run_study(STUDY, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert summary.ok == 6
    local = {r["point_id"]: r for r in _csv(local_out / "results.csv")}
    remote = {r["point_id"]: r for r in _csv(tmp_path / "dask" / "results.csv")}
    assert local.keys() == remote.keys()
    for pid, row in remote.items():
        for column in (
            "keras_accuracy",
            "firmware_accuracy",
            "accuracy_ratio",
            "logit_agreement",
            "max_abs_logit_diff",
        ):
            assert float(row[column]) == pytest.approx(float(local[pid][column]), abs=1e-9), (pid, column)


def test_ctrl_c_keeps_finished_points_and_requeues_running(tmp_path):
    proc, _, out, _ = _study_in_background(tmp_path, "interrupted", min_ok=1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode == 130, (tmp_path / "interrupted.stderr").read_text()
    statuses = [v[0] for v in _db(out / "results.sqlite").values()]
    assert "running" not in statuses and statuses.count("ok") >= 1
    assert len(_csv(out / "results.csv")) == 6


@pytest.mark.parametrize(
    "grid, fragment",
    [
        ({"model.phi_widht": [8]}, "unknown key path 'model.phi_widht'"),
        ({"quantization.bits": []}, "quantization.bits has an empty list"),
        ({"quantization": [{"mode": "qat"}]}, "'quantization' is a whole section"),
        ({"quantization.bits": 6}, "must map to a list"),
    ],
)
def test_bad_grids_fail_before_writing(tmp_path, capsys, grid, fragment):
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({**STUDY, "grid": grid}))
    assert main(["study", str(config), "--out", str(tmp_path / "out")]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unwritable_out_and_incompatible_store(tmp_path, capsys):
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    assert main(["study", str(config), "--out", "/proc/deepsets-trigger-test/out"]) == 2
    assert "choose a writable location" in capsys.readouterr().err

    out = tmp_path / "old"
    out.mkdir()
    with sqlite3.connect(out / "results.sqlite") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    digest = hashlib.sha256((out / "results.sqlite").read_bytes()).hexdigest()
    assert main(["study", str(config), "--out", str(out), "--resume"]) == 2
    assert "incompatible version" in capsys.readouterr().err
    assert hashlib.sha256((out / "results.sqlite").read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in out.iterdir()) == ["results.sqlite"]
    assert main(["study", str(config), "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_expand_grid_union_and_exclude():
    raw = {
        "grid": [
            {
                "quantization.mode": ["ptq"],
                "quantization.bits": [4, 8],
                "model.phi_width": [8, 16],
                "exclude": [{"quantization.bits": 4, "model.phi_width": 16}],
            },
            {"quantization.mode": ["qat"], "quantization.bits": [4]},
        ]
    }
    points = expand(raw)
    assert [(p.config.quantization.mode, p.config.quantization.bits, p.config.model.phi[0]) for p in points] == [
        ("ptq", 4, 8),
        ("ptq", 8, 8),
        ("ptq", 8, 16),
        ("qat", 4, 32),
    ]
    assert points[0].train_hash == points[1].train_hash != points[2].train_hash
    with pytest.raises(ToolkitError, match="every combination is excluded"):
        expand({"grid": {"quantization.bits": [4], "exclude": [{"quantization.bits": 4}]}})
    assert json.dumps(points[0].assignment)
