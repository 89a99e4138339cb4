"""What a point writes besides the firmware: its record, config and model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsets_trigger import registry
from deepsets_trigger.config import Config
from deepsets_trigger.data import Dataset
from deepsets_trigger.io import (
    non_finite_paths,
    write_json,
    write_text_atomic,
)
from deepsets_trigger.pipeline.inputs import External, Timer, UserHLS
from deepsets_trigger.quantize import Precision, firmware_precision
from deepsets_trigger.train import TrainingFailed


def describe(
    cfg: Config,
    external: External | None,
    precision: Precision,
    data: Dataset | None,
    hls_user: UserHLS | None,
) -> dict[str, Any]:
    x0 = data.x_test[0] if data is not None else None
    user_strategy = (hls_user.config.get("Model") or {}).get("Strategy") if hls_user else None
    family = registry.family(cfg.model.kind) if external is None else None
    architecture = family.describe(cfg) if family is not None and family.describe is not None else {}
    return {
        "model": cfg.model.kind if external is None else Path(external.model).name,
        "config_hash": cfg.point_hash(),
        "mode": precision.mode,
        "precision": precision.default.ap() if precision.mode != "qat" else None,
        "weight_bits": precision.weight_bits,
        "activation_bits": precision.activation_bits,
        "integer_bits": precision.integer_bits,
        "phi_widths": None,
        "rho_widths": None,
        "aggregation": None,
        "width": None,
        **architecture,
        "n_constituents": int(x0.shape[1]) if x0 is not None and x0.ndim == 3 else None,
        "sparsity": None,
        "target_sparsity": cfg.pruning.sparsity if external is None else None,
        "backend": cfg.hls.backend,
        "strategy": str(user_strategy or cfg.hls.strategy),
        "reuse_factor": cfg.hls.reuse_factor,
        "n_test": int(len(x0)) if x0 is not None else 0,
        "keras_accuracy": None,
        "firmware_accuracy": None,
        "accuracy_ratio": None,
        "logit_agreement": None,
        "max_abs_logit_diff": None,
        "auc_keras": None,
        "auc_firmware": None,
    }


def write_result(stage: Path, result: dict[str, Any]) -> None:
    """``result.json`` in strict JSON: undefined numbers are null, and ``null_reasons`` says why."""
    undefined = non_finite_paths(result)
    if undefined:
        result["null_reasons"] = {path: _null_reason(path) for path in undefined}
    write_json(stage / "result.json", result)


def _null_reason(path: str) -> str:
    if path.startswith("auc_"):
        return "AUC undefined: the test samples hold no sample of this class, or only this class"
    return "not a finite number (NaN or infinite)"


def training_failed(cfg: Config, stage: Path, timer: Timer, exc: TrainingFailed) -> dict[str, Any]:
    """A training that diverged is a failed point with its reason (no model to convert)."""
    precision = firmware_precision(cfg.quantization)
    result = {**describe(cfg, None, precision, None, None), "timings": timer.timings}
    result["status"], result["error"] = "failed", str(exc)
    write_config(stage / "config.yaml", cfg)
    write_json(stage / "history.json", exc.history)
    write_result(stage, result)
    return result


def write_config(path: Path, cfg: Config) -> None:
    import yaml

    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
