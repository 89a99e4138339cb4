"""Shared fixtures: paths to ../shared/data (skipped when absent) and compiled models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test saying why."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (it ships beside the repo only on the developers' machines)")
    return path


@pytest.fixture(scope="session")
def real_jets() -> tuple[Path, Path]:
    return shared_path("jets_l1jetid", "x_test_8const.npy"), shared_path("jets_l1jetid", "y_test.npy")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"result.json holds {name}, which strict JSON parsers reject")


def read_result(path: Path) -> dict:
    """A ``result.json`` parsed strictly: NaN/Infinity (which Python's json would accept) fail the test."""
    import json

    return json.loads(Path(path).read_text(), parse_constant=_refuse_constant)
