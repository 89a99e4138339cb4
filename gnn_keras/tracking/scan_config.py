"""``GRAPHS.yaml`` validated: the builder settings a scan measures, one row each.

The keys and their meaning are in :mod:`gnn_keras.tracking.scan`. A row's id hashes its builder
setting with the settings every row is measured under (reference graph, pT threshold, sectors), so
a resumed scan recognises the rows it already has.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from deepsets_trigger.data.arrays import as_list
from deepsets_trigger.errors import ToolkitError
from gnn_keras.tracking.builders import BuilderSpec, builder_spec
from gnn_keras.tracking.trackml import find_events

_SCAN_KEYS = {"builders", "reference", "pt_min", "sectors", "train_fraction"}


@dataclass
class ScanConfig:
    """A validated ``GRAPHS.yaml``."""

    rows: list[BuilderSpec]
    reference: BuilderSpec
    pt_min: float = 0.0
    sectors: int = 16
    train_fraction: float = 0.5
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_training(self) -> bool:
        return any(r.builder == "module_map" and r["train"] is None for r in self.rows)

    def row_id(self, spec: BuilderSpec) -> str:
        from deepsets_trigger.config import stable_hash

        return stable_hash(
            {
                "spec": spec.as_dict(),
                "reference": self.reference.as_dict(),
                "pt_min": self.pt_min,
                "sectors": self.sectors,
            }
        )


def scan_config(raw: Any) -> ScanConfig:
    """Validate a ``GRAPHS.yaml`` mapping (see the module docstring).

    Raises:
        ToolkitError: unknown keys or builders, bad parameter values (k ≤ 0, ε ≤ 0, …).
    """
    if not isinstance(raw, dict):
        raise ToolkitError("GRAPHS.yaml must be a mapping with a 'builders' list.")
    unknown = sorted(set(raw) - _SCAN_KEYS)
    if unknown:
        raise ToolkitError(f"GRAPHS.yaml: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_SCAN_KEYS))}.")
    entries = raw.get("builders")
    if not isinstance(entries, list) or not entries:
        raise ToolkitError(
            "GRAPHS.yaml needs 'builders:', a list such as [{builder: knn, k: [2, 4]}, {builder: pattern}]."
        )
    rows: list[BuilderSpec] = []
    for entry in entries:
        if not isinstance(entry, dict) or "builder" not in entry:
            raise ToolkitError(f"GRAPHS.yaml builders: each entry is a mapping with a 'builder' name, got {entry!r}.")
        name = entry["builder"]
        params = {k: as_list(v) for k, v in entry.items() if k != "builder"}
        if any(len(v) == 0 for v in params.values()):
            raise ToolkitError(f"GRAPHS.yaml builder {name}: a parameter list is empty; give at least one value.")
        for combo in itertools.product(*params.values()):
            spec = builder_spec(name, **dict(zip(params, combo, strict=True)))
            if spec not in rows:
                rows.append(spec)
    ref_raw = raw.get("reference", {"builder": "knn", "k": 4})
    if not isinstance(ref_raw, dict) or ref_raw.get("builder", "knn") != "knn":
        raise ToolkitError("GRAPHS.yaml reference: must be a k-NN graph, e.g. {builder: knn, k: 4}.")
    reference = builder_spec("knn", **{k: v for k, v in ref_raw.items() if k != "builder"})
    pt_min = raw.get("pt_min", 0.0)
    if isinstance(pt_min, bool) or not isinstance(pt_min, (int, float)) or pt_min < 0:
        raise ToolkitError(f"GRAPHS.yaml pt_min must be a number ≥ 0 (GeV), got {pt_min!r}.")
    sectors = raw.get("sectors", 16)
    if isinstance(sectors, bool) or not isinstance(sectors, int) or sectors < 1:
        raise ToolkitError(f"GRAPHS.yaml sectors must be a positive integer, got {sectors!r}.")
    fraction = raw.get("train_fraction", 0.5)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ToolkitError(f"GRAPHS.yaml train_fraction must be in (0, 1), got {fraction!r}.")
    for spec in rows:
        if spec.builder == "module_map" and spec["train"] is not None:
            find_events([spec["train"]])  # a bad path fails before anything is written
    return ScanConfig(rows, reference, float(pt_min), sectors, float(fraction), raw)


__all__ = ["ScanConfig", "scan_config"]
