"""Grid expansion: a study config → its points.

``grid`` maps config key paths to lists of values; the study is their product. A list of
such mappings is the union of their products (PTQ and QAT usually want different bit
lists), and ``exclude: [{path: value, ...}]`` inside a mapping removes the combinations that
match. Points that resolve to the same config (same hash) are one point.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import typing
from dataclasses import dataclass
from typing import Any

from deepsets_trigger.config import SECTIONS, Config, config_from_dict, section_class, set_path, stable_hash
from deepsets_trigger.errors import ToolkitError


@dataclass(frozen=True)
class Point:
    """One point of a study: its grid assignment and resolved config, or why it is invalid.

    A value that fails validation in one point (``ap_fixed<4,8>`` among good precisions)
    makes that point a ``failed`` row with the reason; the rest of the study runs.
    """

    point_id: str
    assignment: dict[str, Any]
    config: Config | None
    error: str | None = None

    @property
    def train_hash(self) -> str | None:
        return self.config.train_hash() if self.config is not None else None


def check_key_path(path: str, base: dict[str, Any] | None = None) -> None:
    """Raise naming the valid keys when ``path`` (``section.key``) is not in the schema.

    ``model.*`` and ``data.*`` keys are those of the base config's family and source.
    """
    base = base or {}
    section, _, rest = path.partition(".")
    node: Any = Config
    walked = []
    if section in SECTIONS and rest:
        node = section_class(section, base.get(section))
        walked = [section]
        path_parts = rest.split(".")
    else:
        path_parts = path.split(".")
    for part in path_parts:
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else None
        if fields is None or part not in fields or part == "grid":
            valid = [n for n in (fields or {}) if n != "grid"]
            where = ".".join(walked) or "the config"
            raise ToolkitError(
                f"grid: unknown key path {path!r}: {part!r} is not a key of {where}; "
                f"valid keys there: {', '.join(valid)}."
            )
        walked.append(part)
        node = typing.get_type_hints(node)[part]
    if dataclasses.is_dataclass(node):
        raise ToolkitError(
            f"grid: {path!r} is a whole section; vary one of its keys, e.g. {path}.{dataclasses.fields(node)[0].name}."
        )


def _products(grid: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    grid = dict(grid)
    exclude = grid.pop("exclude", []) or []
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        raise ToolkitError(
            "grid.exclude must be a list of mappings, e.g. [{quantization.mode: ptq, model.phi_width: 8}]."
        )
    varies = {k.split(".")[0] for k in grid if k in ("model.kind", "data.source")}
    for path, values in grid.items():
        if path.split(".")[0] not in varies:  # a grid over families or sources: each point validates its keys
            check_key_path(path, base)
        if not isinstance(values, list):
            raise ToolkitError(f"grid: {path} must map to a list of values, got {values!r}.")
        if not values:
            raise ToolkitError(f"grid: {path} has an empty list; give at least one value or drop the key.")
    for rule in exclude:
        for path in rule:
            if path.split(".")[0] not in varies:
                check_key_path(path, base)
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    return [c for c in combos if not any(all(c.get(k) == v for k, v in rule.items()) for rule in exclude)]


def expand(raw: dict[str, Any]) -> list[Point]:
    """All points of the study config ``raw`` (a plain dict, e.g. parsed YAML), in grid order."""
    grid = raw.get("grid") or {}
    mappings = grid if isinstance(grid, list) else [grid]
    if not all(isinstance(m, dict) for m in mappings):
        raise ToolkitError("grid must be a mapping of key paths to lists, or a list of such mappings.")
    base = {k: v for k, v in raw.items() if k != "grid"}
    points: dict[str, Point] = {}
    for mapping in mappings:
        for assignment in _products(mapping, base) if mapping else [{}]:
            point_raw = copy.deepcopy(base)
            for path, value in assignment.items():
                set_path(point_raw, path, value)
            try:
                cfg = config_from_dict(point_raw)
            except ToolkitError as exc:
                if not assignment:
                    raise  # the base config itself is bad: nothing to run
                pid = stable_hash(point_raw)
                points.setdefault(pid, Point(pid, assignment, None, f"invalid point: {exc}"))
                continue
            points.setdefault(cfg.point_hash(), Point(cfg.point_hash(), assignment, cfg))
    if not points:
        raise ToolkitError("grid: every combination is excluded; the study has no points.")
    return list(points.values())
