"""Execute the tutorial notebooks top to bottom and time them (``make notebooks``, CI).

    python scripts/run_notebooks.py                 # every notebooks/*.ipynb, outputs written back
    python scripts/run_notebooks.py --fresh         # CI: execute fresh copies, the committed files untouched
    python scripts/run_notebooks.py notebooks/02_precision.ipynb

Each notebook runs in its own kernel (this interpreter's ipykernel) with ``notebooks/`` as the
working directory; a cell that raises stops that notebook and makes the exit code 1. Prints the
wall time per notebook, and a closing ``N passed, M failed`` line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path, write: bool, timeout: int) -> tuple[bool, float, str]:
    """Run one notebook; return (ok, wall seconds, the error's last line)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
        ok, error = True, ""
    except CellExecutionError as exc:
        ok, error = False, re.sub(r"\x1b\[[0-9;]*m", "", str(exc).strip().splitlines()[-1])  # no terminal colours
    wall = time.perf_counter() - start
    if write and ok:
        nbformat.write(nb, path)
    return ok, wall, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--fresh", action="store_true", help="do not write the outputs back (CI)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the kernels inherit it: no TensorFlow start-up chatter
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    failed = 0
    total = time.perf_counter()
    for path in paths:
        ok, wall, error = execute(path.resolve(), not args.fresh, args.timeout)
        failed += not ok
        print(f"{'ok    ' if ok else 'FAILED'} {path.name:<40} {wall:6.1f} s  {error}", flush=True)
    print(f"notebooks: {time.perf_counter() - total:.0f} s in all")
    print(f"{len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
