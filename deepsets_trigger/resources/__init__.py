"""Resource and latency numbers: analytic estimates and real synthesis reports.

Every record carries ``resource_source`` (``analytic`` | ``yosys`` | ``vivado``) next to
``lut, ff, dsp, bram, latency_cycles, ii, bops`` so a table never mixes sources silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import read_json
from deepsets_trigger.model_files import load_keras_model
from deepsets_trigger.resources.analytic import estimate
from deepsets_trigger.resources.reports import ingest_reports
from deepsets_trigger.resources.yosys import run_record

__all__ = ["TOTALS", "estimate", "ingest_reports", "resources_of"]

TOTALS = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii", "bops", "resource_source")


def resources_of(path: str | Path, source: str | None = None) -> dict[str, Any]:
    """Resources of a ``run`` output directory (analytic) or of a directory of synthesis reports."""
    path = Path(path)
    if not path.is_dir():
        raise ToolkitError(f"{path} is not a directory: pass a run output directory or a directory of reports.")
    is_run = (path / "resources.json").is_file()
    if source == "vivado" or (source is None and not is_run):
        return ingest_reports(path)
    if not is_run:
        raise ToolkitError(f"{path} holds no resources.json: pass a directory written by 'deepsets-trigger run'.")

    analytic = read_json(path / "resources.json", "the run's")
    if source != "yosys":
        return analytic
    if (path / "resources_yosys.json").is_file():
        return read_json(path / "resources_yosys.json", "the run's")

    return run_record(load_keras_model(path / "model.h5"), path, analytic)
