"""The committed tutorial notebooks: public API only, run top to bottom, outputs kept (no kernel needed).

Executing them is CI's job (``scripts/run_notebooks.py --fresh`` in ``.ci/run``); these checks
keep the committed copies honest between runs.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
PUBLIC = {"deepsets_trigger.api", "deepsets_trigger.figures"}


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_the_public_api(path):
    for cell in _code_cells(path):
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom) and node.module in {"deepsets_trigger", "gnn_keras"}:
                names = {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = {node.module} if isinstance(node, ast.ImportFrom) else {a.name for a in node.names}
            else:
                continue
            toolkit = {n for n in names if n and n.split(".")[0] in {"deepsets_trigger", "gnn_keras"}}
            assert toolkit <= PUBLIC, f"{path.name}: {sorted(toolkit - PUBLIC)} is not the public API"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_was_run_top_to_bottom_and_kept_its_outputs(path):
    cells = _code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: not executed in order ({counts})"
    outputs = [o for c in cells for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no plot"
    assert any("text/markdown" in o.get("data", {}) for o in outputs), f"{path.name} states no computed result"
