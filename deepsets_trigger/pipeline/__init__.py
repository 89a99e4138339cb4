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

import contextlib
import dataclasses
import os
import traceback
from pathlib import Path
from typing import Any

from deepsets_trigger.config import Config
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import staged_directory, write_json
from deepsets_trigger.model_files import save_model
from deepsets_trigger.pipeline.emulation import default_plan
from deepsets_trigger.pipeline.firmware import firmware_finish, firmware_start
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

__all__ = ["External", "PointRun", "UserHLS", "run_point"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_point(
    cfg: Config,
    out: str | Path,
    external: External | None = None,
    progress: bool = False,
    model_cache: str | Path | None = None,
    plan: str | None = None,
    verified_on: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one point and write its directory; return the ``result.json`` payload.

    Args:
        cfg: the resolved config.
        out: the output directory (replaced only when this run finishes).
        external: an existing model (and its inputs, hls4ml YAML, expected outputs) instead of training.
        progress: show progress bars.
        model_cache: a directory of trained models by :meth:`Config.train_hash`; a model trained
            before for the same hash is loaded instead of trained again.
        plan: how the firmware is emulated (:mod:`deepsets_trigger.pipeline.emulation`); default from
            ``hls.emulator``. A study passes ``twin`` with the points that ``verified_on`` the twin.

    Raises:
        ToolkitError: bad input (nothing written). A failure after the input was accepted (a
            diverging training, a g++ error) is recorded as ``status: failed``.
    """
    point = PointRun(cfg, out, external, progress, model_cache, plan, verified_on)
    done = point.start()
    return done if done is not None else point.finish()


class PointRun:
    """One point in two steps, so a study can overlap a point's compile with other work.

    :meth:`start` does everything up to the emulation (data, model, conversion, resources) and
    starts the C++ build; :meth:`finish` waits for it, compares and writes the record. Between the
    two the point's staging directory stays open; :func:`run_point` calls both at once.
    """

    def __init__(
        self,
        cfg: Config,
        out: str | Path,
        external: External | None = None,
        progress: bool = False,
        model_cache: str | Path | None = None,
        plan: str | None = None,
        verified_on: tuple[str, ...] = (),
    ) -> None:
        self.out, self.external, self.progress, self.model_cache = Path(out), external, progress, model_cache
        self.hls_user = read_user_hls(external)
        if self.hls_user is not None:
            cfg = cfg.replace(hls=dataclasses.replace(cfg.hls, **self.hls_user.settings))
        check_synthesis_tool(cfg)
        self.cfg, self.plan, self.verified_on = cfg, plan or default_plan(cfg), verified_on
        self.arrays = read_external_arrays(external)  # a bad --inputs/--expected fails before any model loads
        self.stack = contextlib.ExitStack()
        self.timer = Timer()
        self.result: dict[str, Any] = {}
        self.state: Any = None

    def start(self) -> dict[str, Any] | None:
        """Up to the emulation; returns the record already when there is nothing to emulate (a failed training)."""
        self.stage = self.stack.enter_context(staged_directory(self.out))
        try:
            model, data, history = model_and_data(
                self.cfg, self.external, self.timer, self.progress, self.model_cache, self.arrays
            )
        except TrainingFailed as exc:
            result = training_failed(self.cfg, self.stage, self.timer, exc)
            self.stack.close()
            return result
        except BaseException as exc:
            self._exit(exc)
            raise
        precision = point_precision(self.cfg, model, self.external, self.hls_user, data)
        self.result = {
            **describe(self.cfg, self.external, precision, data, self.hls_user),
            "timings": self.timer.timings,
        }
        save_model(model, self.stage / "model.h5")
        write_json(self.stage / "history.json", history)
        write_config(self.stage / "config.yaml", self.cfg)
        try:
            self.state = firmware_start(
                self.cfg, model, data, precision, self.hls_user, self.stage, self.timer, self.plan
            )
        except BaseException as exc:
            return self._failed(exc)
        return None

    def twin_ready(self) -> bool:
        """Started, and the model's firmware twin could be built (it mirrors every layer)."""
        return self.state is not None and self.state.emulation.twin is not None

    def finish(self) -> dict[str, Any]:
        """Wait for the emulation, compare with Keras, write ``result.json`` and publish the directory."""
        try:
            self.result.update(firmware_finish(self.state, self.external, self.arrays))
            if self.plan == "twin":
                self.result["twin_check"] = {"verified_on": list(self.verified_on)}
            self.result["status"], self.result["error"] = "ok", None
        except BaseException as exc:
            return self._failed(exc)
        write_result(self.stage, self.result)
        self.stack.close()
        return self.result

    def _failed(self, exc: BaseException) -> dict[str, Any]:
        """A failure after the input was accepted is recorded; bad input and interrupts propagate."""
        if isinstance(exc, ToolkitError):
            self._exit(exc)
            raise exc
        self.result["status"] = "failed"
        self.result["error"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        (self.stage / "error.txt").write_text("".join(traceback.format_exception(exc)))
        write_result(self.stage, self.result)
        if isinstance(exc, KeyboardInterrupt):
            self._exit(exc)
            raise exc
        self.stack.close()
        return self.result

    def _exit(self, exc: BaseException) -> None:
        """Leave the staging directory the way an exception would (see :func:`staged_directory`)."""
        self.stack.__exit__(type(exc), exc, exc.__traceback__)
