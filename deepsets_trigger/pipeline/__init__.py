"""One grid point, top to bottom: data → model → train → convert → evaluate → record.

A point never knows it is part of a study. :func:`run_point` writes into ``out``:
``result.json`` (the record, :mod:`deepsets_trigger.record`), ``model.h5``, ``config.yaml``
(resolved), ``history.json``, ``hls4ml_config.yml`` (the final hls4ml config), ``hls4ml_prj/``,
``hls4ml.log``, ``resources.json``, ``predictions.npz`` (and ``resources_yosys.json`` + ``rtl/``
with the yosys tier). The model family (:mod:`deepsets_trigger.registry`) decides what the data
are, how the model is built and how its outputs are compared; this module never asks which
family it runs.
"""

from __future__ import annotations

import dataclasses
import os
import traceback
from pathlib import Path
from typing import Any

from deepsets_trigger.config import Config
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import staged_directory, write_json
from deepsets_trigger.model_files import save_model
from deepsets_trigger.pipeline.firmware import firmware_gap
from deepsets_trigger.pipeline.inputs import (
    External,
    Timer,
    UserHLS,
    check_synthesis_tool,
    model_and_data,
    point_precision,
    read_external_arrays,
    read_user_hls,
)
from deepsets_trigger.pipeline.record import describe, training_failed, write_config, write_result
from deepsets_trigger.train import TrainingFailed

__all__ = ["External", "UserHLS", "run_point"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_point(
    cfg: Config,
    out: str | Path,
    external: External | None = None,
    progress: bool = False,
    model_cache: str | Path | None = None,
) -> dict[str, Any]:
    """Run one point and write its directory; return the ``result.json`` payload.

    Args:
        cfg: the resolved config.
        out: the output directory (replaced only when this run finishes).
        external: an existing model (and its inputs, hls4ml YAML, expected outputs) instead of training.
        progress: show progress bars.
        model_cache: a directory of trained models by :meth:`Config.train_hash`; a model trained
            before for the same hash is loaded instead of trained again.

    Raises:
        ToolkitError: bad input (nothing written). A failure after the input was accepted (a
            diverging training, a g++ error) is recorded as ``status: failed``.
    """
    out = Path(out)
    hls_user = read_user_hls(external)
    if hls_user is not None:
        cfg = cfg.replace(hls=dataclasses.replace(cfg.hls, **hls_user.settings))
    check_synthesis_tool(cfg)
    arrays = read_external_arrays(external)  # a bad --inputs/--expected fails before any model loads
    with staged_directory(out) as stage:
        timer = Timer()
        try:
            model, data, history = model_and_data(cfg, external, timer, progress, model_cache, arrays)
        except TrainingFailed as exc:
            return training_failed(cfg, stage, timer, exc)
        precision = point_precision(cfg, model, external, hls_user)
        result = {**describe(cfg, external, precision, data, hls_user), "timings": timer.timings}
        save_model(model, stage / "model.h5")
        write_json(stage / "history.json", history)
        write_config(stage / "config.yaml", cfg)
        try:
            result.update(firmware_gap(cfg, model, data, precision, hls_user, external, stage, timer, arrays))
            result["status"], result["error"] = "ok", None
        except ToolkitError:
            raise
        except BaseException as exc:
            result["status"] = "failed"
            result["error"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            (stage / "error.txt").write_text(traceback.format_exc())
            write_result(stage, result)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return result
        write_result(stage, result)
    return result
