"""A study's unit of work: the points of one trained model, run in one worker process.

The model is trained (or loaded from the cache) once; two of its points — the narrowest
precision and one drawn with a seeded RNG — are compiled and check the firmware twin on all test
samples; only when both match the C++ bit for bit do the other points use the twin alone (a
conversion and a NumPy pass each, no g++). A mismatch, or a model the twin cannot mirror, sends
every point of the group to the C++, and the check that failed is kept in the verifying point's
record. ``hls.emulator: cpp`` compiles every point.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deepsets_trigger.quantize import firmware_precision, qat_widths
from deepsets_trigger.study.grid import Point

VERIFY_SEED = 0


@dataclass
class Task:
    """One point to run: its config (plain dict), output directory and model cache."""

    point_id: str
    config: dict[str, Any]
    out: str
    model_cache: str


@dataclass
class Group:
    """The points of one trained model, and those of them that verify the twin."""

    key: str
    tasks: list[Task]
    verify: tuple[str, ...] = field(default_factory=tuple)


def firmware_width(point: Point) -> int:
    """The width that makes a point 'narrow': QAT weight bits, or the PTQ default type's width."""
    q = point.config.quantization
    return qat_widths(q).B_H if q.mode == "qat" else firmware_precision(q).default.width


def verifiers(points: list[Point], key: str) -> tuple[str, ...]:
    """The narrowest point, and one more drawn with an RNG seeded by the group (reproducible)."""
    narrowest = min(points, key=firmware_width)
    others = [p for p in points if p.point_id != narrowest.point_id]
    chosen = [narrowest.point_id]
    if others:
        chosen.append(random.Random(f"{VERIFY_SEED}:{key}").choice(others).point_id)
    return tuple(chosen)


def plan_groups(points: list[Point], todo: set[str], out: Any) -> list[Group]:
    """One group per trained model, in grid order, with the points still to run."""
    by_key: dict[str, list[Point]] = {}
    for point in points:
        if point.point_id in todo and point.config is not None:
            by_key.setdefault(point.train_hash, []).append(point)
    groups = []
    for key, members in by_key.items():
        tasks = [
            Task(p.point_id, p.config.to_dict(), str(out / "points" / p.point_id), str(out / "models")) for p in members
        ]
        groups.append(Group(key, tasks, verifiers(members, key)))
    return groups


def regroup(group: Group, pending: list[Task]) -> Group:
    """What is left of a group whose worker died: the same points, verification chosen among them."""
    keep = [t for t in pending if t.point_id in group.verify]
    rest = [t for t in pending if t.point_id not in group.verify]
    verify = tuple(t.point_id for t in keep) or tuple(t.point_id for t in rest[:2])
    return Group(group.key, keep + rest, verify)


def run_group(
    group: Group,
    begin: Callable[..., Any],
    end: Callable[[Any], dict[str, Any]],
    started: Callable[[Task], None],
    finished: Callable[[Task, dict[str, Any]], None],
) -> None:
    """Run a group's points in this process (``begin(task, plan, verified_on)`` then ``end``).

    The verifying points' C++ builds run in the background while the other points go through the
    twin; their results are reported only once the verdict is in, and computed again with the
    C++ when the twin was not verified.
    """
    emulator = (group.tasks[0].config.get("hls") or {}).get("emulator", "auto")
    if emulator == "cpp":
        for task in group.tasks:
            started(task)
            finished(task, end(begin(task, "cpp")))
        return
    checks = [t for t in group.tasks if t.point_id in group.verify]
    pending = []
    for task in checks:
        started(task)
        pending.append((task, begin(task, "verify")))
    mirrored = all(getattr(handle, "twin_ready", lambda: False)() for _, handle in pending)
    speculative = []
    for task in (t for t in group.tasks if t.point_id not in group.verify):
        started(task)
        speculative.append((task, end(begin(task, "twin", group.verify)) if mirrored else None))
    failures = []
    for task, handle in pending:
        result = end(handle)
        failures += [reason for reason in [_verdict(task, result)] if reason]
        finished(task, result)
    for task, result in speculative:
        if failures or result is None:
            result = end(begin(task, "check"))
            result.setdefault("conversion_notes", []).append(f"the twin was not verified: {failures[0]}")
        finished(task, result)


def _verdict(task: Task, result: dict[str, Any]) -> str | None:
    """``None`` when the point verified the twin, else why not."""
    check = result.get("twin_check")
    if result.get("status") != "ok":
        return f"verifying point {task.point_id} failed ({result.get('error')}); the compiled C++ is used"
    if not check:
        notes = [n for n in result.get("conversion_notes") or [] if "twin" in n]
        return notes[0] if notes else f"point {task.point_id} has no twin check"
    if check["mismatched_samples"]:
        return (
            f"the twin disagrees with the C++ on point {task.point_id} ({check['mismatched_samples']} of "
            f"{check['samples']} samples, max |Δ| {check['max_abs_diff']:.3g}); the compiled C++ is used"
        )
    return None
